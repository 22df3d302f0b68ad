package reputation

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func minute(t time.Time) uint32 { return uint32(t.Unix() / 60) }

// net24 returns the i-th /24 of a public-looking block and an address in it.
func net24(i int) (netip.Prefix, netip.Addr) {
	b := netip.AddrFrom4([4]byte{byte(11 + i>>16), byte(i >> 8), byte(i), 10})
	return netip.PrefixFrom(b, 24).Masked(), b
}

func reporterID(i int) wire.ReporterID {
	var id wire.ReporterID
	id[0], id[1], id[2], id[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	id[15] = 0xaa
	return id
}

// target returns the i-th address of the simulated Internet.
func target(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(150 + i>>16), byte(i >> 8), byte(i), 77})
}

type community struct {
	e   *Engine
	idx []uint32
}

// enroll adds n reporters, reporter k in network nw(k), enrolled at
// t0 - age(k).
func (c *community) enroll(n int, first int, nw func(k int) netip.Prefix, age func(k int) time.Duration) []uint32 {
	out := make([]uint32, n)
	for k := range n {
		out[k] = c.e.AddReporter(Reporter{ID: reporterID(first + k), Network: nw(k), Enrolled: t0.Add(-age(k))})
	}
	c.idx = append(c.idx, out...)
	return out
}

func (c *community) settle(now time.Time) []netip.Addr {
	l := c.e.Recompute(now)
	c.e.SetListed(l, now)
	return l
}

func TestListingNeedsEnoughReportersAndNetworks(t *testing.T) {
	c := &community{e: New(Rules{}, nil, nil)}
	// 5 reporters over 3 networks, aged 40 days.
	nets := []int{1, 1, 2, 2, 3}
	rs := c.enroll(5, 0, func(k int) netip.Prefix { p, _ := net24(nets[k]); return p }, func(int) time.Duration { return 40 * 24 * time.Hour })
	bad := target(1)
	for _, r := range rs[:4] {
		c.e.Observe(r, wire.Signal{Source: bad, Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0); len(l) != 0 {
		t.Fatalf("4 reporters listed %v", l)
	}
	c.e.Observe(rs[4], wire.Signal{Source: bad, Class: wire.SSHBruteforce, Minute: minute(t0)})
	if l := c.settle(t0); len(l) != 1 || l[0] != bad {
		t.Fatalf("5 reporters from 3 networks: listing %v", l)
	}
	x := c.e.Explain(bad, t0)
	if !x.Listed || x.Reporters != 5 || x.Networks != 3 || x.Score < 0.99 {
		t.Fatalf("Explain = %+v", x)
	}
	// The evidence ages out of the window: removed.
	later := t0.Add(DefaultWindow + time.Hour)
	if l := c.settle(later); len(l) != 0 {
		t.Fatalf("after the window: %v", l)
	}
}

func TestNewReportersDoNotCount(t *testing.T) {
	c := &community{e: New(Rules{}, nil, nil)}
	rs := c.enroll(10, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 6 * 24 * time.Hour })
	bad := target(1)
	for _, r := range rs {
		c.e.Observe(r, wire.Signal{Source: bad, Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0); len(l) != 0 {
		t.Fatalf("reporters enrolled 6 days ago listed %v", l)
	}
	// Same reporters a day later (7 days old): trust 7/30 ≥ 0.2, listed.
	if l := c.settle(t0.Add(24 * time.Hour)); len(l) != 1 {
		t.Fatalf("at 7 days: %v (%+v)", l, c.e.Explain(bad, t0.Add(24*time.Hour)))
	}
}

type prefixSet []netip.Prefix

func (s prefixSet) Contains(a netip.Addr) bool {
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func TestProtectedAndNoiseNeverListed(t *testing.T) {
	prot := prefixSet{netip.MustParsePrefix("8.8.8.0/24")}
	noise := prefixSet{netip.MustParsePrefix("198.18.0.0/24")}
	c := &community{e: New(Rules{}, prot, noise)}
	rs := c.enroll(50, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 90 * 24 * time.Hour })
	for _, a := range []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("198.18.0.9")} {
		for _, r := range rs {
			c.e.Observe(r, wire.Signal{Source: a, Class: wire.SSHBruteforce, Minute: minute(t0)})
		}
	}
	if l := c.settle(t0); len(l) != 0 {
		t.Fatalf("listed %v", l)
	}
	if x := c.e.Explain(netip.MustParseAddr("8.8.8.8"), t0); !x.Protected || x.Qualifies {
		t.Fatalf("Explain 8.8.8.8 = %+v", x)
	}
	if x := c.e.Explain(netip.MustParseAddr("198.18.0.9"), t0); !x.Noise || x.Qualifies {
		t.Fatalf("Explain noise = %+v", x)
	}
}

// TestSybilsFromOneNetwork: 1,000 reporters of one /24, all old and all
// agreeing, report an innocent address beside a small honest community:
// one network counts once, so the address is never listed.
func TestSybilsFromOneNetwork(t *testing.T) {
	c := &community{e: New(Rules{}, nil, nil)}
	honest := c.enroll(20, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 60 * 24 * time.Hour })
	sybilNet, _ := net24(5000)
	sybils := c.enroll(1000, 100, func(int) netip.Prefix { return sybilNet }, func(int) time.Duration { return 365 * 24 * time.Hour })
	innocent := target(42)
	real := target(7)
	for h := range 72 {
		now := t0.Add(time.Duration(h) * time.Hour)
		for _, r := range honest {
			c.e.Observe(r, wire.Signal{Source: real, Class: wire.SSHBruteforce, Minute: minute(now)})
		}
		for _, r := range sybils {
			c.e.Observe(r, wire.Signal{Source: innocent, Class: wire.SSHBruteforce, Minute: minute(now)})
			c.e.Observe(r, wire.Signal{Source: real, Class: wire.SSHBruteforce, Minute: minute(now)})
		}
		l := c.settle(now)
		for _, a := range l {
			if a == innocent {
				t.Fatalf("hour %d: innocent listed by Sybils of one network: %+v", h, c.e.Explain(innocent, now))
			}
		}
		if h > 0 && len(l) != 1 {
			t.Fatalf("hour %d: the real attacker is not listed: %v", h, l)
		}
	}
	x := c.e.Explain(innocent, t0.Add(71*time.Hour))
	if x.Networks != 1 || x.Reporters != 1000 {
		t.Fatalf("Explain = reporters %d networks %d", x.Reporters, x.Networks)
	}
}

// TestColludingThird is the poisoning simulation of docs/hub.md: 3,000
// reporters, one third colluding, 10,000 innocent addresses and 500 real
// attackers, three days of recomputation every three hours.
//
// Honest reporters (2,000, one /24 each, enrolled 30-120 days ago) each see
// every real attacker with probability 0.7 (mass scanners hit most of the
// Internet) and report 2 random innocent addresses over the run (false
// positives). Colluders (1,000, one /24 each, spread over as many networks as
// they like, all enrolled a year ago: maximal age trust) play the strongest
// strategy we know: they report every real attacker too, so that their
// agreement with the consensus stays perfect, and all of them report the
// same 300 innocent targets, chosen as the innocents honest false positives
// hit most, at every step. They hold 1/3 of the network-weighted trust mass;
// the quorum is 0.4, so without honest support they cannot list, and honest
// false positives on one address are far too few to make up the gap.
//
// A second run plays the colluders' other choice: they withhold every report
// of real attackers (staying in the trust mass that the quorum is measured
// against) to keep real attackers off the list.
//
// The test fails if more than 1 of the 10,000 innocents is ever listed, or
// if fewer than 95% of real attackers are listed (a rule that lists nothing
// would pass the first check vacuously).
func TestColludingThird(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: a few seconds")
	}
	t.Run("mimic", func(t *testing.T) { colludingThird(t, true) })
	t.Run("withhold", func(t *testing.T) { colludingThird(t, false) })
}

