// Package enforce is where a decision reaches something that blocks: it
// declares the Enforcer contract every backend implements (nftables in
// enforce/nft, iptables with ipsets in enforce/ipset, the dry-run Printer
// here) and runs the one loop that feeds an Enforcer the live set's changes
// in batches, reconciling it after a failure.
//
// The loop owns its Enforcer: no other goroutine calls it while Run runs.
package enforce

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/termtext"
)

// Enforcer consumes the decision set's changes in batches and can be
// brought back in step with the whole set. Implementations carry a
// compile-time check (var _ enforce.Enforcer = (*Firewall)(nil)).
type Enforcer interface {
	// Apply deletes c.Delete then adds c.Add, as one batch where the
	// backend allows it. now is the time the decisions' Until is measured
	// from.
	Apply(c event.Change, now time.Time) error
	// Reconcile makes the backend hold exactly the bans of live, whatever
	// it held before (a restart, or a failed Apply).
	Reconcile(live []event.Decision, now time.Time) error
	// Close releases the backend's handles; what it put in the kernel
	// stays (the next start reconciles it).
	Close() error
}

// Changes is what the loop reads the set's diffs from
// (*decision.Subscription).
type Changes interface {
	// Ready is signalled when changes are pending.
	Ready() <-chan struct{}
	// Take returns every change pending since the last Take, merged.
	Take() event.Change
}

// Observer is told what the loop did, for metrics. Its methods are called
// from the loop's goroutine.
type Observer interface {
	Enforced(add []event.Decision, del []netip.Prefix) // an Apply succeeded
	Reconciled()                                       // a Reconcile succeeded: the whole set is in
	Failed()                                           // an Apply or Reconcile failed
}

// DefaultRetry is how long the loop waits before reconciling again after
// a failure.
const DefaultRetry = time.Second

// Options configures a Loop.
type Options struct {
	Enforcer Enforcer
	Name     string // the backend's name, for the logs ("nftables", "dry-run")
	Changes  Changes
	// Live returns the whole live set, which a Reconcile installs.
	Live     func() []event.Decision
	Observer Observer     // nil = none
	Logger   *slog.Logger // nil = discard
	Time     clock.Clock  // nil = clock.Real
	// After schedules a retry (a timer of Time when nil); tests pass a fake.
	After func(time.Duration) <-chan time.Time
	Retry time.Duration // 0 = DefaultRetry
}

// Loop feeds one Enforcer. Its State is safe for concurrent use; Restore,
// Run and Settle are called from one goroutine, in that order.
type Loop struct {
	o  Options
	mu sync.Mutex
	st State
}

// State is what a Loop reports about its Enforcer.
type State struct {
	Name     string
	InStep   bool      // the last Apply or Reconcile succeeded
	Applies  uint64    // successful Apply calls
	Failures uint64    // failed Apply and Reconcile calls
	LastErr  string    // the last failure, "" when none
	Since    time.Time // when InStep last changed
}

