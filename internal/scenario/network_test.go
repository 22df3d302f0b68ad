package scenario

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// cardTesting is a network scenario shaped like shop.yaml's: more than
// capacity distinct sources of one network in a burst.
func cardTesting(capacity int, leak, window time.Duration) rules.ScenarioSpec {
	return rules.ScenarioSpec{Name: "card-testing", Type: "distinct", Distinct: "source", GroupBy: "network",
		Capacity: capacity, Leak: leak, Window: window,
		Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"shop"}}}
}

func paymentFailed(src string, at time.Time) *event.Event {
	return &event.Event{Time: at, Source: netip.MustParseAddr(src), Service: "shop", Kind: event.KindAuthFailure,
		Reason: "payment_failed", Bytes: -1}
}

func alertSources(as []event.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Source.String())
	}
	slices.Sort(out)
	return out
}

func TestNetworkOverflowAlertsEverySource(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(10, 30*time.Second, 0)}, Options{})
	var evs []*event.Event
	var want []string
	for i := range 11 {
		src := fmt.Sprintf("198.51.100.%d", 10+i)
		want = append(want, src)
		evs = append(evs, paymentFailed(src, t0.Add(time.Duration(i)*800*time.Millisecond)))
	}
	// The first source fails a second time: it is counted once, and its
	// alert says two events.
	evs = slices.Insert(evs, 3, paymentFailed("198.51.100.10", t0.Add(2*time.Second)))
	got := pourAll(e, evs[:len(evs)-1]...)
	if len(got) != 0 {
		t.Fatalf("10 sources alerted %v", alertSources(got))
	}
	got = pourAll(e, evs[len(evs)-1])
	slices.Sort(want)
	if !slices.Equal(alertSources(got), want) {
		t.Fatalf("alerts on %v, want every source %v", alertSources(got), want)
	}
	for _, a := range got {
		if a.Scenario != "card-testing" || !a.Remedy || a.Scope != netip.PrefixFrom(a.Source, 32) {
			t.Errorf("alert %+v: want scenario card-testing, remedy, scope the source alone", a)
		}
		wantEvents := 1
		if a.Source.String() == "198.51.100.10" {
			wantEvents = 2
		}
		if a.Events != wantEvents || a.Last != t0.Add(8*time.Second) {
			t.Errorf("%v: events %d last %v, want %d and the overflow's time", a.Source, a.Events, a.Last, wantEvents)
		}
	}
	// The network is silenced for the blackhole (one minute), then counts
	// afresh.
	var more []*event.Event
	for i := range 11 {
		more = append(more, paymentFailed(fmt.Sprintf("198.51.100.%d", 100+i), t0.Add(10*time.Second+time.Duration(i)*time.Second)))
	}
	if got := pourAll(e, more...); len(got) != 0 {
		t.Fatalf("during the blackhole: alerts on %v", alertSources(got))
	}
	for i, ev := range more {
		ev.Time = t0.Add(2*time.Minute + time.Duration(i)*time.Second)
	}
	if got := pourAll(e, more...); len(got) != 11 {
		t.Fatalf("after the blackhole: %d alerts, want 11", len(got))
	}
}

func TestNetworkCountsDistinctSourcesOfOneNetwork(t *testing.T) {
	spec := cardTesting(3, 30*time.Second, 0)
	tests := []struct {
		name    string
		sources []string
		alerts  int
	}{
		{"one source failing often", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1"}, 0},
		{"four addresses of one /24", []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}, 4},
		{"four /24s", []string{"192.0.2.1", "198.51.100.1", "203.0.113.1", "192.0.3.1"}, 0},
		{"IPv4-mapped and plain are one source", []string{"192.0.2.1", "::ffff:192.0.2.1", "192.0.2.2", "192.0.2.3"}, 0},
		{"four /64s of one /48", []string{"2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:4::1"}, 4},
		{"one /64 is one source", []string{"2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:1::3", "2001:db8:1:1::4"}, 0},
		{"four /48s", []string{"2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1", "2001:db8:4::1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, []rules.ScenarioSpec{spec}, Options{})
			var evs []*event.Event
			for i, s := range tt.sources {
				evs = append(evs, paymentFailed(s, t0.Add(time.Duration(i)*time.Second)))
			}
			if got := pourAll(e, evs...); len(got) != tt.alerts {
				t.Fatalf("%d alerts (%v), want %d", len(got), alertSources(got), tt.alerts)
			}
		})
	}
}

