package lapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// fakeClock is a settable clock shared by the store and the server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKey is the API key of the bouncer "fw" in every fixture.
const testKey = "test-key-0123456789abcdefghijklmnopqrstuvwxyz"

// fixture is a real SQLite store in t.TempDir() and a server over it.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	clock *fakeClock
	st    *store.Store
	srv   *Server
}

func newFixture(t testing.TB, o Options) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &fakeClock{t: t0}
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(t.TempDir(), "herd.db"), Time: clock.Func(clk.Now)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddBouncer(ctx, "fw", HashKey(testKey)); err != nil {
		t.Fatal(err)
	}
	o.Store = st
	if o.Time == nil {
		o.Time = clock.Func(clk.Now)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, clock: clk, st: st, srv: srv}
}

// ban stores a ban on scope (an address or a CIDR range) for d and returns
// its id.
func (f *fixture) ban(scope string, d time.Duration, scenario, origin string) int64 {
	f.t.Helper()
	return f.add(store.DecisionRecord{Decision: event.Decision{
		Type: event.Ban, Scope: mustPrefix(scope), Duration: d, Scenario: scenario, Origin: origin,
	}})
}

func (f *fixture) add(d store.DecisionRecord) int64 {
	f.t.Helper()
	ids, err := f.st.AddDecisions(f.ctx, []store.DecisionRecord{d})
	if err != nil {
		f.t.Fatal(err)
	}
	return ids[0]
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.srv.Sync(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

// serve runs the server on a loopback listener until the test ends and
// returns its base URL.
func (f *fixture) serve() string {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func mustPrefix(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// wireDecision is a decision as a bouncer decodes it.
type wireDecision struct {
	ID        int64  `json:"id"`
	Origin    string `json:"origin"`
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	Value     string `json:"value"`
	Duration  string `json:"duration"`
	Scenario  string `json:"scenario"`
	Until     string `json:"until"`
	Simulated bool   `json:"simulated"`
}

type wireStream struct {
	New     []wireDecision `json:"new"`
	Deleted []wireDecision `json:"deleted"`
}

func ids(ds []wireDecision) []int64 {
	out := []int64{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// get sends a GET with the key (none when key is "") and returns the
// status and body.
func get(t testing.TB, c *http.Client, url, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

type storeDecision = store.DecisionRecord

func banRecord(p netip.Prefix) store.DecisionRecord {
	return store.DecisionRecord{Decision: event.Decision{
		Type: event.Ban, Scope: p, Duration: 4 * time.Hour, Scenario: "herd/bench", Origin: "herd",
	}}
}
