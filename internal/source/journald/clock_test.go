package journald

import (
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// TestRestartBackoffOnTheClock: a journalctl that exits at once with no
// entry is started again after Backoff of the follower's clock, doubling up
// to MaxBackoff, and never sooner.
func TestRestartBackoffOnTheClock(t *testing.T) {
	cmd, _ := fake(t, `exit 0`)
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	f, err := New(Options{Command: cmd, Backoff: time.Second, MaxBackoff: 8 * time.Second, Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	run(t, f, c.handle)
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		waitFor(t, "the backoff wait", func() bool { return slices.Equal(clk.Waits(), []time.Duration{d}) })
		if s := f.Stats().Starts; s != uint64(i+1) {
			t.Fatalf("before wait %d: %d starts, want %d", i+1, s, i+1)
		}
		clk.Advance(d - time.Nanosecond)
		time.Sleep(5 * time.Millisecond) // room for a wrong start to show
		if s := f.Stats().Starts; s != uint64(i+1) {
			t.Fatalf("started again %v into a %v backoff", d-time.Nanosecond, d)
		}
		clk.Advance(time.Nanosecond)
	}
}