func colludingThird(t *testing.T, reportReal bool) {
	const (
		nHonest    = 2000
		nColluders = 1000
		nInnocent  = 10000
		nReal      = 500
		pSee       = 0.7
		nTargets   = 300
	)
	rng := rand.New(rand.NewPCG(1, 2))
	c := &community{e: New(Rules{}, nil, nil)}
	honest := c.enroll(nHonest, 0, func(k int) netip.Prefix { p, _ := net24(k); return p },
		func(int) time.Duration { return time.Duration(30+rng.IntN(90)) * 24 * time.Hour })
	colluders := c.enroll(nColluders, nHonest, func(k int) netip.Prefix { p, _ := net24(nHonest + k); return p },
		func(int) time.Duration { return 365 * 24 * time.Hour })
	innocent := func(i int) netip.Addr { return target(i) }
	real := func(i int) netip.Addr { return target(nInnocent + i) }

	// Honest false positives: 2 random innocents per honest reporter, at a
	// random hour of the run.
	type fp struct {
		r    uint32
		a    int
		hour int
	}
	var fps []fp
	fpCount := make([]int, nInnocent)
	for _, r := range honest {
		for range 2 {
			i := rng.IntN(nInnocent)
			fps = append(fps, fp{r, i, 3 * rng.IntN(24)})
			fpCount[i]++
		}
	}
	// The colluders' targets: the innocents with the most honest false
	// positives (the best help they can hope for), then the first others.
	targets := make([]int, 0, nTargets)
	for want := 10; want >= 0 && len(targets) < nTargets; want-- {
		for i, n := range fpCount {
			if n == want && len(targets) < nTargets {
				targets = append(targets, i)
			}
		}
	}
	// Which honest reporters see which real attacker, and when first.
	sees := make([][]uint32, nReal)
	for i := range nReal {
		for _, r := range honest {
			if rng.Float64() < pSee {
				sees[i] = append(sees[i], r)
			}
		}
	}
	everListed := map[netip.Addr]bool{}
	for h := 0; h < 72; h += 3 {
		now := t0.Add(time.Duration(h) * time.Hour)
		m := minute(now)
		for i := range nReal {
			for _, r := range sees[i] {
				c.e.Observe(r, wire.Signal{Source: real(i), Class: wire.SSHBruteforce, Minute: m})
			}
			if !reportReal {
				continue
			}
			for _, r := range colluders {
				c.e.Observe(r, wire.Signal{Source: real(i), Class: wire.SSHBruteforce, Minute: m})
			}
		}
		for _, f := range fps {
			if f.hour == h {
				c.e.Observe(f.r, wire.Signal{Source: innocent(f.a), Class: wire.HTTPProbing, Minute: m})
			}
		}
		for _, i := range targets {
			for _, r := range colluders {
				c.e.Observe(r, wire.Signal{Source: innocent(i), Class: wire.SSHBruteforce, Minute: m})
			}
		}
		for _, a := range c.settle(now) {
			everListed[a] = true
		}
	}
	innocentListed, realListed := 0, 0
	for i := range nInnocent {
		if everListed[innocent(i)] {
			innocentListed++
		}
	}
	for i := range nReal {
		if everListed[real(i)] {
			realListed++
		}
	}
	end := t0.Add(69 * time.Hour)
	x := c.e.Explain(innocent(targets[0]), end)
	t.Logf("innocents listed %d/%d; real attackers listed %d/%d; strongest target: reporters %d networks %d score %.3f (quorum %.2f)",
		innocentListed, nInnocent, realListed, nReal, x.Reporters, x.Networks, x.Score, x.Rules.Quorum)
	if innocentListed > nInnocent/10000 {
		t.Errorf("%d innocent addresses listed, want at most %d", innocentListed, nInnocent/10000)
	}
	if realListed < nReal*95/100 {
		t.Errorf("only %d of %d real attackers listed", realListed, nReal)
	}
}

