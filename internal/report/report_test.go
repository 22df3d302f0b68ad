package report

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/store"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

const password = "report-test-password-0123456789abcdef"

// memQueue is a local store in memory: alerts by id and a mark. The
// agent's real queue over the store is tested in internal/app.
type memQueue struct {
	mu     sync.Mutex
	alerts []Alert
	mark   Mark
	saves  int
}

func (q *memQueue) add(a Alert) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a.ID = int64(len(q.alerts) + 1)
	q.alerts = append(q.alerts, a)
}

func (q *memQueue) Pending(_ context.Context, after int64, n int) ([]Alert, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Alert
	for _, a := range q.alerts {
		if a.ID > after && len(out) < n {
			out = append(out, a)
		}
	}
	return out, nil
}

func (q *memQueue) LoadMark(context.Context) (Mark, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mark, nil
}

func (q *memQueue) SaveMark(_ context.Context, m Mark) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.mark, q.saves = m, q.saves+1
	return nil
}

// central is a real local API over a real SQLite store, with the machine
// web1 registered.
type central struct {
	st   *store.Store
	addr string
	stop func()
}

func newCentralStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DSN: filepath.Join(t.TempDir(), "central.db"), Time: clock.Func(func() time.Time { return t0 })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddMachine(context.Background(), "web1", lapi.HashKey(password)); err != nil {
		t.Fatal(err)
	}
	return st
}

// serve starts the API over st on addr ("127.0.0.1:0" for any port).
func serve(t *testing.T, st *store.Store, addr string) *central {
	return serveClock(t, st, addr, func() time.Time { return t0 })
}

