package app_test

// Floors of the conformance scores (see conformance_test.go), measured on the
// peers' whole suites: every fail2ban filter in its normal mode, every
// sshguard case, every CrowdSec hub test of a text log a Linux host writes.
// They record the scores herd reached when they were last raised; a change
// that lowers a score below its floor, or flags more innocent lines, fails.
// The targets of issue 10 are 95% (fail2ban), 99% (sshguard) and 90%
// (crowdsec hub) with no false flags; what is not scored is listed, with its
// reason, in testdata/conformance-exclusions.tsv.
const (
	fail2banRecallFloor       = 0.977 // 755/772
	fail2banFalseFlagCeiling  = 0
	sshguardRecallFloor       = 0.994 // 176/177
	sshguardFalseFlagCeiling  = 0
	crowdsecRecallFloor       = 0.952 // 259/272
	crowdsecFalseAlertCeiling = 0
)
