package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sshdLine is a line in sshd's syslog format, stamped now (UTC).
func sshdLine(src netip.Addr, port int) string {
	return fmt.Sprintf("%s victim sshd[4242]: Failed password for root from %s port %d ssh2\n",
		time.Now().UTC().Format(time.Stamp), src, port)
}

func appendLine(t testing.TB, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func testConfig(dir, logPath string) *config.Config {
	return &config.Config{
		Sources:  []config.Source{{Files: []string{logPath}}},
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Firewall: config.Firewall{Enabled: true, Table: "herd"},
		Timezone: "UTC",
	}
}

// agentRun is an agent running in the background for a test.
type agentRun struct {
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
	logs   *syncBuffer
}

func startAgent(t *testing.T, o app.AgentOptions) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}, logs: &syncBuffer{}}
	o.Stdout = r.out
	o.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	ready := make(chan struct{})
	user := o.Ready
	o.Ready = func() {
		if user != nil {
			user()
		}
		close(ready)
	}
	go func() { r.done <- app.RunAgent(ctx, o) }()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("agent stopped before ready: %v\n%s", err, r.logs)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready after 30s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *agentRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent: %v\n%s", err, r.logs)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("agent did not stop within 10s")
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func openStore(t *testing.T, cfg *config.Config) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Driver: "sqlite", DSN: cfg.Database.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestAgentDryRun runs the agent without a firewall: the decision is printed
// and stored, offsets are saved, and a restart neither repeats the lines nor
// forgets the ban.
func TestAgentDryRun(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	attacker := netip.MustParseAddr("192.0.2.7")

	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true,
		Getenv: func(k string) string {
			if k == "SSH_CONNECTION" {
				return "198.51.100.9 50000 192.0.2.1 22"
			}
			return ""
		}})
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the dry-run ban", 10*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.7/32 ") })
	// The admin's SSH address is never banned, whatever it does.
	admin := netip.MustParseAddr("198.51.100.9")
	for i := range 10 {
		appendLine(t, logPath, sshdLine(admin, 41000+i))
	}
	time.Sleep(3 * app.FlushInterval)
	r.stop(t)
	if strings.Contains(r.out.String(), "198.51.100.9") {
		t.Errorf("the admin's address was banned:\n%s", r.out)
	}
	if !strings.Contains(r.logs.String(), "dry-run: no firewall/root") {
		t.Errorf("no dry-run notice in the logs:\n%s", r.logs)
	}

	st := openStore(t, cfg)
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].Scope != netip.PrefixFrom(attacker, 32) || live[0].AlertID == 0 {
		t.Fatalf("live decisions = %+v", live)
	}
	alerts, err := st.Alerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	nAlerts := len(alerts)

	// Restart: the admin stays allowlisted from the store although the
	// environment no longer names it, the ban is printed again (restored),
	// and no line is read twice (no new alert).
	r2 := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true})
	if !strings.Contains(r2.out.String(), "ban 192.0.2.7/32 ") {
		t.Errorf("the live ban was not restored before reading: %q", r2.out)
	}
	for i := range 10 {
		appendLine(t, logPath, sshdLine(admin, 42000+i))
	}
	time.Sleep(3 * app.FlushInterval)
	r2.stop(t)
	if strings.Contains(r2.out.String(), "198.51.100.9") {
		t.Errorf("the admin's address was banned after a restart:\n%s", r2.out)
	}
	alerts, err = st.Alerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts[:len(alerts)-nAlerts] {
		if a.Source == attacker {
			t.Errorf("the attacker's lines were read again after the restart: %+v", a)
		}
	}
}

// TestAgentDecisionsFromStore adds and deletes a decision in the store, as
// herd decisions does, while the agent runs.
func TestAgentDecisionsFromStore(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	scope := netip.MustParsePrefix("203.0.113.0/24")
	if err := query.AddDecision(context.Background(), cfg, nil, scope, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added decision", 5*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 203.0.113.0/24 ") })
	if n, err := query.DeleteDecisions(context.Background(), cfg, scope); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	waitFor(t, "the deletion", 5*time.Second, func() bool { return strings.Contains(r.out.String(), "unban 203.0.113.0/24") })
	if err := query.AddDecision(context.Background(), cfg, nil, netip.MustParsePrefix("127.0.0.1/32"), time.Hour, "test"); err == nil {
		t.Error("a ban of loopback was accepted")
	}
}

