package blocklist

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// memSet is a decision set: one decision a scope (the longer one),
// protected scopes refused.
type memSet struct {
	live      map[netip.Prefix]event.Decision
	protected netip.Prefix
}

func (s *memSet) Get(p netip.Prefix) (event.Decision, bool) { d, ok := s.live[p]; return d, ok }
func (s *memSet) Delete(p netip.Prefix) bool {
	_, ok := s.live[p]
	delete(s.live, p)
	return ok
}
func (s *memSet) Put(d event.Decision) (refused, invalid bool) {
	if !d.Scope.IsValid() {
		return false, true
	}
	if s.protected.Overlaps(d.Scope) {
		return true, false
	}
	if held, ok := s.live[d.Scope]; !ok || d.Until.After(held.Until) {
		s.live[d.Scope] = d // the longer decision wins, as in decision.Set
	}
	return false, false
}

// memStore is a store of rows by id, and the version saved.
type memStore struct {
	rows    map[int64]event.Decision
	next    int64
	version uint64
}

func (s *memStore) AddDecisions(_ context.Context, ds []event.Decision, _ time.Time) ([]int64, error) {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		s.next++
		s.rows[s.next], ids[i] = d, s.next
	}
	return ids, nil
}

func (s *memStore) DeleteDecisions(_ context.Context, ids []int64, origin string) error {
	for _, id := range ids {
		if s.rows[id].Origin == origin {
			delete(s.rows, id)
		}
	}
	return nil
}

func (s *memStore) SaveVersion(_ context.Context, v uint64, _ time.Time) error {
	s.version = v
	return nil
}

func (s *memStore) scopes() []netip.Prefix {
	var out []netip.Prefix
	for _, d := range s.rows {
		out = append(out, d.Scope)
	}
	slices.SortFunc(out, netip.Prefix.Compare)
	return slices.Compact(out)
}

// TestHolderSnapshotReplacesListing: a snapshot bans what it lists (but
// the protected address), unlists what the agent held and it lacks (set
// and every stored row), and adds no second row for a scope already held;
// an update's removals do the same; the version is saved each time. A
// holder of the predictions touches only decisions of its own origin.
func TestHolderSnapshotReplacesListing(t *testing.T) {
	ctx := context.Background()
	pfx := netip.MustParsePrefix
	a, b, c, prot := pfx("192.0.2.1/32"), pfx("192.0.2.2/32"), pfx("2001:db8::/64"), pfx("198.51.100.7/32")
	set := &memSet{live: map[netip.Prefix]event.Decision{}, protected: prot}
	st := &memStore{rows: map[int64]event.Decision{}}
	changed := 0
	h, err := NewHolder(HolderOptions{List: Community, URL: "http://127.0.0.1:1/", PublicKey: make(ed25519.PublicKey, ed25519.PublicKeySize),
		Set: set, Store: st, Clock: clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), Changed: func() { changed++ }})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(ctx, Update{Snapshot: true, Version: 1, Added: []netip.Prefix{a, b, prot}}); err != nil {
		t.Fatal(err)
	}
	if got := st.scopes(); !slices.Equal(got, []netip.Prefix{a, b}) || st.version != 1 || changed != 1 {
		t.Fatalf("after the first snapshot: stored %v, version %d, changed %d", got, st.version, changed)
	}
	if d, ok := set.Get(a); !ok || d.Origin != event.OriginCommunity || d.Scenario != CommunityScenario || d.Duration != Duration {
		t.Fatalf("a's decision: %+v %v", d, ok)
	}
	if _, ok := set.Get(prot); ok {
		t.Fatal("the protected address was banned")
	}

	// A longer local ban on c is not the list's: unlisting never lifts it.
	set.live[c] = event.Decision{Scope: c, Origin: event.OriginHerd, Until: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := h.Apply(ctx, Update{Snapshot: true, Version: 5, Added: []netip.Prefix{b, c}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Get(a); ok {
		t.Error("a, absent from the second snapshot, is still banned")
	}
	if got := st.scopes(); !slices.Equal(got, []netip.Prefix{b, c}) || len(st.rows) != 2 || st.version != 5 {
		t.Fatalf("after the second snapshot: stored %v (%d rows), version %d", got, len(st.rows), st.version)
	}

	if err := h.Apply(ctx, Update{Version: 6, From: 5, Removed: []netip.Prefix{b, c, prot}}); err != nil {
		t.Fatal(err)
	}
	if len(st.rows) != 0 || st.version != 6 {
		t.Fatalf("after removing every scope: %d rows, version %d", len(st.rows), st.version)
	}
	if _, ok := set.Get(b); ok {
		t.Error("b still banned after its removal")
	}
	if _, ok := set.Get(c); !ok {
		t.Error("unlisting c lifted a decision of another origin")
	}
}
