package app_test

// Floors of the conformance scores (see conformance_test.go). They record the
// scores herd reached when they were last raised; a change that lowers a score
// below its floor fails. The targets are 99% (fail2ban, sshguard) and
// 95% (crowdsec hub) with no false flags.
const (
	fail2banRecallFloor       = 0.0
	fail2banFalseFlagCeiling  = 1000
	sshguardRecallFloor       = 0.0
	sshguardFalseFlagCeiling  = 1000
	crowdsecRecallFloor       = 0.0
	crowdsecFalseAlertCeiling = 1000
)
