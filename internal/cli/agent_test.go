package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecisionsCommands adds, lists and deletes a decision in the database
// a configuration file names.
func TestDecisionsCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("sources: []\ndatabase:\n  dsn: "+filepath.Join(dir, "herd.db")+"\nallow: [198.51.100.0/24]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "", "decisions", "add", "--config", cfg, "--ip", "192.0.2.7", "--duration", "2h", "--reason", "test")
	if code != ExitOK || !strings.Contains(out, "ban 192.0.2.7/32 for 2h0m0s added") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	if code, _, errs = run(t, "", "decisions", "add", "--config", cfg, "--range", "198.51.100.128/25"); code != ExitError || !strings.Contains(errs, "refused") {
		t.Errorf("add over the allowlist: %d %q", code, errs)
	}
	for _, args := range [][]string{
		{"--ip", "192.0.2.0/24"},
		{"--ip", "x"},
		{},
		{"--ip", "192.0.2.1", "--range", "192.0.2.0/24"},
		{"--ip", "192.0.2.1", "--duration", "-1h"},
	} {
		if code, _, errs := run(t, "", append([]string{"decisions", "add", "--config", cfg}, args...)...); code != ExitUsage {
			t.Errorf("add %v: exit %d, want %d (%s)", args, code, ExitUsage, errs)
		}
	}
	code, out, errs = run(t, "", "decisions", "list", "--config", cfg)
	if rows := tableRows(t, out, "ID", "SCOPE", "TYPE", "UNTIL", "ORIGIN", "REASON"); code != ExitOK || len(rows) != 1 || rows[0][1] != "192.0.2.7/32" || rows[0][2] != "ban" || rows[0][4] != "cli" || rows[0][5] != "test" {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	code, out, errs = run(t, "", "decisions", "delete", "--config", cfg, "--ip", "192.0.2.7")
	if code != ExitOK || !strings.Contains(out, "1 decision(s) on 192.0.2.7/32 deleted") {
		t.Fatalf("delete: %d %q %q", code, out, errs)
	}
	if _, out, _ = run(t, "", "decisions", "list", "--config", cfg); out != "no live decisions\n" {
		t.Errorf("list after delete: %q", out)
	}
}

// TestAgentBadConfig checks that a configuration that does not load stops
// the agent before it starts, naming the file and line.
func TestAgentBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "herd.yaml")
	if err := os.WriteFile(cfg, []byte("firewall:\n  enabled: true\n  tabel: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "", "agent", "--config", cfg)
	if code != ExitError || !strings.Contains(errs, cfg+":3:") || !strings.Contains(errs, `unknown key "tabel"`) {
		t.Errorf("agent with a bad config: %d %q", code, errs)
	}
}

// TestAgentStdin pipes log lines to herd agent --stdin: the attacker is
// banned (printed, dry) and the command exits at the end of its input.
func TestAgentStdin(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("sources: []\ndatabase:\n  dsn: "+filepath.Join(dir, "herd.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 6 {
		in.WriteString("Failed password for root from 192.0.2.99 port 4000" + string(rune('0'+i)) + " ssh2\n")
	}
	code, out, errs := run(t, in.String(), "agent", "--config", cfg, "--dry-run", "--stdin", "--program", "sshd")
	if code != ExitOK || !strings.Contains(out, "ban 192.0.2.99/32 ") {
		t.Errorf("agent --stdin: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, "", "agent", "--config", cfg, "--program", "sshd"); code != ExitUsage || !strings.Contains(errs, "--program goes with --stdin") {
		t.Errorf("--program without --stdin: %d %q", code, errs)
	}
}

// An old log piped to agent --stdin yields bans that ended long ago: each
// is logged as invalid with the reason, never silently.
func TestAgentStdinOldLogSaysWhy(t *testing.T) {
	var in strings.Builder
	for i := range 6 {
		in.WriteString("2020-01-05T10:00:0" + string(rune('0'+i)) + "+00:00 web1 sshd[12]: Failed password for root from 192.0.2.99 port 4000" + string(rune('0'+i)) + " ssh2\n")
	}
	code, _, errs := run(t, in.String(), "agent", "--config", testConfig(t), "--dry-run", "--stdin")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var line string
	for l := range strings.Lines(errs) {
		if strings.Contains(l, "msg=decision ") {
			line = l
		}
	}
	if !strings.Contains(line, "result=invalid") || !strings.Contains(line, `reason="expired before it was applied: until 2020-01-05T14:00:05Z`) {
		t.Errorf("decision log line %q lacks the reason; stderr:\n%s", line, errs)
	}
}
