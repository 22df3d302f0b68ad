package scenario

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

var mailServices = []string{"smtp", "imap", "pop3", "sieve", "mail"}

// trapSpec is a trap scenario like the default mail-trap-login: one failed
// login as a listed name, unless the name logged in within ttl.
func trapSpec(ttl time.Duration) []rules.ScenarioSpec {
	return []rules.ScenarioSpec{{Name: "trap", Type: "trigger", Filter: rules.FilterSpec{
		Kinds: []string{"auth_failure"}, Services: mailServices,
		Users: []string{"admin", "support", "test", "user*"}, UnlessUserSeenOK: ttl,
	}}}
}

func mailLogin(kind event.Kind, service, src string, at time.Time, user string) *event.Event {
	return &event.Event{Time: at, Source: netip.MustParseAddr(src), Service: service, Kind: kind, User: []byte(user), Bytes: -1}
}

func okLogin(service, src string, at time.Time, user string) *event.Event {
	return mailLogin(event.KindAuthSuccess, service, src, at, user)
}

func badLogin(service, src string, at time.Time, user string) *event.Event {
	return mailLogin(event.KindAuthFailure, service, src, at, user)
}

// TestTrapNameNeverSeenFires: a trap name nobody logged in with is caught
// at its first failure, whatever successes other names had.
func TestTrapNameNeverSeenFires(t *testing.T) {
	e := mustCompile(t, trapSpec(30*24*time.Hour), Options{})
	a := pourAll(e,
		okLogin("imap", "198.51.100.7", t0, "alice@example.org"),
		okLogin("imap", "198.51.100.7", t0, "administrator@example.org"), // not "admin"
		badLogin("smtp", "203.0.113.20", t0.Add(time.Minute), "admin@example.org"))
	if len(a) != 1 || a[0].Source != netip.MustParseAddr("203.0.113.20") {
		t.Fatalf("alerts %+v, want one on 203.0.113.20", a)
	}
}

// TestTrapNameSeenOKIsNoTrap: once a name logged in (from any source, on
// any service of the filter, under any domain and case), its failures are
// not a trap's catch until the memory expires.
func TestTrapNameSeenOKIsNoTrap(t *testing.T) {
	ttl := 30 * 24 * time.Hour
	e := mustCompile(t, trapSpec(ttl), Options{})
	if a := pourAll(e, okLogin("imap", "198.51.100.7", t0, "Admin@Example.org")); len(a) != 0 {
		t.Fatalf("a success alerted: %+v", a)
	}
	for i, ev := range []*event.Event{
		badLogin("imap", "198.51.100.8", t0.Add(5*time.Minute), "admin@example.org"), // the phone
		badLogin("smtp", "198.51.100.8", t0.Add(10*time.Minute), "admin"),            // another service, no domain
		badLogin("pop3", "203.0.113.5", t0.Add(ttl), "ADMIN@example.net"),            // any source, the last instant
	} {
		if a := pourAll(e, ev); len(a) != 0 {
			t.Errorf("failure %d alerted: %+v", i, a)
		}
	}
	if a := pourAll(e, badLogin("imap", "203.0.113.5", t0.Add(ttl+time.Second), "admin")); len(a) != 1 {
		t.Errorf("after the memory expired: %d alerts, want 1", len(a))
	}
	// Other trap names stay traps.
	if a := pourAll(e, badLogin("imap", "203.0.113.6", t0.Add(time.Hour), "support")); len(a) != 1 {
		t.Errorf("another trap name: %d alerts, want 1", len(a))
	}
}

// TestTrapSuccessLaterThanFailureCounts: lines out of order (a success
// logged after a failure it precedes in time is still a success).
func TestTrapSuccessLaterThanFailureCounts(t *testing.T) {
	e := mustCompile(t, trapSpec(time.Hour), Options{})
	pourAll(e, okLogin("imap", "198.51.100.7", t0.Add(time.Minute), "test"))
	if a := pourAll(e, badLogin("imap", "198.51.100.8", t0, "test")); len(a) != 0 {
		t.Fatalf("alerts %+v", a)
	}
}

// TestTrapSuccessOnAnotherFamilyDoesNotCount: an SSH login as "admin" says
// nothing about a mailbox "admin".
func TestTrapSuccessOnAnotherFamilyDoesNotCount(t *testing.T) {
	e := mustCompile(t, trapSpec(time.Hour), Options{})
	a := pourAll(e,
		okLogin("ssh", "198.51.100.7", t0, "admin"),
		badLogin("imap", "203.0.113.20", t0.Add(time.Second), "admin"))
	if len(a) != 1 {
		t.Fatalf("%d alerts, want 1", len(a))
	}
}

// TestTrapFamiliesAreTheFiltersServices: two scenarios with different
// service lists keep their own memories; a filter naming no service learns
// from any.
func TestTrapFamiliesAreTheFiltersServices(t *testing.T) {
	specs := []rules.ScenarioSpec{
		{Name: "imap-only", Type: "trigger", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"imap"}, UnlessUserSeenOK: time.Hour}},
		{Name: "smtp-only", Type: "trigger", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"smtp"}, UnlessUserSeenOK: time.Hour}},
		{Name: "any", Type: "trigger", Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, UnlessUserSeenOK: time.Hour}},
	}
	e := mustCompile(t, specs, Options{})
	pourAll(e, okLogin("imap", "198.51.100.7", t0, "bob"))
	a := pourAll(e,
		badLogin("imap", "203.0.113.1", t0.Add(time.Second), "bob"),
		badLogin("smtp", "203.0.113.2", t0.Add(time.Second), "bob"))
	if len(a) != 1 || a[0].Scenario != "smtp-only" {
		t.Fatalf("alerts %+v, want smtp-only only", a)
	}
}