func TestNetworkIPv6AlertsAreScopedToTheSourcesPrefix(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(1, 30*time.Second, 0)}, Options{})
	got := pourAll(e, paymentFailed("2001:db8:1:1::7", t0), paymentFailed("2001:db8:1:2::7", t0.Add(time.Second)))
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:1:1::/64"), netip.MustParsePrefix("2001:db8:1:2::/64")}
	if len(got) != 2 || got[0].Scope != want[0] || got[1].Scope != want[1] {
		t.Fatalf("alerts %+v, want scopes %v", got, want)
	}
}

func TestNetworkLeaksAndWindows(t *testing.T) {
	// Sources coming slower than the leak never fill the bucket.
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 30*time.Second, 0)}, Options{})
	var evs []*event.Event
	for i := range 50 {
		evs = append(evs, paymentFailed(fmt.Sprintf("192.0.2.%d", i+1), t0.Add(time.Duration(i)*31*time.Second)))
	}
	if got := pourAll(e, evs...); len(got) != 0 {
		t.Fatalf("one source every 31s with leak 30s: alerts on %v", alertSources(got))
	}
	// A window counts from the fill's first event.
	e = mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 0, time.Minute)}, Options{})
	evs = evs[:0]
	for i := range 4 {
		evs = append(evs, paymentFailed(fmt.Sprintf("192.0.2.%d", i+1), t0.Add(time.Duration(i)*25*time.Second)))
	}
	if got := pourAll(e, evs...); len(got) != 0 {
		t.Fatalf("4 sources over 75s, window 1m: alerts on %v", alertSources(got))
	}
	for i, ev := range evs {
		ev.Time = t0.Add(time.Hour + time.Duration(i)*15*time.Second)
	}
	if got := pourAll(e, evs...); len(got) != 4 {
		t.Fatalf("4 sources within 45s, window 1m: %d alerts, want 4", len(got))
	}
}

// geoTable is a GeoLookup from a fixed table.
type geoTable map[netip.Addr]event.Geo

func (g geoTable) Lookup(a netip.Addr) event.Geo { return g[a] }

func TestNetworkIsTheAutonomousSystemWhenKnown(t *testing.T) {
	spread := []string{"192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8:5::1"}
	geo := geoTable{}
	for _, s := range spread {
		geo[netip.MustParseAddr(s)] = event.Geo{ASN: 64500}
	}
	// Through Options.Geo, and through an event whose Geo the caller filled.
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 30*time.Second, 0)}, Options{Geo: geo})
	var evs []*event.Event
	for i, s := range spread {
		evs = append(evs, paymentFailed(s, t0.Add(time.Duration(i)*time.Second)))
	}
	if got := pourAll(e, evs...); len(got) != 4 {
		t.Fatalf("4 sources of one AS (Options.Geo): %d alerts, want 4", len(got))
	}
	e = mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 30*time.Second, 0)}, Options{})
	for _, ev := range evs {
		ev.Geo = event.Geo{ASN: 64500}
	}
	if got := pourAll(e, evs...); len(got) != 4 {
		t.Fatalf("4 sources of one AS (Event.Geo): %d alerts, want 4", len(got))
	}
	// Two systems sharing a /24 are two networks.
	e = mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 30*time.Second, 0)}, Options{})
	for i := range evs {
		evs[i] = paymentFailed(fmt.Sprintf("192.0.2.%d", i+1), t0.Add(time.Duration(i)*time.Second))
		evs[i].Geo = event.Geo{ASN: 64500 + uint32(i%2)}
	}
	if got := pourAll(e, evs...); len(got) != 0 {
		t.Fatalf("2+2 sources of two AS: alerts on %v", alertSources(got))
	}
}