func serveClock(t *testing.T, st *store.Store, addr string, now func() time.Time) *central {
	t.Helper()
	srv, err := lapi.New(lapi.Options{Store: st, Watchers: st, Time: clock.Func(now),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	c := &central{st: st, addr: ln.Addr().String()}
	c.stop = func() { cancel(); <-done }
	t.Cleanup(c.stop)
	return c
}

func alert(ip string, minutes int) Alert {
	a := netip.MustParseAddr(ip)
	p := netip.PrefixFrom(a, a.BitLen())
	return Alert{
		Alert: event.Alert{Scenario: "herd/ssh-bruteforce", Source: a, Scope: p, First: t0.Add(-time.Minute), Last: t0, Events: 6, Remedy: true},
		Lines: []string{"Failed password for root from " + ip},
		Decisions: []event.Decision{{Type: event.Ban, Scope: p, Duration: time.Duration(minutes) * time.Minute,
			Until: t0.Add(time.Duration(minutes) * time.Minute), Scenario: "herd/ssh-bruteforce", Origin: "herd"}},
	}
}

func newReporter(t *testing.T, url string, q Queue, pw string) *Reporter {
	t.Helper()
	r, err := New(Options{URL: url, Machine: "web1", Password: pw, Queue: q, Time: clock.Func(func() time.Time { return t0 }),
		Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func live(t *testing.T, st *store.Store) map[string]time.Duration {
	t.Helper()
	ds, err := st.LiveDecisions(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, d := range ds {
		out[d.Scope.String()] += d.Duration
	}
	return out
}

func alertCount(t *testing.T, st *store.Store) int {
	t.Helper()
	as, err := st.Alerts(context.Background(), store.AlertFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(as)
}

func TestFlushSendsOnceAndResumes(t *testing.T) {
	ctx := context.Background()
	st := newCentralStore(t)
	c := serve(t, st, "127.0.0.1:0")
	q := &memQueue{}
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		q.add(alert(ip, 60*(i+1)))
	}
	r := newReporter(t, "http://"+c.addr+"/", q, password)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"192.0.2.1/32": time.Hour, "192.0.2.2/32": 2 * time.Hour, "192.0.2.3/32": 3 * time.Hour}
	if got := live(t, st); !equalMaps(got, want) {
		t.Errorf("central decisions %v, want %v", got, want)
	}
	if q.mark.Sent != 3 || q.mark.Instance == "" {
		t.Errorf("mark %+v, want Sent 3", q.mark)
	}
	// A restart (a new reporter on the same queue) sends nothing again.
	r2 := newReporter(t, "http://"+c.addr, q, password)
	if err := r2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := alertCount(t, st); n != 3 {
		t.Errorf("%d alerts on the central after a restart, want 3", n)
	}
	// The answer to the last batch was lost (mark behind): the alerts go
	// again and the central stores them once.
	q.mark.Sent = 1
	q.add(alert("192.0.2.4", 60))
	r3 := newReporter(t, "http://"+c.addr, q, password)
	if err := r3.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want["192.0.2.4/32"] = time.Hour
	if got := live(t, st); !equalMaps(got, want) {
		t.Errorf("central decisions after a resend %v, want %v", got, want)
	}
	if n := alertCount(t, st); n != 4 {
		t.Errorf("%d alerts on the central after a resend, want 4", n)
	}
}

// TestTokenRefreshedOn401: the central's clock runs ahead of the
// reporter's, so the reporter believes its token valid when the central
// finds it expired; the 401 makes it log in again and the alert goes.
func TestTokenRefreshedOn401(t *testing.T) {
	ctx := context.Background()
	st := newCentralStore(t)
	var mu sync.Mutex
	now := t0
	c := serveClock(t, st, "127.0.0.1:0", func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	q := &memQueue{}
	q.add(alert("192.0.2.1", 600))
	r := newReporter(t, "http://"+c.addr, q, password)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	first := r.token
	mu.Lock()
	now = t0.Add(lapi.DefaultTokenTTL + time.Minute)
	mu.Unlock()
	q.add(alert("192.0.2.2", 600))
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush after the central expired the token: %v", err)
	}
	if r.token == first || q.mark.Sent != 2 {
		t.Errorf("token renewed %v, mark %d; want a new token and mark 2", r.token != first, q.mark.Sent)
	}
	if n := alertCount(t, st); n != 2 {
		t.Errorf("%d alerts on the central, want 2", n)
	}
}

func TestWrongPassword(t *testing.T) {
	st := newCentralStore(t)
	c := serve(t, st, "127.0.0.1:0")
	q := &memQueue{}
	q.add(alert("192.0.2.1", 60))
	r := newReporter(t, "http://"+c.addr, q, "wrong")
	if err := r.Flush(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Flush with a wrong password: %v, want ErrUnauthorized", err)
	}
	if q.mark.Sent != 0 {
		t.Errorf("mark moved to %d", q.mark.Sent)
	}
}

func TestRejectedAlertIsSkipped(t *testing.T) {
	st := newCentralStore(t)
	c := serve(t, st, "127.0.0.1:0")
	q := &memQueue{}
	q.add(alert("192.0.2.1", 60))
	bad := alert("192.0.2.2", 60)
	bad.Scenario = "" // the central refuses an alert without scenario
	q.add(bad)
	q.add(alert("192.0.2.3", 60))
	r := newReporter(t, "http://"+c.addr, q, password)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"192.0.2.1/32": time.Hour, "192.0.2.3/32": time.Hour}
	if got := live(t, st); !equalMaps(got, want) {
		t.Errorf("central decisions %v, want %v", got, want)
	}
	if q.mark.Sent != 3 {
		t.Errorf("mark %d, want 3", q.mark.Sent)
	}
}

// TestRunWaitsForTheCentral: the central is down when the alert is
// stored; Run retries with backoff and delivers it once the central is up.
// The backoff runs on a fake clock: the test moves it past a few failed
// attempts instead of sleeping.
func TestRunWaitsForTheCentral(t *testing.T) {
	st := newCentralStore(t)
	// Take a free port, then leave it closed: the central is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	q := &memQueue{}
	q.add(alert("192.0.2.9", 60))
	// The waits are 20, 40, 50 and 50 ms of failed attempts, then 50 ms to
	// the attempt that delivers: starting 210 ms early, it sends at t0.
	clk := clock.NewFake(t0.Add(-210 * time.Millisecond))
	r, err := New(Options{URL: "http://" + addr, Machine: "web1", Password: password, Queue: q,
		Time: clk, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	backingOff := func(w []time.Duration) bool { return len(w) == 2 && w[0] < time.Hour } // the backoff and the poll ticker
	for range 4 {                                                                         // a few failed attempts
		waitWaits(t, clk, backingOff)
		clk.Advance(clk.Waits()[0])
	}
	waitWaits(t, clk, backingOff)
	if n := alertCount(t, st); n != 0 {
		t.Fatalf("%d alerts while the central is down", n)
	}
	serve(t, st, addr)
	clk.Advance(clk.Waits()[0])
	deadline := time.Now().Add(10 * time.Second)
	for alertCount(t, st) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := live(t, st); got["192.0.2.9/32"] != time.Hour {
		t.Errorf("central decisions after it came up: %v", got)
	}
	// A new alert and a Notify: delivered without waiting for Poll.
	q.add(alert("192.0.2.10", 30))
	r.Notify()
	deadline = time.Now().Add(10 * time.Second)
	for alertCount(t, st) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := live(t, st); got["192.0.2.10/32"] != 30*time.Minute {
		t.Errorf("central decisions after Notify: %v", got)
	}
}

func TestEncodeSkipsEndedAndSimulated(t *testing.T) {
	q := &memQueue{}
	r, err := New(Options{URL: "http://127.0.0.1:1", Machine: "m", Password: "p", Queue: q, Time: clock.Func(func() time.Time { return t0.Add(30 * time.Minute) })})
	if err != nil {
		t.Fatal(err)
	}
	r.mark.Instance = "inst"
	a := alert("2001:db8::7", 60)
	a.Scope = netip.MustParsePrefix("2001:db8::/64")
	a.Decisions[0].Scope = a.Scope
	ended := a.Decisions[0]
	ended.Until = t0
	sim := a.Decisions[0]
	sim.Simulated = true
	a.Decisions = append(a.Decisions, ended, sim)
	a.ID = 42
	body, err := r.encode([]Alert{a})
	if err != nil {
		t.Fatal(err)
	}
	ras, err := lapi.DecodeAlerts(body, t0, lapi.DefaultMaxBanDuration)
	if err != nil {
		t.Fatalf("the central refuses what the reporter encodes: %v\n%s", err, body)
	}
	got := ras[0]
	if got.RemoteID != "inst:42" || got.Alert.Source != a.Source || got.Alert.Scope != a.Scope || got.Alert.Events != 6 ||
		len(got.Lines) != 1 || len(got.Decisions) != 1 || got.Decisions[0].Duration != 30*time.Minute {
		t.Errorf("decoded %+v", got)
	}
}

func TestNewChecksOptions(t *testing.T) {
	q := &memQueue{}
	for _, o := range []Options{
		{URL: "http://x", Machine: "m", Password: "p"},
		{URL: "http://x", Password: "p", Queue: q},
		{URL: "http://x", Machine: "m", Queue: q},
		{URL: "ftp://x", Machine: "m", Password: "p", Queue: q},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func equalMaps(a, b map[string]time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
