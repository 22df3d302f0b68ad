package blocklist

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// results records what a follower's Connected was called with.
type results struct {
	mu   sync.Mutex
	errs []error
}

func (r *results) add(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }

// count returns the calls with nil and with an error.
func (r *results) count() (ok, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		if e == nil {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

func waitWaits(t *testing.T, clk *clock.Fake, ok func([]time.Duration) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(clk.Waits()); {
		if time.Now().After(deadline) {
			t.Fatalf("fake clock waits %v: not the expected wait", clk.Waits())
		}
		time.Sleep(time.Millisecond)
	}
}

// runClockFollower runs a follower of h on clk with the given idle timeout
// until the test ends.
func runClockFollower(t *testing.T, h *hub, clk *clock.Fake, idle time.Duration, r *results) {
	t.Helper()
	f, err := NewFollower(FollowerOptions{URL: h.ts.URL, PublicKey: h.pub(), Apply: newState().apply, Connected: r.add,
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second, IdleTimeout: idle, Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestHeartbeatsKeepTheStreamOnTheClock: a hub that sends a heartbeat every
// 20 s of its clock keeps a follower with a 30 s idle timeout connected
// however long the clock runs: each heartbeat restarts the idle wait.
func TestHeartbeatsKeepTheStreamOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	h := newHub(t, ServerOptions{Heartbeat: 20 * time.Second, PollInterval: time.Hour, Time: clk})
	r := &results{}
	runClockFollower(t, h, clk, 30*time.Second, r)
	waitUntil(t, "first stream", func() bool { ok, _ := r.count(); return ok == 1 })
	has := func(d time.Duration) func([]time.Duration) bool {
		return func(w []time.Duration) bool { return slices.Contains(w, d) }
	}
	waitWaits(t, clk, has(30*time.Second)) // the follower's idle watch
	for range 10 {
		waitWaits(t, clk, has(20*time.Second)) // the hub's heartbeat ticker
		clk.Advance(20 * time.Second)
		waitWaits(t, clk, has(30*time.Second)) // restarted by the heartbeat
	}
	if ok, failed := r.count(); ok != 1 || failed != 0 {
		t.Fatalf("after 200 s of heartbeats: %d streams, %d failures; want 1 and 0", ok, failed)
	}
}

// TestSilentStreamCutOnTheClock: with no heartbeat within the idle timeout,
// the follower cuts the stream after exactly that long on its clock, waits
// MinBackoff (the stream had made progress) and connects again.
func TestSilentStreamCutOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	h := newHub(t, ServerOptions{Heartbeat: time.Hour, PollInterval: time.Hour, Time: clk})
	r := &results{}
	runClockFollower(t, h, clk, 30*time.Second, r)
	waitUntil(t, "first stream", func() bool { ok, _ := r.count(); return ok == 1 })
	waitWaits(t, clk, func(w []time.Duration) bool { return slices.Contains(w, 30*time.Second) })
	clk.Advance(30*time.Second - time.Nanosecond)
	time.Sleep(5 * time.Millisecond) // room for a wrong cut to show
	if _, failed := r.count(); failed != 0 {
		t.Fatal("stream cut before the idle timeout")
	}
	clk.Advance(time.Nanosecond)
	waitUntil(t, "the cut", func() bool { _, failed := r.count(); return failed == 1 })
	waitWaits(t, clk, func(w []time.Duration) bool { return slices.Contains(w, time.Second) })
	clk.Advance(time.Second)
	waitUntil(t, "the second stream", func() bool { ok, _ := r.count(); return ok == 2 })
}
