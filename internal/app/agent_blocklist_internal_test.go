package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// communityUnderTest is a community over a real SQLite store and decision
// set, on a fake clock.
func communityUnderTest(t *testing.T) (*holderUnderTest, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), store.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "herd.db"), Time: clock.Func(clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &agent{cfg: config.Default(), log: slog.New(slog.DiscardHandler), now: clk.now, st: st,
		set: decision.New(decision.Options{NeverBan: ipx.NewNeverBan(nil, nil), Time: clock.Func(clk.now)})}
	o := a.holderOptions(blocklist.Community, nil)
	o.URL, o.PublicKey, o.Clock = "http://127.0.0.1:1/", make(ed25519.PublicKey, ed25519.PublicKeySize), clock.Func(clk.now)
	h, err := blocklist.NewHolder(o)
	if err != nil {
		t.Fatal(err)
	}
	h.Connected(nil)
	return &holderUnderTest{h, a}, clk
}

// holderUnderTest is a holder of the community list and its agent.
type holderUnderTest struct {
	*blocklist.Holder
	a *agent
}

func (c *holderUnderTest) liveRows(t *testing.T, p netip.Prefix) int {
	t.Helper()
	live, err := c.a.st.LiveDecisions(context.Background(), c.a.now())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range live {
		if d.Scope == p && d.Origin == event.OriginCommunity {
			n++
		}
	}
	return n
}

// TestCommunityRenewal: a listed address stays banned past
// blocklist.Duration while the hub is followed; unlisted, every row of it
// goes; with the hub lost for longer than half the duration, renewal stops
// and the ban lapses.
func TestCommunityRenewal(t *testing.T) {
	ctx := context.Background()
	c, clk := communityUnderTest(t)
	a := netip.MustParsePrefix("192.0.2.10/32")
	b := netip.MustParsePrefix("192.0.2.11/32")
	if err := c.Apply(ctx, blocklist.Update{Snapshot: true, Version: 2, Added: []netip.Prefix{a, b}}); err != nil {
		t.Fatal(err)
	}
	t0 := clk.now()
	clk.add(time.Hour)
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if c.liveRows(t, a) != 1 {
		t.Fatalf("renewed with 23 h left: %d rows", c.liveRows(t, a))
	}
	clk.add(12 * time.Hour) // 13 h after listing: 11 h left
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	d, ok := c.a.set.Get(a)
	if !ok || !d.Until.Equal(clk.now().Add(blocklist.Duration)) {
		t.Fatalf("not renewed: %+v %v", d, ok)
	}
	clk.add(12 * time.Hour) // past the first decision's end
	c.a.set.Expire()
	if _, ok := c.a.set.Get(a); !ok {
		t.Fatal("a listed address lapsed though the hub was followed")
	}
	if clk.now().Sub(t0) <= blocklist.Duration {
		t.Fatal("test clock did not pass the first decision's end")
	}

	// Unlisting deletes every stored row of the scope, renewals included.
	if err := c.Apply(ctx, blocklist.Update{Version: 3, From: 2, Removed: []netip.Prefix{a}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.a.set.Get(a); ok || c.liveRows(t, a) != 0 {
		t.Fatalf("unlisted address still banned (%d rows)", c.liveRows(t, a))
	}

	// The hub is lost: renewal goes on for half the duration, then stops.
	c.Connected(errors.New("connection refused"))
	clk.add(11 * time.Hour) // lost 11 h ago; b has 1 h left
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = c.a.set.Get(b)
	if want := clk.now().Add(blocklist.Duration); !d.Until.Equal(want) {
		t.Fatalf("not renewed 11 h after losing the hub: until %v, want %v", d.Until, want)
	}
	last := d.Until
	clk.add(13 * time.Hour) // lost 24 h ago; b has 11 h left
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.a.set.Get(b); !d.Until.Equal(last) {
		t.Fatalf("renewed a day after losing the hub: until %v, want %v", d.Until, last)
	}
	clk.add(last.Sub(clk.now()) + time.Second)
	c.a.set.Expire()
	if _, ok := c.a.set.Get(b); ok {
		t.Fatal("a listing followed from a lost hub never lapses")
	}
}