func TestNetworkCompileErrors(t *testing.T) {
	f := rules.FilterSpec{Kinds: []string{"auth_failure"}}
	tests := []struct {
		spec rules.ScenarioSpec
		want string
	}{
		{rules.ScenarioSpec{Name: "a", GroupBy: "network", Capacity: 3, Leak: time.Second, Filter: f}, "group_by network needs type distinct"},
		{rules.ScenarioSpec{Name: "b", Type: "distinct", Distinct: "user", GroupBy: "network", Capacity: 3, Leak: time.Second, Filter: f}, "group_by network needs type distinct"},
		{rules.ScenarioSpec{Name: "c", Type: "trigger", GroupBy: "network", Filter: f}, "group_by network needs type distinct"},
		{rules.ScenarioSpec{Name: "d", Type: "distinct", Distinct: "source", Capacity: 3, Leak: time.Second, Filter: f}, "distinct: source needs group_by: network"},
		{rules.ScenarioSpec{Name: "e", Type: "distinct", Distinct: "source", GroupBy: "source+host", Capacity: 3, Leak: time.Second, Filter: f}, "distinct: source needs group_by: network"},
	}
	for _, tt := range tests {
		_, err := Compile([]rules.ScenarioSpec{tt.spec}, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.spec.Name, err, tt.want)
		}
	}
}

func TestNetworkMemoryIsBounded(t *testing.T) {
	const max = 500
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(10, time.Hour, 0)}, Options{MaxBuckets: max})
	ev := paymentFailed("10.0.0.0", t0)
	var poured []int
	var alerts []event.Alert
	for i := range 20 * max {
		// A new /24 with every event, each holding one source: nothing
		// leaks away within the test's seconds.
		ev.Source = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
	}
	n := e.scen[0].net
	if live := e.liveNetworks(); live > max || len(n.groups) > max || len(n.pool) > max*n.stride {
		t.Fatalf("live %d, %d groups, pool %d: want at most %d networks", live, len(n.groups), len(n.pool), max)
	}
	// Without MaxBuckets, the bound is the scenario's own.
	e = mustCompile(t, []rules.ScenarioSpec{cardTesting(1000, time.Hour, 0)}, Options{})
	if got, want := e.scen[0].net.max, maxNetworkSources/1001; got != want {
		t.Fatalf("max networks %d, want %d", got, want)
	}
}

func TestNetworkSweepDropsLeakedNetworks(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{cardTesting(10, 30*time.Second, 0)}, Options{})
	for i := range 100 {
		pourAll(e, paymentFailed(fmt.Sprintf("10.0.%d.1", i), t0))
	}
	if live := e.liveNetworks(); live != 100 {
		t.Fatalf("live %d, want 100", live)
	}
	e.Sweep(t0.Add(time.Minute))
	if live := e.liveNetworks(); live != 0 {
		t.Fatalf("after the leak: live %d, want 0", live)
	}
	// Freed slots are reused.
	for i := range 100 {
		pourAll(e, paymentFailed(fmt.Sprintf("10.1.%d.1", i), t0.Add(2*time.Minute)))
	}
	if n := len(e.scen[0].net.groups); n != 100 {
		t.Fatalf("%d slots after reuse, want 100", n)
	}
}

func TestNetworkPourDoesNotAllocate(t *testing.T) {
	specs := append(defaultLike(), cardTesting(10, 30*time.Second, 0))
	e := mustCompile(t, specs, Options{})
	ssh := sshFail("192.0.2.1", t0, "root")
	pay := paymentFailed("192.0.2.1", t0)
	poured := make([]int, 0, 32)
	alerts := make([]event.Alert, 0, 32)
	for name, ev := range map[string]*event.Event{"ssh": ssh, "payment": pay} {
		i := 0
		n := testing.AllocsPerRun(1000, func() {
			i++
			ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		})
		if n != 0 {
			t.Errorf("%s: Pour allocates %v times per event", name, n)
		}
	}
}

func TestNetworkAdoptKeepsNetworks(t *testing.T) {
	specs := []rules.ScenarioSpec{cardTesting(3, time.Hour, 0)}
	old := mustCompile(t, specs, Options{})
	for i := range 3 {
		pourAll(old, paymentFailed(fmt.Sprintf("192.0.2.%d", i+1), t0.Add(time.Duration(i)*time.Second)))
	}
	e := mustCompile(t, specs, Options{})
	if ad := e.Adopt(old); ad.Buckets != 1 || !slices.Equal(ad.Kept, []string{"card-testing"}) {
		t.Fatalf("adoption %+v", ad)
	}
	if got := pourAll(e, paymentFailed("192.0.2.9", t0.Add(5*time.Second))); len(got) != 4 {
		t.Fatalf("fourth source after adoption: %d alerts, want 4", len(got))
	}
}