// TestKnownUsersIsBounded: however many names log in, the table keeps its
// size; the names that logged in last are remembered, the least recent are
// forgotten first.
func TestKnownUsersIsBounded(t *testing.T) {
	e := mustCompile(t, trapSpec(24*time.Hour), Options{MaxKnownUsers: 64})
	if got := len(e.known.slots); got != 64 {
		t.Fatalf("%d slots, want 64", got)
	}
	const n = 10_000
	for i := range n {
		pourAll(e, okLogin("imap", "198.51.100.7", t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("user%05d", i)))
	}
	if got := e.known.len(); got > 64 {
		t.Fatalf("%d names remembered, want ≤ 64", got)
	}
	if got := len(e.known.slots); got != 64 {
		t.Fatalf("the table grew to %d slots", got)
	}
	at := t0.Add(n * time.Second)
	if a := pourAll(e, badLogin("imap", "198.51.100.8", at, fmt.Sprintf("user%05d", n-1))); len(a) != 0 {
		t.Errorf("the latest name was forgotten: %+v", a)
	}
	if a := pourAll(e, badLogin("imap", "198.51.100.9", at, "user00000")); len(a) != 1 {
		t.Errorf("the first of %d names is still remembered in 64 slots", n)
	}
}

// TestKnownUsersEvictsTheLeastRecent: in a full window, a refreshed name
// keeps its one slot and a new name replaces the one whose latest success
// is oldest.
func TestKnownUsersEvictsTheLeastRecent(t *testing.T) {
	e := mustCompile(t, trapSpec(time.Hour), Options{MaxKnownUsers: 8})
	k := e.known
	h := func(i int) uint64 { return uint64(i)<<3 | 1 } // all in one window (mask 7)
	at := func(m int) int64 { return t0.Add(time.Duration(m) * time.Minute).UnixNano() }
	for i := range knownProbe {
		k.put(h(i), at(i))
	}
	k.put(h(0), at(10)) // refresh the oldest
	k.put(h(99), at(11))
	has := func(x uint64) bool {
		for _, s := range k.slots {
			if s.h == x {
				return true
			}
		}
		return false
	}
	if k.len() != 8 || !has(h(0)) || has(h(1)) || !has(h(99)) || !has(h(2)) {
		t.Fatalf("after eviction: %d names, h0 %v h1 %v h99 %v h2 %v; want 8, h1 evicted", k.len(), has(h(0)), has(h(1)), has(h(99)), has(h(2)))
	}
}

// TestKnownUsersOnlyWhenAsked: an engine whose filters do not ask holds no
// table and learns nothing.
func TestKnownUsersOnlyWhenAsked(t *testing.T) {
	e := mustCompile(t, defaultLike(), Options{})
	if e.known != nil {
		t.Fatal("a table without unless_user_seen_ok")
	}
	pourAll(e, okLogin("ssh", "198.51.100.7", t0, "root"))
}

// TestKnownUsersDoNotAllocate: learning a success and checking a failure
// cost no allocation.
func TestKnownUsersDoNotAllocate(t *testing.T) {
	e := mustCompile(t, append(trapSpec(time.Hour), defaultLike()...), Options{})
	long := make([]byte, 300) // longer than key's buffer
	for i := range long {
		long[i] = 'A' + byte(i%26)
	}
	ok := okLogin("imap", "198.51.100.7", t0, string(long)+"@example.org")
	bad := badLogin("smtp", "203.0.113.1", t0, "admin")
	poured := make([]int, 0, 32)
	alerts := make([]event.Alert, 0, 32)
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		i++
		ok.Time = t0.Add(time.Duration(i) * time.Millisecond)
		bad.Time = ok.Time
		poured, alerts = e.Pour(ok, poured[:0], alerts[:0])
		poured, alerts = e.Pour(bad, poured[:0], alerts[:0])
	})
	if n != 0 {
		t.Errorf("Pour allocates %v times per pair", n)
	}
	if e.known.len() != 1 {
		t.Errorf("%d names, want 1", e.known.len())
	}
}

// TestAdoptKeepsKnownUsers: a reload remembers who logged in.
func TestAdoptKeepsKnownUsers(t *testing.T) {
	old := mustCompile(t, trapSpec(time.Hour), Options{})
	pourAll(old, okLogin("imap", "198.51.100.7", t0, "admin"))
	specs := trapSpec(2 * time.Hour) // changed: the scenario starts fresh, the names carry on
	e := mustCompile(t, specs, Options{})
	e.Adopt(old)
	if a := pourAll(e, badLogin("imap", "198.51.100.8", t0.Add(90*time.Minute), "admin")); len(a) != 0 {
		t.Fatalf("the reloaded engine forgot admin: %+v", a)
	}
	if a := pourAll(e, badLogin("imap", "198.51.100.8", t0.Add(90*time.Minute), "support")); len(a) != 1 {
		t.Fatalf("%d alerts for a trap name, want 1", len(a))
	}
}

func TestUnlessUserSeenOKBounds(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, maxDuration + time.Second} {
		if _, err := Compile(trapSpec(d), Options{}); err == nil {
			t.Errorf("unless_user_seen_ok %v accepted", d)
		}
	}
}
