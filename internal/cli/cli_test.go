package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

type alertJSON struct {
	Scenario string `json:"scenario"`
	Source   string `json:"source"`
	First    string `json:"first"`
	Last     string `json:"last"`
	Events   int    `json:"events"`
	Decision *struct {
		Type     string `json:"type"`
		Duration string `json:"duration"`
	} `json:"decision"`
}

func decodeAlerts(t *testing.T, out string) []alertJSON {
	t.Helper()
	var as []alertJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var a alertJSON
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("not one JSON object per line: %q: %v", line, err)
		}
		if dec.More() {
			t.Fatalf("more than one JSON value on a line: %q", line)
		}
		as = append(as, a)
	}
	return as
}

func bySource(as []alertJSON) map[string][]alertJSON {
	m := map[string][]alertJSON{}
	for _, a := range as {
		m[a.Source] = append(m[a.Source], a)
	}
	return m
}

// The README's tour replays examples/; what it promises is checked here.
func TestReplayExamplesAuthLog(t *testing.T) {
	code, out, errOut := run(t, "", "replay", "--json", filepath.Join("..", "..", "examples", "auth.log"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := bySource(decodeAlerts(t, out))
	for _, src := range []string{"203.0.113.45", "198.51.100.7", "2001:db8:bad::1"} {
		as := got[src]
		if len(as) == 0 {
			t.Errorf("no alert for attacker %s; alerts: %v", src, got)
			continue
		}
		if as[0].Decision == nil || as[0].Decision.Type != "ban" || as[0].Decision.Duration != "4h0m0s" {
			t.Errorf("%s: decision %+v, want a 4h ban", src, as[0].Decision)
		}
	}
	for _, innocent := range []string{"192.0.2.10", "10.9.9.9", "203.0.113.99"} {
		if len(got[innocent]) > 0 {
			t.Errorf("alert for %s, who must never be blamed: %+v", innocent, got[innocent])
		}
	}
	if !strings.Contains(errOut, "57 lines read") || !strings.Contains(errOut, "lines/s") {
		t.Errorf("summary on stderr lacks the counts: %q", errOut)
	}
}

func TestReplayExamplesAccessLog(t *testing.T) {
	code, out, errOut := run(t, "", "replay", "--json", filepath.Join("..", "..", "examples", "access.log"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := bySource(decodeAlerts(t, out))
	for _, src := range []string{"198.51.100.23", "203.0.113.80", "203.0.113.90", "2001:db8:1234::66"} {
		if len(got[src]) == 0 {
			t.Errorf("no alert for attacker %s; alerts: %v", src, got)
		}
	}
	for _, innocent := range []string{"192.0.2.50", "192.0.2.60"} {
		if len(got[innocent]) > 0 {
			t.Errorf("alert for %s (a visitor loading an app / a monitoring probe): %+v", innocent, got[innocent])
		}
	}
}

// Attacker-written text must never make herd blame another address.
func TestReplayHostileLinesNeverBlameInjectedAddress(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 50; i++ {
		in.WriteString("Nov 22 09:00:0" + string(rune('0'+i%10)) + " web1 sshd[100]: Failed password for invalid user x from 10.9.9.9 port 22 from 203.0.113.7 port 4242 ssh2\n")
		in.WriteString("Nov 22 09:00:0" + string(rune('0'+i%10)) + " web1 sshd[100]: Invalid user 10.9.9.8 from 203.0.113.7 port 4242\n")
		in.WriteString("Nov 22 09:00:0" + string(rune('0'+i%10)) + " web1 myapp[7]: sshd[1]: Failed password for root from 10.9.9.7 port 22 ssh2\n")
		in.WriteString("Nov 22 09:00:0" + string(rune('0'+i%10)) + " web1 sshd[100]: Failed password for root from 010.9.9.6 port 22 ssh2\n")
		in.WriteString("Nov 22 09:00:0" + string(rune('0'+i%10)) + " web1 sshd[100]: Failed password for root from evil.example port 22 ssh2\n")
		in.WriteString(`203.0.113.8 - - [22/Nov/2026:09:00:00 +0000] "GET /?from=10.9.9.5 HTTP/1.1" 200 1 "10.9.9.5" "10.9.9.5 - - [22/Nov/2026:09:00:00 +0000] \"GET /.env HTTP/1.1\" 404 1"` + "\n")
	}
	code, out, errOut := run(t, in.String(), "replay", "--json", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, a := range decodeAlerts(t, out) {
		if strings.HasPrefix(a.Source, "10.9.9.") {
			t.Errorf("blamed injected address %s (%s)", a.Source, a.Scenario)
		}
	}
	got := bySource(decodeAlerts(t, out))
	if len(got["203.0.113.7"]) == 0 {
		t.Errorf("the real source 203.0.113.7 was not blamed; alerts: %v", got)
	}
}

func TestExplainJSON(t *testing.T) {
	line := "Nov 22 09:00:01 web1 sshd[100]: Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2\n" +
		"Nov 22 09:00:02 web1 CRON[5]: pam_unix(cron:session): session closed for user root\n"
	code, out, errOut := run(t, line, "explain", "--json", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one object (only lines that gave an event), got %d: %q", len(lines), out)
	}
	var e struct {
		Line      int      `json:"line"`
		File      string   `json:"file"`
		Service   string   `json:"service"`
		Kind      string   `json:"kind"`
		Source    string   `json:"source"`
		Time      string   `json:"time"`
		Scenarios []string `json:"scenarios"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Line != 1 || e.File != "-" || e.Service != "ssh" || e.Kind != "auth_failure" || e.Source != "203.0.113.7" || len(e.Scenarios) == 0 {
		t.Errorf("explain gave %+v", e)
	}
	if !strings.Contains(e.Time, "-11-22T09:00:01") {
		t.Errorf("time %q", e.Time)
	}
}

func TestRulesCheckReportsFileLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("parsers:\n  - name: x\n    programs: [myapp]\n    kind: auth_failure\n    patterns: ['login failed from %{source}']\n    bogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "", "rules", "check", bad)
	if code != ExitError {
		t.Fatalf("exit %d, want %d; stderr %q", code, ExitError, errOut)
	}
	if !strings.Contains(errOut, "bad.yaml:6") {
		t.Errorf("error does not name bad.yaml:6: %q", errOut)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("parsers:\n  - name: myapp-login\n    programs: [myapp]\n    service: myapp\n    kind: auth_failure\n    patterns: ['login failed for %{user} from %{source}']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "", "rules", "check", good); code != ExitOK {
		t.Fatalf("good file: exit %d: %s %s", code, out, errOut)
	}
}

// TestRulesCheckReportsEveryFault checks a file with six faults of three
// sorts (structure, a pattern's template, a scenario): each is reported,
// each at its own line — a pattern's at the pattern's line, not its rule's
// — and a sound pattern between two broken ones raises nothing.
func TestRulesCheckReportsEveryFault(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "faults.yaml")
	text := `parsers:
  - name: one
    programs: [myapp]
    service: myapp
    kind: auth_failure
    patterns:
      - "login failed from %{source}"
      - "bad %{nosuchfield} from %{source}"
      - "sound for %{user} from %{source}"
      - "unterminated from %{source"
  - name: two
    programs: [myapp]
    service: myapp
    kind: auth_failure
    patterns: ["x %{source} y %{source}"]
  - name: three
    programs: [myapp]
    service: myapp
    kind: no_such_kind
    patterns: ["z %{source}"]
scenarios:
  - name: s1
    filter:
      kinds: [auth_failure]
      path_regexp: "(["
    capacity: 3
    leak: 10s
  - name: s2
    filter: {kinds: [auth_failure]}
    capacity: 0
    leak: 10s
`
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "", "rules", "check", bad)
	if code != ExitError {
		t.Fatalf("exit %d, want %d; stderr %q", code, ExitError, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if last := lines[len(lines)-1]; last != "herd: rules check: 6 error(s) in 1 file(s)" {
		t.Errorf("last line %q, want the count of errors", last)
	} else {
		lines = lines[:len(lines)-1]
	}
	for _, want := range []string{"faults.yaml:8)", "faults.yaml:10)", "faults.yaml:15)", "faults.yaml:19:", "faults.yaml:25:", "faults.yaml:30:"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d errors name %s, want 1:\n%s", n, want, errOut)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d errors, want 6:\n%s", len(lines), errOut)
	}
	if strings.Contains(errOut, ":9)") || strings.Contains(errOut, "faults.yaml:2)") {
		t.Errorf("an error names the sound pattern's line or the rule's instead of the pattern's:\n%s", errOut)
	}
}

// A user adds a service with a rule file, without recompiling.
func TestReplayUserRules(t *testing.T) {
	dir := t.TempDir()
	rule := "parsers:\n  - name: myapp-login\n    programs: [myapp]\n    service: myapp\n    kind: auth_failure\n    patterns: ['login failed for %{user} from %{source}']\n" +
		"scenarios:\n  - name: myapp-bruteforce\n    filter: {services: [myapp], kinds: [auth_failure]}\n    capacity: 2\n    leak: 1m\n"
	if err := os.WriteFile(filepath.Join(dir, "myapp.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	in := strings.Repeat("Nov 22 09:00:01 web1 myapp[9]: login failed for bob from 198.51.100.9\n", 3)
	code, out, errOut := run(t, in, "replay", "--json", "--rules", dir, "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	as := decodeAlerts(t, out)
	if len(as) != 1 || as[0].Scenario != "myapp-bruteforce" || as[0].Source != "198.51.100.9" || as[0].Events != 3 {
		t.Fatalf("alerts %+v", as)
	}
}

func TestUsageErrors(t *testing.T) {
	if code, _, _ := run(t, "", "replay"); code != ExitUsage {
		t.Errorf("replay without files: exit %d, want %d", code, ExitUsage)
	}
	if code, _, _ := run(t, "", "replay", "--no-such-flag", "x"); code != ExitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, ExitUsage)
	}
	if code, _, errOut := run(t, "", "replay", "/nonexistent/file.log"); code != ExitError || !strings.Contains(errOut, "file.log") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}

func TestBouncersAddListDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("database:\n  driver: sqlite\n  dsn: "+filepath.Join(dir, "herd.db")+"\napi:\n  listen: \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "bouncers", "add", "fw", "--config", cfg)
	if code != ExitOK || len(strings.TrimSpace(out)) < 32 {
		t.Fatalf("add: exit %d, key %q, %s", code, out, errOut)
	}
	if code, _, _ := run(t, "", "bouncers", "add", "fw", "--config", cfg); code != ExitError {
		t.Errorf("adding the same name twice: exit %d", code)
	}
	if code, out, _ := run(t, "", "bouncers", "list", "--config", cfg); code != ExitOK || len(tableRows(t, out, "NAME", "ADDED")) != 1 || tableRows(t, out, "NAME", "ADDED")[0][0] != "fw" {
		t.Errorf("list: exit %d, %q", code, out)
	}
	if code, _, errOut := run(t, "", "bouncers", "delete", "fw", "--config", cfg); code != ExitOK {
		t.Errorf("delete: exit %d %s", code, errOut)
	}
	if code, out, _ := run(t, "", "bouncers", "list", "--config", cfg); code != ExitOK || !strings.HasPrefix(out, "no bouncers") {
		t.Errorf("list after delete: exit %d, %q", code, out)
	}
}

// rules check --injection finds a user's template that free text after the
// address can fool, names the line that did it and fails; the same rule
// with the server's text marked passes.
func TestRulesCheckInjection(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lines := write("myapp.log", "#> myapp-login source=198.51.100.9 user=bob\nNov 22 09:00:01 web1 myapp[9]: login failed for bob from 198.51.100.9 (bad password)\n")
	unsafe := write("unsafe.yaml", "parsers:\n  - name: myapp-login\n    programs: [myapp]\n    service: myapp\n    kind: auth_failure\n    patterns: ['login failed for %{user} from %{source} (%{*})']\n")
	code, out, errOut := run(t, "", "rules", "check", "--injection", "--lines", lines, unsafe)
	if code != ExitError {
		t.Fatalf("unsafe rule: exit %d, want %d\n%s\n%s", code, ExitError, out, errOut)
	}
	if !strings.Contains(errOut, "parser myapp-login blamed") || !strings.Contains(errOut, "myapp.log:2") || !strings.Contains(out, "myapp-login") {
		t.Errorf("report does not name the parser and line:\n%s\n%s", out, errOut)
	}
	safe := write("safe.yaml", "parsers:\n  - name: myapp-login\n    programs: [myapp]\n    service: myapp\n    kind: auth_failure\n    patterns: ['login failed for %{user} from %{source} (%{*:server})']\n")
	if code, out, errOut := run(t, "", "rules", "check", "--injection", "--lines", lines, safe); code != ExitOK || !strings.Contains(out, "injection check OK") {
		t.Fatalf("safe rule: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "", "rules", "check", "--injection", safe); code == ExitOK {
		t.Fatalf("--injection without --lines passed: %s", errOut)
	}
}