// benchNetwork pours ev, from sources addresses in turn (each /24 holding
// 200 of them), into defaultLike's scenarios plus, with net, a network
// scenario.
func benchNetwork(b *testing.B, ev *event.Event, sources int, net bool) {
	specs := defaultLike()
	if net {
		specs = append(specs, cardTesting(10, 30*time.Second, 0))
	}
	e := mustCompile(b, specs, Options{})
	poured := make([]int, 0, 32)
	alerts := make([]event.Alert, 0, 32)
	i := 0
	step := func() {
		j := i % sources
		ev.Source = netip.AddrFrom4([4]byte{10, byte(j / 200 >> 8), byte(j / 200), byte(j % 200)})
		ev.Time = t0.Add(time.Duration(i/sources) * 100 * time.Millisecond)
		poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		i++
	}
	for range sources * 2 {
		step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
}

// An SSH failure meets the network scenario's kind but not its service:
// the cost of a network scenario to events it does not count is the
// difference between these two.
func BenchmarkNetworkSSHAuthFailure(b *testing.B) {
	benchNetwork(b, sshFail("192.0.2.1", t0, "root"), 1, true)
}

func BenchmarkNetworkSSHAuthFailureWithout(b *testing.B) {
	benchNetwork(b, sshFail("192.0.2.1", t0, "root"), 1, false)
}

// Failed payments from 10,000 addresses in 50 networks, each network
// overflowing and silenced in turn.
func BenchmarkNetworkPayments10kSources(b *testing.B) {
	benchNetwork(b, paymentFailed("192.0.2.1", t0), 10_000, true)
}

// FuzzNetworkPour pours failed payments from a few networks, with time
// going backwards at times: every alert names a source that failed a
// payment, once per overflow, and memory stays within its bounds.
func FuzzNetworkPour(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07"))
	f.Add([]byte("card testing from a rented block of addresses, fast"))
	const max = 8
	f.Fuzz(func(t *testing.T, data []byte) {
		e := mustCompile(t, []rules.ScenarioSpec{cardTesting(3, 10*time.Second, 0), cardTesting2()}, Options{MaxBuckets: max})
		now := t0
		seen := map[netip.Addr]bool{}
		var poured []int
		var alerts []event.Alert
		for len(data) >= 3 {
			b0, b1, b2 := data[0], data[1], data[2]
			data = data[3:]
			now = now.Add(time.Duration(int8(b2)) * 250 * time.Millisecond) // may go backwards
			var src netip.Addr
			if b0&1 == 0 {
				src = netip.AddrFrom4([4]byte{10, 0, b0 >> 5, b1 & 15})
			} else {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 5: b0 >> 6, 7: b1 & 7, 15: b1 >> 3})
			}
			ev := paymentFailed(src.String(), now)
			if b0&2 != 0 {
				ev.Geo.ASN = 64500 + uint32(b0>>6)
			}
			seen[src] = true
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
			named := map[string]bool{}
			for _, a := range alerts {
				if !seen[a.Source] || !a.Scope.Contains(a.Source) || a.Events < 1 || a.Last.Before(a.First) {
					t.Fatalf("bad alert %+v", a)
				}
				k := a.Scenario + " " + a.Scope.String()
				if named[k] {
					t.Fatalf("%s alerted twice at once", k)
				}
				named[k] = true
			}
			if live := e.liveNetworks(); live > 2*max {
				t.Fatalf("live %d > %d", live, 2*max)
			}
		}
		e.Sweep(now.Add(24 * time.Hour))
		if live := e.liveNetworks(); live != 0 {
			t.Fatalf("%d networks live a day later", live)
		}
	})
}

// cardTesting2 is a second network scenario counting within a window, with
// IPv6 sources counted by /56.
func cardTesting2() rules.ScenarioSpec {
	s := cardTesting(2, 0, 30*time.Second)
	s.Name, s.IPv6Prefix = "card-testing-window", 56
	return s
}
