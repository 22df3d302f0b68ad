package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/store"
)

// bans returns the scopes of the dry-run "ban" lines of out.
func bans(out string) []string {
	var s []string
	for _, m := range regexp.MustCompile(`(?m)^ban (\S+) `).FindAllStringSubmatch(out, -1) {
		s = append(s, m[1])
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// TestAgentSyslogLogger sends failed logins with util-linux logger, a real
// syslog client, over UDP and TCP (newline and octet-counting framing), in
// RFC 3164 and RFC 5424, to a running agent: each attacker the messages
// name is banned, and nothing else, although every message comes from
// 127.0.0.1.
func TestAgentSyslogLogger(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("logger (util-linux, Debian package bsdutils) not installed")
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := func(a net.Addr) string { _, p, _ := net.SplitHostPort(a.String()); return p }
	dir := t.TempDir()
	cfg := &config.Config{
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Syslog:   config.Syslog{UDP: udp.LocalAddr().String(), TCP: tcp.Addr().String()},
		Timezone: "UTC",
	}
	// The agent's clock runs 45 s ahead once it is ready (less than the
	// minute after which the agent refreshes its reference by itself): a
	// message without a time is dated by that clock.
	var ahead atomic.Int64
	clk := clock.Func(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, SyslogUDP: udp, SyslogTCP: tcp, Time: clk})
	ahead.Store(int64(45 * time.Second))

	cases := []struct {
		attacker string
		args     []string
	}{
		{"203.0.113.7", []string{"--udp", "--port", port(udp.LocalAddr()), "--rfc3164"}},
		{"203.0.113.8", []string{"--udp", "--port", port(udp.LocalAddr()), "--rfc5424"}},
		{"203.0.113.9", []string{"--udp", "--port", port(udp.LocalAddr()), "--rfc5424=notime,nohost"}},
		{"203.0.113.10", []string{"--tcp", "--port", port(tcp.Addr()), "--rfc3164"}},
		{"203.0.113.11", []string{"--tcp", "--port", port(tcp.Addr()), "--rfc5424"}},
		{"203.0.113.12", []string{"--tcp", "--port", port(tcp.Addr()), "--rfc5424", "--octet-count"}},
		{"203.0.113.13", []string{"--tcp", "--port", port(tcp.Addr()), "--rfc3164", "--octet-count"}},
	}
	var want []string
	for _, tc := range cases {
		want = append(want, tc.attacker+"/32")
		for i := range 6 {
			args := append([]string{"--server", "127.0.0.1", "-t", "sshd", "-p", "auth.info"}, tc.args...)
			args = append(args, fmt.Sprintf("Failed password for root from %s port %d ssh2", tc.attacker, 40000+i))
			if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
				t.Fatalf("logger %q: %v\n%s", args, err, out)
			}
		}
	}
	// A message that names no address: it must not ban its sender.
	if out, err := exec.Command(logger, "--server", "127.0.0.1", "--udp", "--port", port(udp.LocalAddr()), "-t", "sshd",
		"Failed password for root from port 22 ssh2").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, out)
	}
	slices.Sort(want)
	waitFor(t, "a ban for every attacker", 20*time.Second, func() bool { return len(bans(r.out.String())) >= len(want) })
	time.Sleep(3 * app.FlushInterval)
	r.stop(t)
	if got := bans(r.out.String()); !slices.Equal(got, want) {
		t.Errorf("bans %q, want %q\nlogs:\n%s", got, want, r.logs)
	}
	if !strings.Contains(r.logs.String(), "agent: syslog listening") {
		t.Errorf("no listening notice in the logs:\n%s", r.logs)
	}

	st := openStore(t, cfg)
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, d := range live {
		stored = append(stored, d.Scope.String())
	}
	slices.Sort(stored)
	if !slices.Equal(stored, want) {
		t.Errorf("stored decisions %q, want %q", stored, want)
	}
	alerts, err := st.Alerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Source == netip.MustParseAddr("127.0.0.1") || !slices.Contains(want, a.Source.String()+"/32") {
			t.Errorf("alert for %s", a.Source)
		}
		// The alert's time is the messages' (today), not year 0 or a
		// file's time; for the message without a time, the agent's clock.
		if d := time.Since(a.Last); d < -time.Hour || d > time.Hour {
			t.Errorf("alert for %s at %v, not now", a.Source, a.Last)
		}
		if d := a.Last.Sub(clk.Now()); a.Source.String() == "203.0.113.9" && (d < -10*time.Second || d > 0) {
			t.Errorf("alert for %s (messages without a time) at %v, %v from the agent's clock", a.Source, a.Last, d)
		}
	}
	// No offset is kept for syslog.
	offs, err := st.Offsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 0 {
		t.Errorf("offsets saved for syslog: %+v", offs)
	}
}

// TestAgentStdin pipes failed logins to the agent's standard input: it
// bans the attacker, commits, and returns at the end of the input. Lines
// without a time (journal message bodies, read with --program) are dated
// by the agent's clock when they are read, not when the agent started.
func TestAgentStdin(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{
		// Configured files are not followed in --stdin mode.
		Sources:  []config.Source{{Files: []string{filepath.Join(dir, "ignored.log")}}},
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		API:      config.API{Listen: "127.0.0.1:1"}, // off in --stdin mode, or the bind would fail
		Timezone: "UTC",
	}
	// The agent's clock runs 45 s ahead once the agent is ready: less than
	// the minute after which the agent refreshes its reference by itself.
	var ahead atomic.Int64
	clk := clock.Func(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	pr, pw := io.Pipe()
	out, logs := &syncBuffer{}, &syncBuffer{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- app.RunAgent(context.Background(), app.AgentOptions{
			Config: cfg, DryRun: true, Stdout: out, Logger: newTestLogger(logs), Time: clk,
			Getenv: func(string) string { return "" }, Ready: func() { close(ready) },
			Stdin: pr, StdinProgram: "sshd",
		})
	}()
	<-ready
	ahead.Store(int64(45 * time.Second))
	for i := range 6 {
		fmt.Fprintf(pw, "Failed password for root from 192.0.2.77 port %d ssh2\n", 40000+i)
	}
	pw.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunAgent: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not return at the end of its input\n%s", logs)
	}
	if got := bans(out.String()); !slices.Equal(got, []string{"192.0.2.77/32"}) {
		t.Errorf("bans %q\n%s", got, logs)
	}
	st := openStore(t, cfg)
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].Scope != netip.MustParsePrefix("192.0.2.77/32") {
		t.Errorf("stored decisions %+v", live)
	}
	alerts, err := st.Alerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 {
		t.Fatal("no alert stored")
	}
	for _, a := range alerts {
		if d := a.Last.Sub(clk.Now()); d < -10*time.Second || d > 0 {
			t.Errorf("alert dated %v, %v from the agent's clock", a.Last, d)
		}
	}
	offs, err := st.Offsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 0 {
		t.Errorf("offsets saved for stdin: %+v", offs)
	}
}

func newTestLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