// victimLab is a victim namespace running an sshd-like listener that logs a
// failed password per connection, reached by an attacker and a bystander.
type victimLab struct {
	victim, attacker, by int
	toAttacker, toBy     netip.AddrPort
	attackerAddr         netip.Addr

	mu       sync.Mutex
	appended map[netip.Addr][]time.Time // per peer, when each line was written
}

func newVictimLab(t *testing.T, logPath string) *victimLab {
	t.Helper()
	l := &victimLab{appended: map[netip.Addr][]time.Time{}}
	victimName, victim := herdtest.NewNetns(t)
	attackerName, attacker := herdtest.NewNetns(t)
	byName, by := herdtest.NewNetns(t)
	l.victim, l.attacker, l.by = victim, attacker, by
	herdtest.Veth(t, victimName, attackerName, netip.MustParsePrefix("198.18.1.1/24"), netip.MustParsePrefix("198.18.1.2/24"))
	herdtest.Veth(t, victimName, byName, netip.MustParsePrefix("198.18.2.1/24"), netip.MustParsePrefix("198.18.2.2/24"))
	l.attackerAddr = netip.MustParseAddr("198.18.1.2")
	var ln net.Listener
	if err := herdtest.Do(victim, func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:2222")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer := netip.MustParseAddrPort(c.RemoteAddr().String())
			f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				_, _ = f.WriteString(sshdLine(peer.Addr().Unmap(), int(peer.Port())))
				at := time.Now()
				f.Close()
				l.mu.Lock()
				l.appended[peer.Addr().Unmap()] = append(l.appended[peer.Addr().Unmap()], at)
				l.mu.Unlock()
			}
			_, _ = c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	l.toAttacker = netip.MustParseAddrPort("198.18.1.1:2222")
	l.toBy = netip.MustParseAddrPort("198.18.2.1:2222")
	return l
}

func (l *victimLab) appendTimes(a netip.Addr) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.appended[a])
}

// kernelView opens a second handle on the victim's table, to look at it.
func kernelView(t *testing.T, fd int) *nft.Firewall {
	t.Helper()
	fw, err := nft.New(nft.Options{NetNS: fd})
	if errors.Is(err, nft.ErrNotSupported) {
		t.Skipf("nftables not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = fw.Remove()
		_ = fw.Close()
	})
	return fw
}

func holds(t *testing.T, fw *nft.Firewall, p netip.Prefix) bool {
	t.Helper()
	got, err := fw.List()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(got, p)
}

// TestAgentBansInNamespaces is the end-to-end test: real sshd-format lines
// written per real connection, the agent following the file, nftables in
// the victim's namespace dropping the attacker while a bystander still
// connects. It logs the time from the overflowing line's append to the
// element being in the kernel's set.
func TestAgentBansInNamespaces(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	lab := newVictimLab(t, logPath)
	view := kernelView(t, lab.victim)
	cfg := testConfig(dir, logPath)
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: lab.victim, FromStart: true})
	if strings.Contains(r.logs.String(), "dry-run") {
		t.Fatalf("the agent runs dry:\n%s", r.logs)
	}
	banned := netip.PrefixFrom(lab.attackerAddr, 32)

	// ssh-bruteforce overflows on the 6th failure in 10 s.
	for i := range 6 {
		if err := herdtest.Dial(lab.attacker, lab.toAttacker, 2*time.Second); err != nil {
			t.Fatalf("attempt %d refused before the ban: %v", i+1, err)
		}
	}
	var seen time.Time
	waitFor(t, "the attacker in the kernel set", 10*time.Second, func() bool {
		if holds(t, view, banned) {
			seen = time.Now()
			return true
		}
		return false
	})
	times := lab.appendTimes(lab.attackerAddr)
	if len(times) < 6 {
		t.Fatalf("%d lines appended", len(times))
	}
	t.Logf("ban latency: %v from the overflowing line's append to the element in the set (polled every 1ms plus a netlink dump)", seen.Sub(times[5]))

	if err := herdtest.Dial(lab.attacker, lab.toAttacker, 500*time.Millisecond); err == nil {
		t.Error("the attacker still connects after the ban")
	}
	if err := herdtest.Dial(lab.by, lab.toBy, 2*time.Second); err != nil {
		t.Errorf("the bystander cannot connect: %v", err)
	}
}

