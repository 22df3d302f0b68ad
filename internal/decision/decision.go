// Package decision keeps the live decision set: one decision per scope,
// merged, expired on an injected clock, and handed to subscribers as batched
// diffs.
//
// The set is the agent's single view of what is banned now. Detections, the
// store's stream (decisions added or deleted from the command line) and
// expiry all change it; enforcers subscribe and receive, per subscriber,
// the diff since they last looked, merged: a slow subscriber never blocks a
// change, it gets the sum of the changes later.
package decision

import (
	"container/heap"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
)

// Change is the batched diff a subscriber takes (event.Change).
type Change = event.Change

// Verdict says what Add did with one decision.
type Verdict uint8

// The verdicts of Add.
const (
	Added    Verdict = iota + 1 // a new scope
	Extended                    // the scope was live; the new decision lasts longer and replaced it
	Kept                        // the scope was live for at least as long; nothing changed
	Refused                     // the never-ban set covers part of the scope
	Invalid                     // an invalid scope, a simulated or non-ban decision, or already expired
)

var verdictNames = [...]string{"", "added", "extended", "kept", "refused", "invalid"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "invalid"
}

// Options configures a Set.
type Options struct {
	// NeverBan is checked again on every Add: a decision that reaches the
	// set from any path (a profile, the command line, the store) against a
	// protected address is refused. Nil protects loopback only.
	NeverBan *ipx.NeverBan
	// Time gives the time for expiry; nil means clock.Real.
	Time clock.Clock
}

// Set is the live decision set. Its methods are safe for concurrent use;
// each holds the set's lock for a map operation per decision.
type Set struct {
	mu   sync.Mutex
	nb   *ipx.NeverBan
	now  func() time.Time
	live map[netip.Prefix]event.Decision
	exp  expiries
	subs []*Subscription
}

// New returns an empty Set.
func New(o Options) *Set {
	return &Set{nb: o.NeverBan, now: clock.Or(o.Time).Now, live: map[netip.Prefix]event.Decision{}}
}

// Len returns how many scopes are live.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Get returns the live decision on scope (masked), if any.
func (s *Set) Get(scope netip.Prefix) (event.Decision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.live[scope.Masked()]
	return d, ok
}

// Live returns a copy of the live decisions, ordered by scope.
func (s *Set) Live() []event.Decision {
	s.mu.Lock()
	out := make([]event.Decision, 0, len(s.live))
	for _, d := range s.live {
		out = append(out, d)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b event.Decision) int { return comparePrefix(a.Scope, b.Scope) })
	return out
}

// Add merges one decision into the set and reports what became of it. Only
// ban decisions that are not simulated, whose scope is valid and whose Until
// is zero (no expiry) or after now enter the set; a scope already live keeps
// the decision that ends last. Subscribers see added and extended scopes.
func (s *Set) Add(d event.Decision) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(d, s.now())
}

// AddAll merges ds as Add does, under one lock, and returns how many were
// added or extended.
func (s *Set) AddAll(ds []event.Decision) (changed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, d := range ds {
		if v := s.add(d, now); v == Added || v == Extended {
			changed++
		}
	}
	return changed
}

func (s *Set) add(d event.Decision, now time.Time) Verdict {
	if d.Type != event.Ban || d.Simulated || !d.Scope.IsValid() {
		return Invalid
	}
	d.Scope = d.Scope.Masked()
	if d.Scope.Addr().Is4In6() {
		return Invalid // the parsers unmap; a mapped scope would never match a packet
	}
	if !d.Until.IsZero() && !d.Until.After(now) {
		return Invalid
	}
	if s.nb.Overlaps(d.Scope) {
		return Refused
	}
	v := Added
	if old, ok := s.live[d.Scope]; ok {
		if !later(d.Until, old.Until) {
			return Kept
		}
		v = Extended
		s.publish(func(p *pending) { p.del(d.Scope) })
	}
	s.live[d.Scope] = d
	if !d.Until.IsZero() {
		heap.Push(&s.exp, expiry{d.Until, d.Scope})
	}
	s.publish(func(p *pending) { p.add(d) })
	return v
}

// later reports whether until a ends after b; a zero time never ends.
func later(a, b time.Time) bool {
	switch {
	case b.IsZero():
		return false
	case a.IsZero():
		return true
	}
	return a.After(b)
}

