// Package clock gives herd's stages the time and their timers through one
// small interface, so that a test (or a replay) can drive buckets, expiry,
// batching, polling and backoff without waiting on the wall clock.
//
// Real reads the system clock. Fake moves only when its test advances it,
// and then fires every due timer and ticker in order of due time. A nil
// Clock in a stage's Options means Real; Or picks the clock to use.
//
// Socket deadlines are the one place herd reads the system clock outside
// this package: the kernel's poller compares them with real time, so a
// deadline computed from a fake (or replayed) time would be wrong.
package clock

import (
	"context"
	"time"
)

// Clock gives the time and makes timers. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once, d
	// after now.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time on its channel every d;
	// like time.NewTicker it drops ticks a slow reader misses. d must be
	// positive.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f once, d after now. Its Timer's channel is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a single event, as time.Timer.
type Timer interface {
	// C returns the channel the time is sent on (nil for AfterFunc).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped
	// a pending timer.
	Stop() bool
	// Reset makes the timer fire d after now; it reports whether the timer
	// was pending.
	Reset(d time.Duration) bool
}

// Ticker sends the time at intervals, as time.Ticker.
type Ticker interface {
	// C returns the channel the ticks are sent on.
	C() <-chan time.Time
	// Stop turns the ticker off; no more ticks are sent.
	Stop()
	// Reset stops the ticker and restarts it with period d.
	Reset(d time.Duration)
}

// Or returns c, or Real when c is nil: what an Options field left unset
// means.
func Or(c Clock) Clock {
	if c != nil {
		return c
	}
	return Real{}
}

// Since returns the time elapsed since t on c.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Sleep waits d on c, or until ctx ends; it returns ctx.Err() in that case
// and nil otherwise. A d of zero or less returns at once (with ctx.Err()).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Wait waits d on c, or until done is closed; it reports whether d passed.
func Wait(c Clock, d time.Duration, done <-chan struct{}) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-done:
		return false
	}
}

// Real is the system clock. Its zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker returns a time.Ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// AfterFunc returns time.AfterFunc(d, f).
func (Real) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time   { return t.t.C }
func (t realTicker) Stop()                 { t.t.Stop() }
func (t realTicker) Reset(d time.Duration) { t.t.Reset(d) }

// Func is a clock whose time is read from a function (a replay's clock,
// a test's shifted time) and whose timers run on the system clock.
type Func func() time.Time

// Now returns f().
func (f Func) Now() time.Time { return f() }

// NewTimer returns a timer of the system clock.
func (Func) NewTimer(d time.Duration) Timer { return Real{}.NewTimer(d) }

// NewTicker returns a ticker of the system clock.
func (Func) NewTicker(d time.Duration) Ticker { return Real{}.NewTicker(d) }

// AfterFunc calls f on the system clock.
func (Func) AfterFunc(d time.Duration, f func()) Timer { return Real{}.AfterFunc(d, f) }

var (
	_ Clock = Real{}
	_ Clock = Func(nil)
	_ Clock = (*Fake)(nil)
)
