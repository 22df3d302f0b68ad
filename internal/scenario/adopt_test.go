package scenario

import (
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// TestSpecHashIgnoresPositionOnly: a rule moved in its file keeps its
// hash; any change of what it does gives another.
func TestSpecHashIgnoresPositionOnly(t *testing.T) {
	base := defaultLike()[2] // distinct, with a filter
	moved := base
	moved.Pos = rules.Pos{File: "elsewhere.yaml", Line: 99}
	if SpecHash(&base) != SpecHash(&moved) {
		t.Error("moving a rule changed its hash")
	}
	no := false
	for name, change := range map[string]func(*rules.ScenarioSpec){
		"capacity":    func(s *rules.ScenarioSpec) { s.Capacity++ },
		"leak":        func(s *rules.ScenarioSpec) { s.Leak++ },
		"filter":      func(s *rules.ScenarioSpec) { s.Filter.NotReasons = []string{"x"} },
		"remedy":      func(s *rules.ScenarioSpec) { s.Remedy = &no },
		"ipv6 prefix": func(s *rules.ScenarioSpec) { s.IPv6Prefix = 48 },
		"name":        func(s *rules.ScenarioSpec) { s.Name += "2" },
	} {
		c := base
		c.Filter.NotReasons = slices.Clone(base.Filter.NotReasons)
		change(&c)
		if SpecHash(&base) == SpecHash(&c) {
			t.Errorf("changing the %s kept the hash", name)
		}
	}
}

// TestAdoptKeepsBucketsOfUnchangedScenarios: a leaky bucket one event from
// overflow and a distinct bucket's values carry over to an engine compiled
// from specs in another order with one scenario changed and one added; the
// changed scenario starts empty.
func TestAdoptKeepsBucketsOfUnchangedScenarios(t *testing.T) {
	specs := []rules.ScenarioSpec{
		{Name: "leaky", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}}, Capacity: 3, Leak: time.Hour},
		{Name: "users", Type: "distinct", Distinct: "user", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}}, Capacity: 3, Leak: time.Hour},
		{Name: "changed", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}}, Capacity: 3, Leak: time.Hour},
	}
	old := mustCompile(t, specs, Options{})
	for i, u := range []string{"a", "b", "c"} {
		pourAll(old, sshFail("192.0.2.1", t0.Add(time.Duration(i)*time.Second), u))
	}
	next := []rules.ScenarioSpec{
		{Name: "added", Filter: rules.FilterSpec{Kinds: []string{"scan"}}, Type: "trigger"},
		specs[2], specs[1], specs[0],
	}
	next[1].Capacity = 4
	e := mustCompile(t, next, Options{})
	ad := e.Adopt(old)
	if !slices.Equal(ad.Kept, []string{"leaky", "users"}) || !slices.Equal(ad.Fresh, []string{"added", "changed"}) ||
		!slices.Equal(ad.Dropped, []string{"changed"}) || ad.Buckets != 2 {
		t.Fatalf("adoption = %+v", ad)
	}
	// A repeated user does not count in the kept distinct bucket; a new one
	// overflows it, as the fourth failure overflows the kept leaky bucket.
	got := pourAll(e, sshFail("192.0.2.1", t0.Add(5*time.Second), "a"))
	if names := alertNames(got); !slices.Equal(names, []string{"leaky"}) {
		t.Fatalf("4th failure (repeated user) alerted %v, want leaky only", names)
	}
	got = pourAll(e, sshFail("192.0.2.1", t0.Add(6*time.Second), "d"))
	if names := alertNames(got); !slices.Equal(names, []string{"users"}) {
		t.Fatalf("new user alerted %v, want users (changed started empty: 2 of 4)", names)
	}
}

func alertNames(as []event.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Scenario)
	}
	slices.Sort(out)
	return out
}
