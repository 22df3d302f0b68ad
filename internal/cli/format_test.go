package cli

import (
	"strings"
	"testing"
)

// TestExplainFormat: explain names the format it read each input as, says
// why a continuation line was not parsed, and obeys --format.
func TestExplainFormat(t *testing.T) {
	in := "2026/11/22 09:00:00 [error] 7#7: *1 FastCGI sent in stderr: \"PHP message: x\n" +
		"Nov 22 09:00:01 web1 sshd[100]: Failed password for root from 203.0.113.66 port 4242 ssh2\n" +
		"\" while reading response header from upstream, client: 192.0.2.50, server: s\n"
	code, out, errOut := run(t, in, "explain", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"# -: format nginx-error (detected)\n", "-:2: not parsed: continuation"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "source=203.0.113.66") {
		t.Errorf("the continuation was parsed:\n%s", out)
	}
	// Forced, the same input is read as syslog: line 2 is then a record.
	code, out, _ = run(t, in, "explain", "--format", "syslog", "-")
	if code != ExitOK || !strings.Contains(out, "# -: format syslog (configured)\n") || !strings.Contains(out, "source=203.0.113.66") {
		t.Errorf("--format syslog: exit %d:\n%s", code, out)
	}
	code, _, errOut = run(t, in, "replay", "--format", "nginx", "-")
	if code != ExitUsage || !strings.Contains(errOut, `unknown format "nginx"`) {
		t.Errorf("--format nginx: exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, in, "replay", "-")
	if code != ExitOK || !strings.Contains(errOut, "herd replay: -: format nginx-error (detected)") || !strings.Contains(errOut, "2 continuation lines") {
		t.Errorf("replay summary: exit %d: %s", code, errOut)
	}
}
