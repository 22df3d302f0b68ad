package clock_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

var epoch = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

func recv(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeMovesOnlyWhenAdvanced(t *testing.T) {
	f := clock.NewFake(epoch)
	tm := f.NewTimer(time.Second)
	if !f.Now().Equal(epoch) {
		t.Fatalf("Now = %v, want %v", f.Now(), epoch)
	}
	f.Advance(999 * time.Millisecond)
	if _, ok := recv(tm.C()); ok {
		t.Fatal("timer fired before its due time")
	}
	f.Advance(time.Millisecond)
	v, ok := recv(tm.C())
	if !ok || !v.Equal(epoch.Add(time.Second)) {
		t.Fatalf("timer: got %v %v, want %v", v, ok, epoch.Add(time.Second))
	}
	if f.Pending() != 0 {
		t.Fatalf("Pending = %d after a one-shot fired", f.Pending())
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it pending")
	}
}

// TestFakeFiresInDueOrder checks that one long Advance fires every due
// waiter in order of due time, with Now reading each due time as it fires,
// and ties in creation order.
func TestFakeFiresInDueOrder(t *testing.T) {
	f := clock.NewFake(epoch)
	var got []string
	var at []time.Duration
	add := func(name string, d time.Duration) {
		f.AfterFunc(d, func() { got = append(got, name); at = append(at, f.Now().Sub(epoch)) })
	}
	add("c", 3*time.Second)
	add("a", time.Second)
	add("b1", 2*time.Second)
	add("b2", 2*time.Second)
	add("late", time.Hour)
	f.Advance(10 * time.Second)
	want := []string{"a", "b1", "b2", "c"}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || at[i] != []time.Duration{time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second}[i] {
			t.Fatalf("fired %v at %v, want %v at 1s 2s 2s 3s", got, at, want)
		}
	}
	if f.Now() != epoch.Add(10*time.Second) {
		t.Fatalf("Now = %v after Advance(10s)", f.Now())
	}
	if w := f.Waits(); len(w) != 1 || w[0] != time.Hour-10*time.Second {
		t.Fatalf("Waits = %v, want [59m50s] (the hour)", w)
	}
}

func TestFakeTickerTicksAndDropsUnread(t *testing.T) {
	f := clock.NewFake(epoch)
	k := f.NewTicker(10 * time.Second)
	for i := 1; i <= 3; i++ {
		f.Advance(10 * time.Second)
		v, ok := recv(k.C())
		if !ok || !v.Equal(epoch.Add(time.Duration(i)*10*time.Second)) {
			t.Fatalf("tick %d: got %v %v", i, v, ok)
		}
	}
	// Five periods unread: one tick is buffered, four are dropped.
	f.Advance(50 * time.Second)
	v, ok := recv(k.C())
	if !ok || !v.Equal(epoch.Add(40*time.Second)) {
		t.Fatalf("after 5 unread periods: got %v %v, want the first (40s)", v, ok)
	}
	if _, ok := recv(k.C()); ok {
		t.Fatal("more than one tick buffered")
	}
	k.Reset(time.Minute)
	f.Advance(59 * time.Second)
	if _, ok := recv(k.C()); ok {
		t.Fatal("tick before the new period")
	}
	f.Advance(time.Second)
	if _, ok := recv(k.C()); !ok {
		t.Fatal("no tick after Reset's period")
	}
	k.Stop()
	f.Advance(time.Hour)
	if _, ok := recv(k.C()); ok || f.Pending() != 0 {
		t.Fatalf("stopped ticker ticked (pending %d)", f.Pending())
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := clock.NewFake(epoch)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported not pending")
	}
	f.Advance(time.Hour)
	if _, ok := recv(tm.C()); ok {
		t.Fatal("stopped timer fired")
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it pending")
	}
	if !tm.Reset(2 * time.Second) {
		t.Fatal("Reset of a pending timer reported not pending")
	}
	f.Advance(time.Second)
	if _, ok := recv(tm.C()); ok {
		t.Fatal("reset timer fired at its old due time")
	}
	f.Advance(time.Second)
	if _, ok := recv(tm.C()); !ok {
		t.Fatal("reset timer did not fire at its new due time")
	}
	// Fired but unread, then Stop: no stale value remains.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Stop()
	if _, ok := recv(tm.C()); ok {
		t.Fatal("stale value received after Stop")
	}
}

