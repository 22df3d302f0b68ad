package app_test

import (
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/query"
)

// TestAgentMetrics runs the agent dry with its metrics endpoint, feeds it
// lines of which six overflow ssh-bruteforce, and scrapes /metrics over
// HTTP: the counters equal the lines, alerts and decisions fed, and the
// detection-to-enforcement histogram holds the ban.
func TestAgentMetrics(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, MetricsListener: ln})
	url := "http://" + ln.Addr().String() + "/metrics"

	// The file's first line is a syslog record (it decides the file's
	// format); the noise after it is a continuation, counted as unparsed.
	const noise = 3
	attacker := netip.MustParseAddr("192.0.2.7")
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
		if i == 0 {
			for range noise {
				appendLine(t, logPath, "this line no parser knows\n")
			}
		}
	}
	waitFor(t, "the dry-run ban", 10*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.7/32 ") })

	var s metrics.Scrape
	waitFor(t, "every line counted", 10*time.Second, func() bool {
		s, err = metrics.Fetch(t.Context(), http.DefaultClient, url)
		if err != nil {
			t.Fatal(err)
		}
		return s.Sum(metrics.LinesRead) == 6+noise && s.Sum(metrics.DetectToEnforce) >= 1
	})
	src := []string{"source", logPath}
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{metrics.LinesRead, src, 6 + noise},
		{metrics.LinesParsed, src, 6},
		{metrics.LinesUnparsed, src, noise},
		{metrics.Events, []string{"kind", "auth_failure"}, 6},
		{metrics.Alerts, []string{"scenario", "ssh-bruteforce"}, 1},
		{metrics.Alerts, nil, 1},
		{metrics.Decisions, []string{"scenario", "ssh-bruteforce"}, 1},
		{metrics.Decisions, nil, 1},
		{metrics.LiveDecisions, nil, 1},
		{metrics.DetectToEnforce, nil, 1},
		{metrics.FirewallErrors, nil, 0},
	} {
		if got := s.Sum(c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	if !s.Has(metrics.LiveBuckets) || !s.Has(metrics.StartTime) || !s.Has("process_start_time_seconds") {
		t.Errorf("gauges missing from the scrape: buckets %v, start %v, process %v",
			s.Has(metrics.LiveBuckets), s.Has(metrics.StartTime), s.Has("process_start_time_seconds"))
	}
	// The batch that carried the decision was committed and timed.
	waitFor(t, "a timed store commit", 5*time.Second, func() bool {
		s, err = metrics.Fetch(t.Context(), http.DefaultClient, url)
		return err == nil && s.Sum(metrics.StoreCommit) >= 1
	})
	// The buckets gauge is sampled every flush tick: the attacker's bucket
	// has overflowed, but the noise created none, so it is small.
	if b := s.Sum(metrics.LiveBuckets); b > 10 {
		t.Errorf("%s = %v after one source's lines", metrics.LiveBuckets, b)
	}
}

// TestAgentMetricsRefusesRemote checks that the agent does not serve
// metrics beyond loopback unless told to.
func TestAgentMetricsRefusesRemote(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Metrics.Listen = "0.0.0.0:0"
	err := app.RunAgent(t.Context(), app.AgentOptions{Config: cfg, DryRun: true, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "allow_remote") {
		t.Errorf("RunAgent with metrics on 0.0.0.0 returned %v, want a refusal naming allow_remote", err)
	}
}

// TestAgentMetricsAndStatusWithNftables bans through nftables in a
// namespace: the detection-to-enforcement histogram is fed by the netlink
// commit, and GetStatus reads the ban back from the kernel's table.
func TestAgentMetricsAndStatusWithNftables(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	view := kernelView(t, fd)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = ln.Addr().String()
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true, MetricsListener: ln})
	if strings.Contains(r.logs.String(), "dry-run") {
		t.Fatalf("the agent runs dry:\n%s", r.logs)
	}
	attacker := netip.MustParseAddr("192.0.2.99")
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the ban in the kernel", 10*time.Second, func() bool { return holds2(view, netip.PrefixFrom(attacker, 32)) })

	var s metrics.Scrape
	waitFor(t, "the latency observed", 10*time.Second, func() bool {
		s, err = metrics.Fetch(t.Context(), http.DefaultClient, "http://"+ln.Addr().String()+"/metrics")
		return err == nil && s.Sum(metrics.DetectToEnforce) == 1
	})
	t.Logf("detection to enforcement: %v (line read to nftables commit)", time.Duration(s[metrics.DetectToEnforce][0].Total*1e9))
	if n := s.Sum(metrics.FirewallErrors); n != 0 {
		t.Errorf("%v firewall errors", n)
	}
	st := query.GetStatus(t.Context(), cfg, query.StatusOptions{NetNS: fd})
	if !st.Agent.Running || st.Agent.LinesRead != 6 {
		t.Errorf("agent status %+v", st.Agent)
	}
	if f := st.Firewall; !f.Enabled || !f.Exists || f.Elements != 1 || f.Sets["ban4"] != 1 || f.Error != "" {
		t.Errorf("firewall status %+v, want the one ban in ban4", f)
	}
	if st.Database.LiveDecisions != 1 {
		t.Errorf("database status %+v", st.Database)
	}
}
