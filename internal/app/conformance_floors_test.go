package app_test

// Floors of the conformance scores (see conformance_test.go). They record the
// scores herd reached when they were last raised; a change that lowers a score
// below its floor, or flags more innocent lines, fails. The targets
// are 99% (fail2ban, sshguard) and 95% (crowdsec hub) with no false flags;
// where herd stays below them, the closing notes and docs/rules.md say why
// (suites that contradict each other, host names herd never resolves,
// thresholds that protect users who mistype).
const (
	fail2banRecallFloor      = 0.889 // 420/472
	fail2banFalseFlagCeiling = 6
	// 105/109: sshguard counts a 401 naming no user (cases 489, 556: "GET /
	// HTTP/1.1" 401) as an attack; a browser's first request to a
	// basic-auth site gets exactly that, so herd counts only 401s naming a
	// user or answering a POST (issue 10, "never ban the benign"). Those
	// two cases belong in the exclusions as a contradiction.
	sshguardRecallFloor       = 0.963
	sshguardFalseFlagCeiling  = 0
	crowdsecRecallFloor       = 0.81 // 39/48
	crowdsecFalseAlertCeiling = 0
)