// TestNoNegativeVotes: once listed, an address stays while its evidence is
// in the window, whatever others do: reporters falling silent, and a
// thousand fresh (or old) reporters who never report it, do not unlist it.
func TestNoNegativeVotes(t *testing.T) {
	c := &community{e: New(Rules{}, nil, nil)}
	rs := c.enroll(6, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 60 * 24 * time.Hour })
	bad := target(3)
	for _, r := range rs {
		c.e.Observe(r, wire.Signal{Source: bad, Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0); len(l) != 1 {
		t.Fatalf("not listed: %v", l)
	}
	// The attacker enrolls 1,000 reporters in 1,000 networks, waits until
	// they are fully trusted, and has them report other things: the
	// community's trust mass grows thirty-fold, the address's score drops
	// far below the quorum, yet it stays listed.
	dilute := c.enroll(1000, 100, func(k int) netip.Prefix { p, _ := net24(100 + k); return p }, func(int) time.Duration { return 365 * 24 * time.Hour })
	for h := 1; h < 60; h++ {
		now := t0.Add(time.Duration(h) * time.Hour)
		for k, r := range dilute {
			c.e.Observe(r, wire.Signal{Source: target(1000 + k%7), Class: wire.Portscan, Minute: minute(now)})
		}
		if l := c.settle(now); !contains(l, bad) {
			t.Fatalf("hour %d: unlisted by silence: %+v", h, c.e.Explain(bad, now))
		}
	}
	if x := c.e.Explain(bad, t0.Add(59*time.Hour)); x.Score > DefaultQuorum {
		t.Fatalf("dilution did not work as the test intends: score %v", x.Score)
	}
}

func contains(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

func TestObserveIdempotentAndAllocFree(t *testing.T) {
	c := &community{e: New(Rules{}, nil, nil)}
	rs := c.enroll(1, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 60 * 24 * time.Hour })
	s := wire.Signal{Source: target(1), Class: wire.SSHBruteforce, Minute: minute(t0)}
	c.e.Observe(rs[0], s)
	if n := testing.AllocsPerRun(1000, func() { c.e.Observe(rs[0], s) }); n != 0 {
		t.Fatalf("Observe allocates %v", n)
	}
	if st := c.e.addrs[s.Source]; len(st.entries) != 1 {
		t.Fatalf("entries = %d", len(st.entries))
	}
}

func BenchmarkObserve(b *testing.B) {
	c := &community{e: New(Rules{}, nil, nil)}
	rs := c.enroll(1000, 0, func(k int) netip.Prefix { p, _ := net24(k); return p }, func(int) time.Duration { return 60 * 24 * time.Hour })
	sigs := make([]wire.Signal, 1<<16)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range sigs {
		sigs[i] = wire.Signal{Source: target(rng.IntN(100000)), Class: wire.SSHBruteforce, Minute: minute(t0) + uint32(rng.IntN(60))}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.e.Observe(rs[i%len(rs)], sigs[i&(len(sigs)-1)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signals/s")
}
