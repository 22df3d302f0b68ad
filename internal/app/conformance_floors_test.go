package app_test

// Floors of the conformance scores (see conformance_test.go). They record the
// scores herd reached when they were last raised; a change that lowers a score
// below its floor, or flags more innocent lines, fails. The targets
// are 99% (fail2ban, sshguard) and 95% (crowdsec hub) with no false flags;
// where herd stays below them, the closing notes and docs/rules.md say why
// (suites that contradict each other, host names herd never resolves,
// thresholds that protect users who mistype).
const (
	fail2banRecallFloor       = 0.889 // 420/472
	fail2banFalseFlagCeiling  = 6
	sshguardRecallFloor       = 0.981 // 107/109
	sshguardFalseFlagCeiling  = 0
	crowdsecRecallFloor       = 0.81 // 39/48
	crowdsecFalseAlertCeiling = 0
)
