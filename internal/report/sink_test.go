package report

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// mapSet is a Set over a map; never is refused.
type mapSet struct {
	m     map[netip.Prefix]event.Decision
	never netip.Prefix
}

func (s *mapSet) Get(p netip.Prefix) (event.Decision, bool) { d, ok := s.m[p]; return d, ok }
func (s *mapSet) Put(d event.Decision) (bool, bool) {
	if d.Scope == s.never {
		return false, true
	}
	if old, ok := s.m[d.Scope]; ok && !d.Until.After(old.Until) {
		return false, false
	}
	s.m[d.Scope] = d
	return true, false
}
func (s *mapSet) DeleteEnding(p netip.Prefix, until time.Time) bool {
	if d, ok := s.m[p]; ok && d.Until.Equal(until) {
		delete(s.m, p)
		return true
	}
	return false
}

func dec(scope string, until time.Time, origin string) event.Decision {
	return event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix(scope), Until: until, Origin: origin, Scenario: "ssh-bf"}
}

// TestSetSink: a central decision that ends within EchoSlack of this
// host's own is not taken (the host's own ban echoed back); a protected
// scope is refused; a central deletion lifts only the central's decision,
// and puts back this host's own ban the central's had outlasted.
func TestSetSink(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	own := dec("192.0.2.1/32", t0.Add(time.Hour), event.OriginHerd)
	set := &mapSet{m: map[netip.Prefix]event.Decision{own.Scope: own}, never: netip.MustParsePrefix("192.0.2.9/32")}
	var changed []netip.Prefix
	s := &SetSink{Set: set, Changed: func(d *event.Decision) { changed = append(changed, d.Scope) },
		Own: func(context.Context) ([]event.Decision, error) { return []event.Decision{own}, nil }}

	echo := dec("192.0.2.1/32", t0.Add(time.Hour+time.Second), event.OriginHerd)
	longer := dec("192.0.2.1/32", t0.Add(3*time.Hour), "central")
	other := dec("192.0.2.2/32", t0.Add(time.Hour), "central")
	prot := dec("192.0.2.9/32", t0.Add(time.Hour), "central")
	s.Add([]event.Decision{echo})
	if d, _ := set.Get(own.Scope); d != own || len(changed) != 0 {
		t.Fatalf("an echo of this host's own ban replaced it: %+v, changed %v", d, changed)
	}
	s.Add([]event.Decision{longer, other, prot})
	if len(changed) != 2 || set.m[longer.Scope] != longer || set.m[other.Scope] != other {
		t.Fatalf("changed %v, set %v", changed, set.m)
	}
	if _, ok := set.m[prot.Scope]; ok {
		t.Fatal("a protected scope entered the set")
	}
	// A deletion that does not match what the set holds lifts nothing.
	s.Delete([]event.Decision{dec("192.0.2.2/32", t0.Add(2*time.Hour), "central")})
	if _, ok := set.m[other.Scope]; !ok {
		t.Fatal("a deletion of another decision lifted the scope")
	}
	s.Delete([]event.Decision{longer, other})
	if d, ok := set.m[own.Scope]; !ok || d != own {
		t.Fatalf("this host's own ban was not put back: %+v %v", d, ok)
	}
	if _, ok := set.m[other.Scope]; ok {
		t.Fatal("the central's decision was not lifted")
	}
}