// TestAgentRestoresBansBeforeReading stops an agent that banned, removes its
// table, and starts it again: the ban must be in the kernel by the time the
// agent is ready to read, before any new line.
func TestAgentRestoresBansBeforeReading(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	view := kernelView(t, fd)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	attacker := netip.MustParseAddr("192.0.2.77")
	banned := netip.PrefixFrom(attacker, 32)

	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true})
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the ban", 10*time.Second, func() bool { return holds(t, view, banned) })
	r.stop(t)

	if err := view.Remove(); err != nil {
		t.Fatal(err)
	}
	if holds2(view, banned) {
		t.Fatal("the ban survived the table's removal")
	}
	var atReady bool
	startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true, Ready: func() {
		atReady = holds(t, view, banned)
	}})
	if !atReady {
		t.Error("the ban was not back in the kernel before the agent read a line")
	}
}

// holds2 reports whether fw holds p, false when the table is gone.
func holds2(fw *nft.Firewall, p netip.Prefix) bool {
	got, err := fw.List()
	return err == nil && slices.Contains(got, p)
}

// TestAgentCrashChild is the agent process TestAgentSurvivesKill kills: it
// runs only when that test starts it.
func TestAgentCrashChild(t *testing.T) {
	dir := os.Getenv("HERD_AGENT_CRASH_DIR")
	if dir == "" {
		t.Skip("runs as TestAgentSurvivesKill's child")
	}
	cfg := testConfig(dir, filepath.Join(dir, "auth.log"))
	err := app.RunAgent(context.Background(), app.AgentOptions{Config: cfg, DryRun: true, FromStart: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	t.Fatal(err)
}

// TestAgentSurvivesKill kills the agent with SIGKILL while it reads bursts
// of failed passwords, one burst (six lines, one alert) per source, and
// starts it again: every burst written before, during and after the kill
// gives its alert, except at most the one the kill cut in two (scenario
// buckets live in memory), and no alert is stored twice (a batch's alerts
// and offsets are committed in one transaction).
func TestAgentSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	child := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^TestAgentCrashChild$", "-test.count=1")
		c.Env = append(os.Environ(), "HERD_AGENT_CRASH_DIR="+dir)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const bursts = 300
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)}) }
	writeBursts := func(from, to int) {
		for i := from; i < to; i++ {
			var b strings.Builder
			for j := range 6 {
				b.WriteString(sshdLine(src(i), 30000+j))
			}
			appendLine(t, logPath, b.String())
			time.Sleep(time.Millisecond)
		}
	}
	st := openStore(t, cfg)
	countAlerts := func() map[netip.Addr]int {
		as, err := st.Alerts(context.Background(), store.AlertFilter{Limit: 10 * bursts})
		if err != nil {
			t.Fatal(err)
		}
		m := map[netip.Addr]int{}
		for _, a := range as {
			m[a.Source]++
		}
		return m
	}
	total := func(m map[netip.Addr]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}

	c := child()
	done := make(chan struct{})
	go func() { defer close(done); writeBursts(0, bursts/2) }()
	waitFor(t, "the first alerts", 30*time.Second, func() bool { return total(countAlerts()) >= bursts/6 })
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.Wait()
	<-done
	before := total(countAlerts())
	c = child()
	writeBursts(bursts/2, bursts)
	waitFor(t, "the last burst's alert", 30*time.Second, func() bool { return countAlerts()[src(bursts-1)] > 0 })
	_ = c.Process.Signal(os.Interrupt)
	_ = c.Wait()

	m := countAlerts()
	var missing, twice []int
	for i := range bursts {
		switch n := m[src(i)]; {
		case n == 0:
			missing = append(missing, i)
		case n > 1:
			twice = append(twice, i)
		}
	}
	t.Logf("killed after %d alerts; %d sources, missing %v, stored twice %v", before, bursts, missing, twice)
	if len(missing) > 1 {
		t.Errorf("a kill -9 lost more than one burst: missing %v", missing)
	}
	if len(twice) > 0 {
		t.Errorf("a kill -9 stored alerts twice: %v", twice)
	}
}
