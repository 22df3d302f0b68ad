package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

// opsConfig writes a herd.yaml for the ops commands: SQLite in dir, the
// given log file, no API, no firewall, metrics on listen.
func opsConfig(t *testing.T, dir, logPath, listen string) string {
	t.Helper()
	path := filepath.Join(dir, "herd.yaml")
	text := fmt.Sprintf("sources:\n  - files: [%q]\ndatabase:\n  driver: sqlite\n  dsn: %q\napi:\n  listen: \"\"\nmetrics:\n  listen: %q\nfirewall:\n  enabled: false\ntimezone: UTC\n",
		logPath, filepath.Join(dir, "herd.db"), listen)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openTestStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DSN: filepath.Join(dir, "herd.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type alertOut struct {
	ID        int64    `json:"id"`
	Scenario  string   `json:"scenario"`
	Source    string   `json:"source"`
	Scope     string   `json:"scope"`
	Events    int      `json:"events"`
	Lines     []string `json:"lines"`
	Decisions []struct {
		ID       int64   `json:"id"`
		Type     string  `json:"type"`
		Scope    string  `json:"scope"`
		Duration string  `json:"duration"`
		Origin   string  `json:"origin"`
		Deleted  *string `json:"deleted"`
	} `json:"decisions"`
}

func decodeLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestAlertsListAndInspect(t *testing.T) {
	dir := t.TempDir()
	cfg := opsConfig(t, dir, filepath.Join(dir, "auth.log"), "")
	st := openTestStore(t, dir)
	now := time.Now()
	attacker, prober := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")
	alert := func(scenario string, src netip.Addr, created time.Time, lines ...string) store.AlertRecord {
		return store.AlertRecord{Alert: event.Alert{Scenario: scenario, Source: src, Scope: netip.PrefixFrom(src, 32),
			First: created.Add(-time.Minute), Last: created, Events: len(lines)}, Lines: lines, Created: created}
	}
	ban := &store.DecisionRecord{Decision: event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(attacker, 32),
		Duration: 4 * time.Hour, Until: now.Add(4 * time.Hour), Scenario: "ssh-bruteforce", Origin: "herd"}}
	hostile := "Failed password for \x1b[2Jroot from 192.0.2.7 port 22 ssh2"
	ids, err := st.CommitBatch(context.Background(), store.Batch{Alerts: []store.BatchAlert{
		{Alert: alert("ssh-bruteforce", attacker, now.Add(-48*time.Hour), "old line")},
		{Alert: alert("ssh-bruteforce", attacker, now.Add(-time.Hour), "Failed password for root from 192.0.2.7 port 22 ssh2", hostile), Decision: ban},
		{Alert: alert("http-probe", prober, now.Add(-time.Minute), "GET /.env")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	old, banned, probe := ids[0], ids[1], ids[2]

	for _, tc := range []struct {
		args []string
		want []int64
	}{
		{nil, []int64{probe, banned}}, // default: the last 24h, newest first
		{[]string{"--since", "0"}, []int64{probe, banned, old}},
		{[]string{"--since", "72h", "--source", "192.0.2.7"}, []int64{banned, old}},
		{[]string{"--scenario", "http-probe"}, []int64{probe}},
		{[]string{"--since", "0", "--limit", "1"}, []int64{probe}},
		{[]string{"--scenario", "none"}, nil},
	} {
		args := append([]string{"alerts", "list", "--config", cfg, "--json"}, tc.args...)
		code, out, errOut := run(t, "", args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
		}
		var got []int64
		for _, a := range decodeLines[alertOut](t, out) {
			got = append(got, a.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("alerts list %v = %v, want %v", tc.args, got, tc.want)
		}
	}
	code, out, _ := run(t, "", "alerts", "list", "--config", cfg)
	if rows := tableRows(t, out, "ID", "CREATED", "SCENARIO", "SOURCE", "EVENTS"); code != ExitOK || len(rows) != 2 || rows[0][0] != fmt.Sprint(probe) || fmt.Sprint(rows[1][2:]) != "[ssh-bruteforce 192.0.2.7 2]" {
		t.Errorf("alerts list table: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "", "alerts", "list", "--config", cfg, "--source", "nope"); code != ExitUsage {
		t.Errorf("--source nope: exit %d, want %d", code, ExitUsage)
	}

	code, out, errOut := run(t, "", "alerts", "inspect", fmt.Sprint(banned), "--config", cfg, "--json")
	if code != ExitOK {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	as := decodeLines[alertOut](t, out)
	if len(as) != 1 {
		t.Fatalf("inspect gave %d objects: %s", len(as), out)
	}
	a := as[0]
	if a.ID != banned || a.Scenario != "ssh-bruteforce" || a.Source != "192.0.2.7" || len(a.Lines) != 2 || a.Lines[1] != hostile {
		t.Errorf("inspect: %+v", a)
	}
	if len(a.Decisions) != 1 || a.Decisions[0].Scope != "192.0.2.7/32" || a.Decisions[0].Type != "ban" ||
		a.Decisions[0].Duration != "4h0m0s" || a.Decisions[0].Origin != "herd" || a.Decisions[0].Deleted != nil {
		t.Errorf("inspect decisions: %+v", a.Decisions)
	}

	// Lifted, the decision still shows, ended.
	if _, err := st.DeleteDecisions(context.Background(), store.DecisionFilter{Scope: ban.Scope}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "", "alerts", "inspect", fmt.Sprint(banned), "--config", cfg)
	t.Logf("herd alerts inspect:\n%s", out)
	if code != ExitOK || !strings.Contains(out, "decisions: 1\n") || !strings.Contains(out, " ended ") ||
		!strings.Contains(out, "lines: 2\n") {
		t.Errorf("inspect text: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `for \x1b[2Jroot`) {
		t.Errorf("inspect text lets the line's escape sequence through:\n%q", out)
	}
	if code, _, errOut := run(t, "", "alerts", "inspect", fmt.Sprint(probe+100), "--config", cfg); code != ExitError || !strings.Contains(errOut, "not found") {
		t.Errorf("inspect of a missing alert: exit %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "alerts", "inspect", "x", "--config", cfg); code != ExitUsage {
		t.Errorf("inspect x: exit %d, want %d", code, ExitUsage)
	}
}

type statusOut struct {
	Config string `json:"config"`
	Agent  struct {
		Running   bool    `json:"running"`
		Error     string  `json:"error"`
		Uptime    float64 `json:"uptime_seconds"`
		LinesRead float64 `json:"lines_read"`
		Alerts    float64 `json:"alerts"`
		Decisions float64 `json:"decisions"`
	} `json:"agent"`
	Database struct {
		Error    string `json:"error"`
		Live     int    `json:"live_decisions"`
		ByOrigin []struct {
			Origin   string `json:"origin"`
			Scenario string `json:"scenario"`
			N        int    `json:"count"`
		} `json:"live_by_origin_scenario"`
		Alerts24h int `json:"alerts_24h"`
		Bouncers  int `json:"bouncers"`
	} `json:"database"`
	Sources []struct {
		Source string `json:"source"`
		Offset int64  `json:"offset"`
		Size   int64  `json:"size"`
		Behind int64  `json:"behind"`
	} `json:"sources"`
	Firewall struct {
		Enabled bool `json:"enabled"`
	} `json:"firewall"`
}

func status(t *testing.T, cfg string) statusOut {
	t.Helper()
	code, out, errOut := run(t, "", "status", "--config", cfg, "--json")
	if code != ExitOK {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	s := decodeLines[statusOut](t, out)
	if len(s) != 1 {
		t.Fatalf("status gave %d objects", len(s))
	}
	return s[0]
}

// TestStatus runs an agent, dry, that bans an attacker, and checks what
// herd status says while it runs and after it stopped.
func TestStatus(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := opsConfig(t, dir, logPath, ln.Addr().String())
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := query.AddBouncer(context.Background(), cfg, "fw"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- app.RunAgent(ctx, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, MetricsListener: ln,
			Getenv: func(string) string { return "" }, Ready: func() { close(ready) }})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		}
	}
	defer stop()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		fmt.Fprintf(f, "%s web sshd[7]: Failed password for root from 192.0.2.7 port %d ssh2\n", time.Now().UTC().Format(time.Stamp), 40000+i)
	}
	fmt.Fprintln(f, "a line no parser knows")
	f.Close()
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}

	var s statusOut
	deadline := time.Now().Add(10 * time.Second)
	for {
		s = status(t, cfgPath)
		if s.Agent.LinesRead == 7 && len(s.Sources) == 1 && s.Sources[0].Behind == 0 && s.Database.Live == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the 7 lines read and committed: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !s.Agent.Running || s.Agent.Alerts != 1 || s.Agent.Decisions != 1 || s.Agent.Uptime < 0 {
		t.Errorf("agent status %+v", s.Agent)
	}
	d := s.Database
	if d.Error != "" || d.Alerts24h != 1 || d.Bouncers != 1 || len(d.ByOrigin) != 1 ||
		d.ByOrigin[0].Origin != "herd" || d.ByOrigin[0].Scenario != "ssh-bruteforce" || d.ByOrigin[0].N != 1 {
		t.Errorf("database status %+v", d)
	}
	if src := s.Sources[0]; src.Source != logPath || src.Offset != fi.Size() || src.Size != fi.Size() {
		t.Errorf("source status %+v, want %s at its end (%d)", src, logPath, fi.Size())
	}
	if s.Firewall.Enabled || s.Config != cfgPath {
		t.Errorf("status config %q firewall %+v", s.Config, s.Firewall)
	}
	code, out, _ := run(t, "", "status", "--config", cfgPath)
	t.Logf("herd status:\n%s", out)
	if code != ExitOK || !strings.Contains(out, "agent      running for") || !strings.Contains(out, "decisions  1 live") ||
		!strings.Contains(out, "1  herd / ssh-bruteforce") || !strings.Contains(out, logPath+": 0 bytes behind") {
		t.Errorf("status text: exit %d\n%s", code, out)
	}

	// Stopped, with a line written since: not running, 12 bytes behind.
	stop()
	f, err = os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("eleven byte\n")
	f.Close()
	s = status(t, cfgPath)
	if s.Agent.Running || s.Agent.Error == "" {
		t.Errorf("a stopped agent shows as %+v", s.Agent)
	}
	if len(s.Sources) != 1 || s.Sources[0].Behind != 12 {
		t.Errorf("sources after a line written while stopped: %+v", s.Sources)
	}
}

func TestGeoIPCommands(t *testing.T) {
	code, out, errOut := run(t, "", "geoip", "lookup", "--dir", "../../examples/geoip", "198.51.100.7", "192.0.2.1")
	if code != ExitOK || !strings.Contains(out, "198.51.100.7  BR       AS64500  Example Telecom, Ltda\n") || !strings.Contains(out, "192.0.2.1     FR       AS64501") {
		t.Errorf("lookup: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := run(t, "", "geoip", "lookup", "--dir", "../../examples/geoip", "nope"); code != ExitUsage {
		t.Errorf("lookup nope: exit %d, want %d", code, ExitUsage)
	}
	code, out, _ = run(t, "", "geoip", "status", "--dir", "../../examples/geoip")
	if code != ExitOK || !strings.Contains(out, "enrichment: on (4 country ranges, 4 ASN ranges)") || !strings.Contains(out, "attribution: ") || !strings.Contains(out, "country.mmdb") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	code, out, _ = run(t, "", "geoip", "status", "--dir", dir)
	if code != ExitOK || !strings.Contains(out, "enrichment: off") || !strings.Contains(out, "herd geoip update --dir "+dir) {
		t.Errorf("status of an empty dir: exit %d\n%s", code, out)
	}
}

func TestNotifyTest(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	yaml := fmt.Sprintf("database: {driver: sqlite, dsn: %s}\nnotifications:\n  - name: hook\n    type: webhook\n    url: %s\n  - name: gone\n    type: ntfy\n    url: http://127.0.0.1:1/t\n    retries: -1\n",
		filepath.Join(dir, "herd.db"), srv.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "notify", "test", "--config", cfg)
	if code != ExitError || !strings.Contains(out, "hook (webhook): delivered\n") || !strings.Contains(out, "gone (ntfy): NOT delivered") || !strings.Contains(errOut, "1 of 2 channels failed") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	select {
	case b := <-got:
		if !strings.Contains(b, `"scenario":"herd-notify-test"`) {
			t.Errorf("sample %s", b)
		}
	default:
		t.Error("the webhook received nothing")
	}
}
