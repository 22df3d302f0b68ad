package report

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

type nopSink struct{}

func (nopSink) Add([]event.Decision)    {}
func (nopSink) Delete([]event.Decision) {}

// waitWaits waits (on the system clock, 10 s at most) until the fake
// clock's pending waits satisfy ok: the goroutine under test has reached
// the wait the test means to end.
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

// TestFollowerCutsASilentStreamOnTheClock: a central that answers the push
// stream and then says nothing is cut after exactly Idle on the follower's
// clock, not before; the follower then waits MinBackoff, doubling while
// no stream syncs, and opens the stream again.
func TestFollowerCutsASilentStreamOnTheClock(t *testing.T) {
	var opened, ended atomic.Int32
	central := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opened.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // silent until the follower hangs up
		ended.Add(1)
	}))
	defer central.Close()
	clk := clock.NewFake(t0)
	f, err := NewFollower(FollowOptions{URL: central.URL, Key: "k", Sink: nopSink{}, Time: clk,
		Idle: 30 * time.Second, MinBackoff: time.Second, MaxBackoff: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for i, backoff := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		waitWaits(t, clk, waitsAre(30*time.Second))
		eventuallyTrue(t, "stream opened", func() bool { return opened.Load() == int32(i+1) })
		clk.Advance(30*time.Second - time.Nanosecond)
		time.Sleep(5 * time.Millisecond) // room for a wrong cut to show
		if n := ended.Load(); n != int32(i) {
			t.Fatalf("stream %d: cut before Idle had passed on the clock (%d ended)", i+1, n)
		}
		clk.Advance(time.Nanosecond)
		waitWaits(t, clk, waitsAre(backoff))
		eventuallyTrue(t, "stream cut", func() bool { return ended.Load() == int32(i+1) })
		clk.Advance(backoff)
	}
}

// TestReporterBacksOffOnTheClock: a central that refuses keeps the alert
// queued; each retry waits its backoff on the clock (MinBackoff doubling to
// MaxBackoff), and a Notify during the wait does not shorten it.
func TestReporterBacksOffOnTheClock(t *testing.T) {
	var calls atomic.Int32
	central := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer central.Close()
	q := &memQueue{}
	q.add(alert("192.0.2.9", 60))
	clk := clock.NewFake(t0)
	r, err := New(Options{URL: central.URL, Machine: "web1", Password: password, Queue: q, Time: clk,
		MinBackoff: time.Second, MaxBackoff: 5 * time.Second, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, backoff := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		// The poll ticker (an hour) and the backoff wait.
		waitWaits(t, clk, func(w []time.Duration) bool { return len(w) == 2 && w[0] == backoff })
		n := calls.Load()
		r.Notify()
		clk.Advance(backoff - time.Nanosecond)
		time.Sleep(5 * time.Millisecond) // room for a wrong retry to show
		if calls.Load() != n {
			t.Fatalf("retried before its %v backoff", backoff)
		}
		clk.Advance(time.Nanosecond)
		eventuallyTrue(t, "retry", func() bool { return calls.Load() > n })
	}
	q.mu.Lock()
	sent := q.mark.Sent
	q.mu.Unlock()
	if sent != 0 {
		t.Fatalf("mark moved to %d with a central that refuses", sent)
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