// New returns a Loop; it calls nothing until Restore or Run.
func New(o Options) *Loop {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := clock.Or(o.Time)
	o.Time = c
	if o.After == nil {
		o.After = func(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return &Loop{o: o, st: State{Name: o.Name}}
}

// State returns the loop's view of its Enforcer.
func (l *Loop) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *Loop) note(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := err == nil
	if in != l.st.InStep {
		l.st.InStep, l.st.Since = in, l.o.Time.Now()
	}
	if err != nil {
		l.st.Failures++
		l.st.LastErr = err.Error()
		l.o.Observer.Failed()
	}
}

// Restore reconciles the Enforcer with the whole live set: at start, every
// live ban is back before a line is read.
func (l *Loop) Restore() error {
	live := l.o.Live()
	t := l.o.Time.Now()
	err := l.o.Enforcer.Reconcile(live, t)
	l.note(err)
	if err != nil {
		return fmt.Errorf("enforce %s: restoring %d live decisions: %w", l.o.Name, len(live), err)
	}
	l.o.Logger.Info("enforce: live decisions restored", "backend", l.o.Name, "decisions", len(live), "took", l.o.Time.Now().Sub(t))
	return nil
}

// Run applies the set's changes until ctx ends: every change pending when
// it wakes is one Apply. After a failed Apply it drops changes and
// reconciles the whole set every Retry until that succeeds.
func (l *Loop) Run(ctx context.Context) error {
	var retry <-chan time.Time
	broken := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry:
			retry = nil
			err := l.o.Enforcer.Reconcile(l.o.Live(), l.o.Time.Now())
			l.note(err)
			if err != nil {
				l.o.Logger.Error("enforce: reconcile failed; retrying", "backend", l.o.Name, "err", err)
				retry = l.o.After(l.o.Retry)
				continue
			}
			l.o.Observer.Reconciled()
			broken = false
			l.o.Logger.Info("enforce: back in step", "backend", l.o.Name)
			continue
		case <-l.o.Changes.Ready():
		}
		c := l.o.Changes.Take()
		if c.Empty() || broken {
			continue // when broken, the pending reconcile covers it
		}
		t := l.o.Time.Now()
		err := l.o.Enforcer.Apply(c, t)
		l.note(err)
		if err != nil {
			l.o.Logger.Error("enforce: apply failed; reconciling", "backend", l.o.Name, "err", err, "add", len(c.Add), "delete", len(c.Delete))
			broken, retry = true, l.o.After(l.o.Retry)
			continue
		}
		l.count(c)
		l.o.Logger.Debug("enforce: applied", "backend", l.o.Name, "add", len(c.Add), "delete", len(c.Delete), "took", l.o.Time.Now().Sub(t))
	}
}

func (l *Loop) count(c event.Change) {
	l.mu.Lock()
	l.st.Applies++
	l.mu.Unlock()
	l.o.Observer.Enforced(c.Add, c.Delete)
}

// Settle applies the changes Run had not taken when it stopped (those of
// the last batch, committed after the jobs ended). A failure is logged:
// the next start reconciles.
func (l *Loop) Settle() {
	c := l.o.Changes.Take()
	if c.Empty() {
		return
	}
	err := l.o.Enforcer.Apply(c, l.o.Time.Now())
	l.note(err)
	if err != nil {
		l.o.Logger.Error("enforce: apply at stop failed; the next start reconciles", "backend", l.o.Name, "err", err)
		return
	}
	l.count(c)
}

type nopObserver struct{}

func (nopObserver) Enforced([]event.Decision, []netip.Prefix) {}
func (nopObserver) Reconciled()                               {}
func (nopObserver) Failed()                                   {}

// Printer is the dry-run Enforcer: it writes each change as lines
// ("ban <scope> until <RFC 3339|never> scenario=<s> origin=<o>",
// "unban <scope>") instead of reaching a kernel. Attacker-influenced
// fields are escaped for terminals. The output is best effort: a write
// error is not a failure to enforce (nothing was to be enforced), so it is
// not returned. Safe for concurrent use.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
}

var _ Enforcer = (*Printer)(nil)

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Apply prints the unbans, then the bans.
func (p *Printer) Apply(c event.Change, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range c.Delete {
		fmt.Fprintf(p.w, "unban %s\n", s)
	}
	p.bans(c.Add)
	return nil
}

// Reconcile prints every live ban.
func (p *Printer) Reconcile(live []event.Decision, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bans(live)
	return nil
}

func (p *Printer) bans(ds []event.Decision) {
	for i := range ds {
		d := &ds[i]
		until := "never"
		if !d.Until.IsZero() {
			until = d.Until.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(p.w, "ban %s until %s scenario=%s origin=%s\n", d.Scope, until, termtext.String(d.Scenario), termtext.String(d.Origin))
	}
}

// Close does nothing: a Printer holds no handle.
func (p *Printer) Close() error { return nil }
