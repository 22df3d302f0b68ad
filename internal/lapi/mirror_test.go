package lapi

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

func rec(id int64, scope string, typ event.DecisionType, until time.Time) store.DecisionRecord {
	return store.DecisionRecord{ID: id, Decision: event.Decision{Type: typ, Scope: mustPrefix(scope), Until: until}}
}

func TestMirrorNestedRanges(t *testing.T) {
	m := newMirror()
	later := t0.Add(time.Hour)
	now := t0.UnixNano()
	a := netip.MustParseAddr("198.51.100.7")
	m.apply([]store.DecisionRecord{
		rec(1, "198.51.100.0/24", event.Ban, later),
		rec(2, "198.51.0.0/16", event.Ban, t0.Add(time.Minute)),
		rec(3, "198.51.100.7", event.Captcha, later),
		rec(4, "198.51.100.0/24", event.Ban, t0.Add(2*time.Hour)), // a second ban on one scope
	}, nil, 4)
	if !m.banned(a, now) {
		t.Fatal("address in a banned /24 inside a banned /16: not banned")
	}
	if got := m.lens4.inUse; len(got) != 2 || got[0] != 24 || got[1] != 16 {
		t.Errorf("ban lengths in use %v, want [24 16]", got)
	}
	m.apply(nil, []store.DecisionRecord{{ID: 1}}, 5)
	if !m.banned(a, t0.Add(90*time.Minute).UnixNano()) {
		t.Error("after deleting one of two bans on the /24, the other (until +2h) no longer counts")
	}
	m.apply(nil, []store.DecisionRecord{{ID: 4}}, 6)
	if !m.banned(a, now) || m.banned(a, t0.Add(2*time.Minute).UnixNano()) {
		t.Error("only the /16 left: want banned until +1m, then not")
	}
	m.apply(nil, []store.DecisionRecord{{ID: 2}, {ID: 99}}, 7)
	if m.banned(a, now) || len(m.lens4.inUse) != 0 || len(m.deny) != 0 {
		t.Errorf("no bans left: banned %v, lengths %v, deny %v", m.banned(a, now), m.lens4.inUse, m.deny)
	}
	if ids := m.covering(nil, a); len(ids) != 1 || ids[0] != 3 {
		t.Errorf("covering %v, want the captcha [3]", ids)
	}
	if m.cursor != 7 {
		t.Errorf("cursor %d, want 7", m.cursor)
	}
}

func TestMirrorFamiliesDoNotMix(t *testing.T) {
	m := newMirror()
	m.apply([]store.DecisionRecord{rec(1, "::/0", event.Ban, t0.Add(time.Hour))}, nil, 1)
	if m.banned(netip.MustParseAddr("192.0.2.1"), t0.UnixNano()) {
		t.Error("an IPv6 ::/0 ban covers an IPv4 address")
	}
	if !m.banned(netip.MustParseAddr("2001:db8::1"), t0.UnixNano()) {
		t.Error("::/0 does not cover 2001:db8::1")
	}
	hi, lo := halves(netip.MustParseAddr("192.0.2.0"))
	if k1, _ := keyOf(mustPrefix("::ffff:192.0.2.0/120")); k1 != maskKey(hi, lo, 24, false) {
		t.Errorf("an IPv4-mapped prefix is not keyed as its IPv4 form: %+v", k1)
	}
}

// racyStore returns from LiveDecisions a decision added after the cursor and
// deleted before DecisionsSince runs, as a change between the two reads
// would: it must not stay in the mirror.
type racyStore struct {
	*store.Store
	ghost store.DecisionRecord
}

func (r *racyStore) LiveDecisions(ctx context.Context, now time.Time) ([]store.DecisionRecord, error) {
	ds, err := r.Store.LiveDecisions(ctx, now)
	return append(ds, r.ghost), err
}

func TestLoadDropsDecisionsGoneBetweenReads(t *testing.T) {
	f := newFixture(t, Options{})
	kept := f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd")
	ghost := rec(kept+1, "192.0.2.2", event.Ban, t0.Add(time.Hour))
	srv, err := New(Options{Store: &racyStore{Store: f.st, ghost: ghost}, Time: clock.Func(f.clock.Now), Logger: f.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.m.live[ghost.ID]; ok || len(srv.m.live) != 1 {
		t.Errorf("mirror holds %d decisions (ghost %v), want only %d", len(srv.m.live), ok, kept)
	}
}
