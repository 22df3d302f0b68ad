package app_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
)

// probeRules is a user scenario with a long leak, so that a half-full
// bucket stays half full however slow the machine: the 4th SSH failure of a
// source within an hour overflows it (ssh-bruteforce needs 6).
const probeRules = `scenarios:
  - name: reload-probe
    description: test scenario of the reload tests
    filter:
      kinds: [auth_failure]
      services: [ssh]
    capacity: 3
    leak: 1h
`

// unrelatedRules adds a scenario that no SSH line feeds.
const unrelatedRules = `scenarios:
  - name: reload-unrelated
    description: a scenario the reload tests add
    filter:
      kinds: [http_request]
      path_contains: ["/reload-unrelated"]
    type: trigger
`

// brokenRules has a fault on line 7 (a pattern capturing an unknown field)
// and one on line 9 (an unterminated capture); line 8 is sound.
const brokenRules = `parsers:
  - name: reload-broken
    programs: [sshd]
    service: ssh
    kind: auth_failure
    patterns:
      - "broken %{nosuchfield} from %{source}"
      - "sound from %{source}"
      - "broken from %{source"
`

// reloadLab writes a configuration file, a rules directory holding the
// probe scenario and an empty log for one agent.
type reloadLab struct {
	dir, cfgPath, rulesDir, logPath, socket string
}

func newReloadLab(t *testing.T, extra string) *reloadLab {
	t.Helper()
	// Unix socket paths are short (108 bytes): keep the lab's under /tmp.
	dir, err := os.MkdirTemp("", "herd-reload")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &reloadLab{dir: dir, cfgPath: filepath.Join(dir, "herd.yaml"), rulesDir: filepath.Join(dir, "rules.d"),
		logPath: filepath.Join(dir, "auth.log"), socket: filepath.Join(dir, "run", "control.sock")}
	if err := os.Mkdir(l.rulesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	l.writeRule(t, "probe.yaml", probeRules)
	appendLine(t, l.logPath, "")
	l.writeConfig(t, extra)
	return l
}

func (l *reloadLab) writeConfig(t *testing.T, extra string) {
	t.Helper()
	text := fmt.Sprintf(`sources:
  - files: [%s]
journald:
  enabled: false
database:
  dsn: %s
firewall:
  enabled: false
api:
  listen: ""
metrics:
  listen: ""
timezone: UTC
rules_dir: %s
control_socket: %s
%s`, l.logPath, filepath.Join(l.dir, "herd.db"), l.rulesDir, l.socket, extra)
	if err := os.WriteFile(l.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (l *reloadLab) writeRule(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.rulesDir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (l *reloadLab) fail(t *testing.T, src string, n int) {
	t.Helper()
	for i := range n {
		appendLine(t, l.logPath, sshdLine(netip.MustParseAddr(src), 40000+i))
	}
}

// TestAgentReload reloads a running agent's rules and configuration
// through its control socket, as herd reload does: a half-full bucket of an
// unchanged scenario survives a reload that adds an unrelated scenario (the
// next line overflows it), a changed scenario starts fresh, a broken rule
// file is refused with its file:line while the old rules keep alerting,
// and configuration keys are reported applied or needing a restart.
func TestAgentReload(t *testing.T) {
	l := newReloadLab(t, "")
	cfg, err := config.Load(l.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true})
	waitFor(t, "the control socket", 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "agent: control socket") })
	if fi, err := os.Stat(l.socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v; want mode 0600", fi, err)
	}
	banned := func(src string) bool { return strings.Contains(r.out.String(), "ban "+src+"/32 ") }
	ctx := context.Background()

	// A's bucket holds 3 of 3: the next failure overflows it. B, poured
	// after A into the same file, tells when A's lines have been read.
	l.fail(t, "192.0.2.10", 3)
	l.fail(t, "192.0.2.11", 4)
	waitFor(t, "B's ban", 10*time.Second, func() bool { return banned("192.0.2.11") })
	if banned("192.0.2.10") {
		t.Fatal("A banned before its 4th failure")
	}

	// An unrelated change: a new scenario, and two configuration keys.
	l.writeRule(t, "unrelated.yaml", unrelatedRules)
	l.writeConfig(t, "alert_lines_bytes: 1048576\nsyslog:\n  udp: 127.0.0.1:0\n")
	res, err := app.Reload(ctx, l.socket)
	if err != nil || !res.OK {
		t.Fatalf("reload: %+v, %v\n%s", res, err, r.logs)
	}
	if !slices.Contains(res.Kept, "reload-probe") || !slices.Equal(res.Fresh, []string{"reload-unrelated"}) || res.Buckets == 0 {
		t.Errorf("reload kept %v, fresh %v, %d buckets; want reload-probe kept, reload-unrelated fresh, buckets kept", res.Kept, res.Fresh, res.Buckets)
	}
	if !slices.Equal(res.Applied, []string{"alert_lines_bytes"}) || !slices.Equal(res.NeedsRestart, []string{"syslog"}) {
		t.Errorf("applied %v, needs restart %v; want [alert_lines_bytes], [syslog]", res.Applied, res.NeedsRestart)
	}
	l.fail(t, "192.0.2.10", 1)
	waitFor(t, "A's ban on its 4th failure, after the reload", 10*time.Second, func() bool { return banned("192.0.2.10") })
	if !strings.Contains(r.out.String(), "reload-probe") {
		t.Errorf("A's ban is not the probe's:\n%s", r.out)
	}

	// A changed scenario starts fresh: D's 2 failures before the change
	// are forgotten, so 3 more after it (capacity 4 now) do not overflow
	// (and 5 in all stay below ssh-bruteforce's 6).
	l.fail(t, "192.0.2.13", 2)
	l.fail(t, "192.0.2.14", 4)
	waitFor(t, "the marker's ban", 10*time.Second, func() bool { return banned("192.0.2.14") })
	l.writeRule(t, "probe.yaml", strings.Replace(probeRules, "capacity: 3", "capacity: 4", 1))
	if res, err = app.Reload(ctx, l.socket); err != nil || !res.OK || !slices.Contains(res.Fresh, "reload-probe") {
		t.Fatalf("reload of a changed probe: %+v, %v", res, err)
	}
	l.fail(t, "192.0.2.13", 3)
	l.fail(t, "192.0.2.15", 5)
	waitFor(t, "the second marker's ban", 10*time.Second, func() bool { return banned("192.0.2.15") })
	if banned("192.0.2.13") {
		t.Errorf("the changed scenario kept its old bucket: D was banned")
	}

	// A broken file is refused with file:line; the rules in force run on.
	l.writeRule(t, "zz-broken.yaml", brokenRules)
	res, err = app.Reload(ctx, l.socket)
	if err != nil || res.OK {
		t.Fatalf("reload of a broken rule set: %+v, %v; want refused", res, err)
	}
	broken := filepath.Join(l.rulesDir, "zz-broken.yaml")
	text := strings.Join(res.Errors, "\n")
	for _, want := range []string{broken + ":7)", broken + ":9)"} {
		if !strings.Contains(text, want) {
			t.Errorf("refusal does not name %s:\n%s", want, text)
		}
	}
	if !strings.Contains(r.logs.String(), "reload refused") {
		t.Errorf("the refusal is not logged:\n%s", r.logs)
	}
	l.fail(t, "192.0.2.12", 5)
	waitFor(t, "C's ban by the rules still in force", 10*time.Second, func() bool { return banned("192.0.2.12") })
}
