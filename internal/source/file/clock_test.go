package file

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// TestRotateWaitRunsOnTheClock: a rotated file whose successor is still
// empty is kept, and read, for RotateWait of the follower's clock however
// much real time passes, and is let go once that clock has moved past it.
func TestRotateWaitRunsOnTheClock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	write(t, p, "")
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	r := start(t, Options{Globs: []string{p}, RotateWait: 5 * time.Minute, Poll: time.Second, Time: clk}, 0)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, p, "")
	write(t, p+".1", "late\n")
	check(t, r.c.waitFor(t, 1), []string{"late"})
	// Real time passes, the clock does not: the rotated file stays open.
	for range 5 {
		clk.Advance(time.Second) // a poll, four minutes and more short of RotateWait
		settle()
	}
	if st := r.f.Stats(); st.Rotations != 0 {
		t.Fatalf("rotated file let go before RotateWait on the clock: %+v", st)
	}
	write(t, p+".1", "later\n")
	check(t, r.c.waitFor(t, 2), []string{"late", "later"})

	clk.Advance(5 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for r.f.Stats().Rotations != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("rotated file kept after RotateWait on the clock: %+v", r.f.Stats())
		}
		clk.Advance(time.Second) // polls, so the follower looks again
		time.Sleep(time.Millisecond)
	}
	write(t, p, "new\n")
	check(t, r.c.waitFor(t, 3), []string{"late", "later", "new"})
}