// Delete removes the decision on scope (masked) and reports whether there
// was one.
func (s *Set) Delete(scope netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(scope.Masked(), time.Time{}, false)
}

// DeleteEnding removes the decision on scope only if it ends no later than
// until (a zero until: no expiry, so any decision). It is how a deletion
// seen in the store's stream is applied: a newer, longer decision on the
// same scope that the deleted row did not cover stays.
func (s *Set) DeleteEnding(scope netip.Prefix, until time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(scope.Masked(), until, true)
}

func (s *Set) delete(scope netip.Prefix, until time.Time, bounded bool) bool {
	d, ok := s.live[scope]
	if !ok || bounded && later(d.Until, until) {
		return false
	}
	delete(s.live, scope)
	s.publish(func(p *pending) { p.del(scope) })
	return true
}

// Expire removes the decisions whose Until is at or before the clock's now
// and returns them. Its cost is logarithmic per expired decision, whatever
// the set's size.
func (s *Set) Expire() []event.Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []event.Decision
	for len(s.exp) > 0 && !s.exp[0].until.After(now) {
		e := heap.Pop(&s.exp).(expiry)
		d, ok := s.live[e.scope]
		if !ok || !d.Until.Equal(e.until) {
			continue // deleted or extended since: a stale entry
		}
		delete(s.live, e.scope)
		out = append(out, d)
		s.publish(func(p *pending) { p.del(e.scope) })
	}
	return out
}

// Subscribe returns a subscription that receives every change made after
// this call. Pass the set's Live decisions to the enforcer first (its
// reconcile), then follow the subscription: a change made in between is in
// both, which applying twice makes no different.
func (s *Set) Subscribe() *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &Subscription{set: s, ready: make(chan struct{}, 1), p: newPending()}
	s.subs = append(s.subs, sub)
	return sub
}

// publish records one change in every subscription and wakes them. It never
// blocks.
func (s *Set) publish(f func(*pending)) {
	for _, sub := range s.subs {
		f(&sub.p)
		select {
		case sub.ready <- struct{}{}:
		default:
		}
	}
}

// Subscription is one subscriber's view of the set's changes.
type Subscription struct {
	set   *Set
	ready chan struct{}
	p     pending // guarded by set.mu
}

// Ready returns a channel that receives a value when changes are pending.
// Several changes may be pending for one receive; Take returns them all.
func (sub *Subscription) Ready() <-chan struct{} { return sub.ready }

// Take returns the changes since the last Take, merged (a scope added then
// deleted is only deleted; the last of several adds wins), scopes in
// ascending order, and clears them. It returns an empty Change when there
// are none.
func (sub *Subscription) Take() Change {
	sub.set.mu.Lock()
	defer sub.set.mu.Unlock()
	c := sub.p.change()
	sub.p = newPending()
	return c
}

// Close stops the subscription; the set forgets it.
func (sub *Subscription) Close() {
	s := sub.set
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = slices.DeleteFunc(s.subs, func(x *Subscription) bool { return x == sub })
}

// pending is a subscriber's merged diff: the scopes deleted at some point
// since the last Take, and the decision each scope was last added with (if
// no delete followed).
type pending struct {
	deleted map[netip.Prefix]bool
	added   map[netip.Prefix]event.Decision
}

func newPending() pending {
	return pending{deleted: map[netip.Prefix]bool{}, added: map[netip.Prefix]event.Decision{}}
}

func (p *pending) del(scope netip.Prefix) {
	p.deleted[scope] = true
	delete(p.added, scope)
}

func (p *pending) add(d event.Decision) { p.added[d.Scope] = d }

func (p *pending) change() Change {
	var c Change
	for s := range p.deleted {
		c.Delete = append(c.Delete, s)
	}
	for _, d := range p.added {
		c.Add = append(c.Add, d)
	}
	slices.SortFunc(c.Delete, comparePrefix)
	slices.SortFunc(c.Add, func(a, b event.Decision) int { return comparePrefix(a.Scope, b.Scope) })
	return c
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// expiry is a heap entry: scope ends at until, unless it was deleted or
// extended since (checked when it is popped).
type expiry struct {
	until time.Time
	scope netip.Prefix
}

type expiries []expiry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
