package hub

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/wire"
)

func waitWaits(t *testing.T, clk *clock.Fake, ok func([]time.Duration) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(clk.Waits()); {
		if time.Now().After(deadline) {
			t.Fatalf("fake clock waits %v: not the expected wait", clk.Waits())
		}
		time.Sleep(time.Millisecond)
	}
}

func waitsAre(want ...time.Duration) func([]time.Duration) bool {
	return func(w []time.Duration) bool { return slices.Equal(w, want) }
}

// TestRunRecomputesOnTheClock: Run recomputes the listing every
// RecomputeEvery of its clock, and after an ingest no sooner than a fifth
// of that period after the last recomputation: at once when that much has
// passed, else when it will have.
func TestRunRecomputesOnTheClock(t *testing.T) {
	st, _ := openSQLite(t)
	fc := clock.NewFake(t0)
	agentClock := &fakeClock{t: t0}
	s := newServer(t, st, agentClock, func(o *Options) { o.Time = fc; o.RecomputeEvery = 10 * time.Second })
	h := s.Handler()
	a := newAgent(t, "203.0.113.7", agentClock)
	a.enroll(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	recomputes := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); s.Stats().Recomputes != n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d recomputations, want %d", s.Stats().Recomputes, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitWaits(t, fc, waitsAre(10*time.Second))
	fc.Advance(10*time.Second - time.Nanosecond)
	time.Sleep(5 * time.Millisecond) // room for a wrong recomputation to show
	recomputes(0)
	fc.Advance(time.Nanosecond)
	recomputes(1)

	// An ingest right after: held until 2 s after the last recomputation.
	waitWaits(t, fc, waitsAre(10*time.Second))
	if w := a.send(h, sig("198.51.100.1", wire.Portscan, agentClock.Now())); w.Code != 200 {
		t.Fatalf("signals: %d %s", w.Code, w.Body)
	}
	waitWaits(t, fc, waitsAre(2*time.Second, 10*time.Second))
	recomputes(1)
	fc.Advance(2 * time.Second)
	recomputes(2)

	// An ingest 5 s after the last: at once.
	waitWaits(t, fc, waitsAre(8*time.Second))
	fc.Advance(5 * time.Second)
	if w := a.send(h, sig("198.51.100.2", wire.Portscan, agentClock.Now())); w.Code != 200 {
		t.Fatalf("signals: %d %s", w.Code, w.Body)
	}
	recomputes(3)
	if w := fc.Waits(); !slices.Equal(w, []time.Duration{3 * time.Second}) {
		t.Fatalf("waits %v after an immediate recomputation, want only the ticker's 3s", w)
	}
}