func TestFakeZeroWaitFiresOnAdvanceZero(t *testing.T) {
	f := clock.NewFake(epoch)
	tm := f.NewTimer(0)
	if _, ok := recv(tm.C()); ok {
		t.Fatal("zero timer fired before the clock moved")
	}
	f.Advance(0)
	if v, ok := recv(tm.C()); !ok || !v.Equal(epoch) {
		t.Fatalf("zero timer after Advance(0): %v %v, want %v", v, ok, epoch)
	}
}

func TestFakeSetBackFiresNothing(t *testing.T) {
	f := clock.NewFake(epoch)
	n := 0
	f.AfterFunc(time.Second, func() { n++ })
	f.Set(epoch.Add(-time.Hour))
	if n != 0 || !f.Now().Equal(epoch.Add(-time.Hour)) {
		t.Fatalf("Set back: fired %d, Now %v", n, f.Now())
	}
	f.Set(epoch.Add(time.Second))
	if n != 1 {
		t.Fatalf("Set forward past the due time fired %d times, want 1", n)
	}
}

// TestSleepOnFake drives a goroutine blocked in Sleep: BlockUntil tells the
// test it is waiting, Advance ends the wait, and a cancelled context ends
// it with the context's error.
func TestSleepOnFake(t *testing.T) {
	f := clock.NewFake(epoch)
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(context.Background(), f, time.Minute) }()
	f.BlockUntil(1)
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- clock.Sleep(ctx, f, time.Minute) }()
	f.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel = %v, want context.Canceled", err)
	}
	if f.Pending() != 0 {
		t.Fatalf("Sleep left %d timers pending", f.Pending())
	}
	if err := clock.Sleep(context.Background(), f, 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
}

func TestWaitOnFake(t *testing.T) {
	f := clock.NewFake(epoch)
	stop := make(chan struct{})
	res := make(chan bool, 1)
	go func() { res <- clock.Wait(f, time.Second, stop) }()
	f.BlockUntil(1)
	f.Advance(time.Second)
	if !<-res {
		t.Fatal("Wait reported done closed, want the time passed")
	}
	go func() { res <- clock.Wait(f, time.Second, stop) }()
	f.BlockUntil(1)
	close(stop)
	if <-res {
		t.Fatal("Wait reported the time passed, want done closed")
	}
}

// TestFakeConcurrentUse runs timers made, stopped and advanced from many
// goroutines; run with -race.
func TestFakeConcurrentUse(t *testing.T) {
	f := clock.NewFake(epoch)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				tm := f.NewTimer(time.Duration(i+j) * time.Millisecond)
				if j%2 == 0 {
					tm.Stop()
				}
				f.Advance(time.Millisecond)
				_ = f.Now()
			}
		}()
	}
	wg.Wait()
	f.Advance(time.Hour)
	if f.Pending() != 0 {
		t.Fatalf("Pending = %d after every one-shot fell due", f.Pending())
	}
}

func TestOr(t *testing.T) {
	f := clock.NewFake(epoch)
	if clock.Or(f) != clock.Clock(f) {
		t.Fatal("Or did not return the Clock it was given")
	}
	if _, ok := clock.Or(nil).(clock.Real); !ok {
		t.Fatal("Or(nil) is not Real")
	}
	if d := clock.Since(f, epoch.Add(-time.Minute)); d != time.Minute {
		t.Fatalf("Since = %v, want 1m", d)
	}
}

func TestRealTimersFire(t *testing.T) {
	var c clock.Clock = clock.Real{}
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	k := c.NewTicker(time.Millisecond)
	<-k.C()
	k.Stop()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	if time.Since(c.Now()) > time.Minute {
		t.Fatal("Real.Now is not the system time")
	}
}
