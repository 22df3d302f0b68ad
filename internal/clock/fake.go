package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a clock whose time moves only when its owner calls Advance or
// Set. Moving it fires every timer, ticker and AfterFunc that falls due, one
// at a time in order of due time (ties in order of creation), with Now
// reading each one's due time while it fires; so a test sees the same
// sequence on every run. Timer and ticker channels hold one value, as the
// system clock's do: a tick nobody reads is dropped. AfterFunc functions
// run on the goroutine that moves the clock, and have returned when Advance
// returns. A wait of zero or less falls due at the current time: it
// fires at the next Advance or Set, Advance(0) included, not at once as on
// the system clock.
//
// A Fake is safe for concurrent use. Its zero value is not usable; call
// NewFake.
type Fake struct {
	mu      sync.Mutex
	changed *sync.Cond // broadcast when a waiter is added
	now     time.Time
	seq     uint64
	waiters []*fakeTimer // pending, unordered; few enough to scan
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	f := &Fake{now: start}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer due d after the fake time.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1)}
	f.schedule(t, d)
	return t
}

// NewTicker returns a ticker of period d on the fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1), period: d}
	f.schedule(t, d)
	return fakeTicker{t}
}

// AfterFunc calls fn when the fake time reaches d after now.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{f: f, fn: fn}
	f.schedule(t, d)
	return t
}

// Advance moves the fake time forward by d, firing what falls due on the
// way. A negative d panics: time does not go back.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Advance with a negative duration")
	}
	f.mu.Lock()
	end := f.now.Add(d)
	f.mu.Unlock()
	f.moveTo(end)
}

// Set moves the fake time to t, firing what falls due on the way when t is
// later. A t earlier than now sets the time back and fires nothing, as a
// system clock stepped back by an administrator would.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.Before(f.now) {
		f.now = t
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.moveTo(t)
}

// Pending returns the number of timers, tickers and AfterFuncs waiting on
// the fake time.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Waits returns, shortest first, how long from now each pending timer,
// ticker and AfterFunc waits: how a test reads the backoff or the period a
// component chose without waiting for it.
func (f *Fake) Waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := make([]time.Duration, len(f.waiters))
	for i, t := range f.waiters {
		w[i] = t.when.Sub(f.now)
	}
	slices.Sort(w)
	return w
}

// BlockUntil waits until at least n timers, tickers or AfterFuncs are
// pending: the way a test knows that the code it drives has reached the
// wait it means to end, before it calls Advance.
func (f *Fake) BlockUntil(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		f.changed.Wait()
	}
}

func (f *Fake) moveTo(end time.Time) {
	for {
		f.mu.Lock()
		t := f.next(end)
		if t == nil {
			if end.After(f.now) {
				f.now = end
			}
			f.mu.Unlock()
			return
		}
		if t.when.After(f.now) {
			f.now = t.when
		}
		at := f.now
		if t.period > 0 {
			t.when = t.when.Add(t.period)
			t.seq = f.nextSeq()
		} else {
			f.remove(t)
		}
		fn, ch := t.fn, t.ch
		f.mu.Unlock()
		if fn != nil {
			fn()
			continue
		}
		select {
		case ch <- at:
		default: // a tick nobody read: dropped, as the system clock does
		}
	}
}

// next returns the earliest waiter due by end, or nil. f.mu is held.
func (f *Fake) next(end time.Time) *fakeTimer {
	var best *fakeTimer
	for _, t := range f.waiters {
		if t.when.After(end) {
			continue
		}
		if best == nil || t.when.Before(best.when) || (t.when.Equal(best.when) && t.seq < best.seq) {
			best = t
		}
	}
	return best
}

func (f *Fake) nextSeq() uint64 { f.seq++; return f.seq }

// schedule makes t due d after now, adding it if it was not pending, and
// reports whether it was.
func (f *Fake) schedule(t *fakeTimer, d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.when = f.now.Add(d)
	t.seq = f.nextSeq()
	if t.pending {
		return true
	}
	t.pending = true
	f.waiters = append(f.waiters, t)
	f.changed.Broadcast()
	return false
}

// remove takes t off the waiters and reports whether it was pending. f.mu
// is held.
func (f *Fake) remove(t *fakeTimer) bool {
	if !t.pending {
		return false
	}
	t.pending = false
	for i, w := range f.waiters {
		if w == t {
			last := len(f.waiters) - 1
			f.waiters[i] = f.waiters[last]
			f.waiters[last] = nil
			f.waiters = f.waiters[:last]
			break
		}
	}
	return true
}

type fakeTimer struct {
	f       *Fake
	ch      chan time.Time
	fn      func()
	period  time.Duration // > 0 for a ticker
	when    time.Time     // guarded by f.mu
	seq     uint64        // guarded by f.mu
	pending bool          // guarded by f.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	stopped := t.f.remove(t)
	t.f.mu.Unlock()
	if t.ch != nil {
		// As time.Timer since Go 1.23: no stale value is received after
		// Stop returns.
		select {
		case <-t.ch:
		default:
		}
	}
	return stopped
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	if t.ch != nil {
		// As time.Timer since Go 1.23: no stale value is received after
		// Reset returns.
		select {
		case <-t.ch:
		default:
		}
	}
	return t.f.schedule(t, d)
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.f.mu.Lock()
	k.t.period = d
	k.t.f.mu.Unlock()
	k.t.Reset(d)
}
