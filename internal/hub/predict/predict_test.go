package predict

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/hub/wire"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func minute(t time.Time) uint32 { return uint32(t.Unix() / 60) }

// net24 returns the i-th /24 of a public-looking block (reporter networks).
func net24(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(11 + i>>16), byte(i >> 8), byte(i), 0}), 24)
}

func reporterID(i int) wire.ReporterID {
	var id wire.ReporterID
	id[0], id[1], id[2], id[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	id[15] = 0xbb
	return id
}

// target returns the i-th address of the simulated Internet, one per /24.
func target(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(150 + i>>16), byte(i >> 8), byte(i), 77})
}

// community is a reputation engine and a predictor over it, settled the
// way the hub settles them: recompute, store the listing, tell the
// predictor, expire.
type community struct {
	rep  *reputation.Engine
	pred *Engine
	// ever records every address or block listed or predicted.
	everListed    map[netip.Addr]bool
	everPredicted map[netip.Prefix]Prediction
}

func newCommunity(rules Rules, protected Ranges) *community {
	rep := reputation.New(reputation.Rules{}, protected, nil)
	return &community{rep: rep, pred: New(rules, rep, protected, nil),
		everListed: map[netip.Addr]bool{}, everPredicted: map[netip.Prefix]Prediction{}}
}

func (c *community) enroll(n, first int, nw func(k int) netip.Prefix, age func(k int) time.Duration) []uint32 {
	out := make([]uint32, n)
	for k := range n {
		out[k] = c.rep.AddReporter(reputation.Reporter{ID: reporterID(first + k), Network: nw(k), Enrolled: t0.Add(-age(k))})
	}
	return out
}

func (c *community) observe(r uint32, a netip.Addr, cl wire.Class, now time.Time) {
	s := wire.Signal{Source: a, Class: cl, Minute: minute(now)}
	c.rep.Observe(r, s)
	if p, ok := c.pred.Observe(r, s, now); ok {
		c.everPredicted[p.Prefix] = p
	}
}

func (c *community) settle(now time.Time) []netip.Addr {
	l := c.rep.Recompute(now)
	c.rep.SetListed(l, now)
	for _, a := range l {
		c.everListed[a] = true
	}
	for _, p := range c.pred.Listed(l, now) {
		c.everPredicted[p.Prefix] = p
	}
	c.pred.Expire(now)
	return l
}

// covered reports whether a was ever listed or inside a prediction.
func (c *community) covered(a netip.Addr) (bool, string) {
	if c.everListed[a] {
		return true, "listed"
	}
	for p, pr := range c.everPredicted {
		if p.Contains(a) {
			return true, pr.Reason()
		}
	}
	return false, ""
}

const day = 24 * time.Hour

func TestRecidivistPredictedAtOneReportThenExpires(t *testing.T) {
	c := newCommunity(Rules{}, nil)
	rs := c.enroll(6, 0, net24, func(int) time.Duration { return 60 * day })
	bad := target(1)
	for _, r := range rs {
		c.observe(r, bad, wire.SSHBruteforce, t0)
	}
	if l := c.settle(t0); len(l) != 1 {
		t.Fatalf("not listed: %v", l)
	}
	if len(c.everPredicted) != 0 {
		t.Fatalf("a listed address was predicted: %v", c.everPredicted)
	}
	// The evidence ages out; two days later one reporter sees it again.
	later := t0.Add(reputation.DefaultWindow + 2*day)
	if l := c.settle(later); len(l) != 0 {
		t.Fatalf("still listed: %v", l)
	}
	c.observe(rs[0], bad, wire.Portscan, later)
	p, ok := c.everPredicted[netip.PrefixFrom(bad, 32)]
	if !ok || p.Kind != Recidivist || !p.Until.Equal(later.Add(DefaultTTL)) {
		t.Fatalf("prediction = %+v, %v", p, ok)
	}
	if x := c.pred.Explain(bad, later); !x.Predicted || x.LastListed.IsZero() {
		t.Fatalf("Explain = %+v", x)
	}
	if gone := c.pred.Expire(later.Add(DefaultTTL)); len(gone) != 1 || gone[0].Prefix.Addr() != bad {
		t.Fatalf("Expire = %v", gone)
	}
	if x := c.pred.Explain(bad, later.Add(DefaultTTL)); x.Predicted {
		t.Fatalf("still predicted after its TTL: %+v", x)
	}
	// Past Memory, the listing no longer vouches: one report predicts
	// nothing.
	c.settle(t0.Add(DefaultMemory + day))
	c.observe(rs[1], bad, wire.Portscan, t0.Add(DefaultMemory+day))
	if _, ok := c.pred.Explain(bad, t0.Add(DefaultMemory+day)), c.pred.Len() > 0; ok {
		t.Fatalf("predicted past Memory: %v", c.pred.Active())
	}
}

func TestSweepNeedsTheQuorumOfTrust(t *testing.T) {
	c := newCommunity(Rules{}, nil)
	rs := c.enroll(10, 0, net24, func(int) time.Duration { return 60 * day })
	for k := range 10 {
		c.observe(rs[k], target(100+k), wire.SSHBruteforce, t0) // every reporter active
	}
	c.settle(t0)
	a := target(1)
	now := t0.Add(time.Minute)
	for k := range 3 {
		c.observe(rs[k], a, wire.Portscan, now.Add(time.Duration(k)*time.Hour))
	}
	if c.pred.Len() != 0 {
		t.Fatalf("3 of 10 equal networks predicted: %v", c.pred.Active())
	}
	c.observe(rs[3], a, wire.Portscan, now.Add(3*time.Hour))
	p := c.everPredicted[netip.PrefixFrom(a, 32)]
	if p.Kind != Sweep || p.Networks != 4 {
		t.Fatalf("4 of 10 networks (quorum 0.4): %+v", p)
	}
	// Outside the sweep window, sightings do not add up.
	b := target(2)
	for k := range 4 {
		c.observe(rs[k], b, wire.Portscan, now.Add(time.Duration(k)*(DefaultSweep+time.Minute)))
	}
	if _, ok := c.everPredicted[netip.PrefixFrom(b, 32)]; ok {
		t.Fatal("sightings a day apart predicted")
	}
}

func TestHostileBlockIsTheTightestTheListingSupports(t *testing.T) {
	prot := prefixSet{netip.MustParsePrefix("198.51.100.64/28")}
	c := newCommunity(Rules{}, prot)
	rs := c.enroll(6, 0, net24, func(int) time.Duration { return 60 * day })
	list := func(s string) {
		for _, r := range rs {
			c.observe(r, netip.MustParseAddr(s), wire.SSHBruteforce, t0)
		}
	}
	// Two listed addresses four apart: a /29 at most (2 × 8 addresses
	// allowed, the tightest covering prefix is the /29).
	list("203.0.113.9")
	list("203.0.113.13")
	// Two listed addresses at either end of a /24: no block.
	list("192.0.2.1")
	list("192.0.2.254")
	// A block over a protected range: none.
	list("198.51.100.65")
	list("198.51.100.70")
	c.settle(t0)
	got := map[netip.Prefix]bool{}
	for p := range c.everPredicted {
		got[p] = true
	}
	want := netip.MustParsePrefix("203.0.113.8/29")
	if len(got) != 1 || !got[want] {
		t.Fatalf("blocks %v, want only %v", got, want)
	}
	if x := c.pred.Explain(netip.MustParseAddr("203.0.113.14"), t0); !x.Predicted || x.Prediction.Kind != HostileBlock {
		t.Fatalf("Explain = %+v", x)
	}
	if x := c.pred.Explain(netip.MustParseAddr("203.0.113.16"), t0); x.Predicted {
		t.Fatalf("outside the block: %+v", x)
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

// TestProtectedNeverPredicted: no rule predicts a protected address.
func TestProtectedNeverPredicted(t *testing.T) {
	prot := prefixSet{netip.MustParsePrefix("8.8.8.0/24")}
	c := newCommunity(Rules{TrustAnyone: 1}, prot)
	rs := c.enroll(20, 0, net24, func(int) time.Duration { return 60 * day })
	for _, r := range rs {
		c.observe(r, netip.MustParseAddr("8.8.8.8"), wire.SSHBruteforce, t0)
	}
	c.settle(t0)
	for _, r := range rs {
		c.observe(r, netip.MustParseAddr("8.8.8.8"), wire.SSHBruteforce, t0.Add(time.Minute))
	}
	if len(c.everPredicted) != 0 || len(c.everListed) != 0 {
		t.Fatalf("predicted %v listed %v", c.everPredicted, c.everListed)
	}
}

// TestSybilsPredictNothing: 1,000 old reporters of one /24 report an
// innocent every hour for three days, beside 20 honest reporters: one
// network is one network, for predictions as for listing.
func TestSybilsPredictNothing(t *testing.T) {
	c := newCommunity(Rules{}, nil)
	honest := c.enroll(20, 0, net24, func(int) time.Duration { return 60 * day })
	sybils := c.enroll(1000, 100, func(int) netip.Prefix { return net24(5000) }, func(int) time.Duration { return 365 * day })
	innocent, real := target(42), target(7)
	for h := range 72 {
		now := t0.Add(time.Duration(h) * time.Hour)
		for _, r := range honest {
			c.observe(r, real, wire.SSHBruteforce, now)
		}
		for _, r := range sybils {
			c.observe(r, innocent, wire.SSHBruteforce, now)
			c.observe(r, real, wire.SSHBruteforce, now)
		}
		c.settle(now)
	}
	if ok, why := c.covered(innocent); ok {
		t.Fatalf("innocent covered: %s", why)
	}
	if !c.everListed[real] {
		t.Fatal("the real attacker was never listed")
	}
}

// colluders runs the colluding-third simulation of the reputation package
// with the predictor on: 2,000 honest reporters (one /24 each, 30-120 days
// old, each seeing every real attacker with probability 0.7 at a random
// hour and reporting 2 random innocents over the run), 1,000 colluders (one
// /24 each, a year old) who mimic the honest reports of real attackers (or
// withhold them) and report innocents as strategy says, recomputation
// every 3 hours for three days. It returns the innocents covered by a listing
// or a prediction and the share of real attackers covered.
func colluders(t *testing.T, reportReal bool, strategy func(h int, rng *rand.Rand, fpCount []int) []netip.Addr, extra func(c *community, honest []uint32, now time.Time, h int)) (map[netip.Addr]string, float64) {
	const (
		nHonest    = 2000
		nColluders = 1000
		nInnocent  = 10000
		nReal      = 500
		pSee       = 0.7
	)
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCommunity(Rules{}, nil)
	honest := c.enroll(nHonest, 0, net24, func(int) time.Duration { return time.Duration(30+rng.IntN(90)) * day })
	coll := c.enroll(nColluders, nHonest, func(k int) netip.Prefix { return net24(nHonest + k) }, func(int) time.Duration { return 365 * day })
	innocent := func(i int) netip.Addr { return target(i) }
	real := func(i int) netip.Addr { return target(nInnocent + i) }
	type fp struct{ r, a, hour int }
	var fps []fp
	fpCount := make([]int, nInnocent)
	for k := range honest {
		for range 2 {
			i := rng.IntN(nInnocent)
			fps = append(fps, fp{k, i, 3 * rng.IntN(24)})
			fpCount[i]++
		}
	}
	// Honest sightings of real attackers: each at a random hour (a sweep
	// across the community over the run), then repeated every 6 hours.
	type sight struct{ r, hour int }
	sees := make([][]sight, nReal)
	for i := range nReal {
		for k := range honest {
			if rng.Float64() < pSee {
				sees[i] = append(sees[i], sight{k, 3 * rng.IntN(24)})
			}
		}
	}
	for h := 0; h < 72; h += 3 {
		now := t0.Add(time.Duration(h) * time.Hour)
		for i := range nReal {
			seen := false
			for _, s := range sees[i] {
				if h >= s.hour && (h-s.hour)%6 == 0 {
					c.observe(honest[s.r], real(i), wire.SSHBruteforce, now)
					seen = true
				}
			}
			if reportReal && seen {
				for _, r := range coll {
					c.observe(r, real(i), wire.SSHBruteforce, now)
				}
			}
		}
		for _, f := range fps {
			if f.hour == h {
				c.observe(honest[f.r], innocent(f.a), wire.HTTPProbing, now)
			}
		}
		for k, a := range strategy(h, rng, fpCount) {
			// Coordinated: every colluder network, within minutes.
			for j, r := range coll {
				c.observe(r, a, wire.SSHBruteforce, now.Add(time.Duration((k+j)%30)*time.Minute))
			}
		}
		if extra != nil {
			extra(c, honest, now, h)
		}
		c.settle(now.Add(179 * time.Minute))
	}
	bad := map[netip.Addr]string{}
	for i := range nInnocent {
		if ok, why := c.covered(innocent(i)); ok {
			bad[innocent(i)] = why
		}
	}
	realCovered := 0
	for i := range nReal {
		if ok, _ := c.covered(real(i)); ok {
			realCovered++
		}
	}
	return bad, float64(realCovered) / nReal
}

// mostHit returns the n innocents honest false positives hit most.
func mostHit(n int, fpCount []int) []netip.Addr {
	var out []netip.Addr
	for want := 10; want >= 0 && len(out) < n; want-- {
		for i, c := range fpCount {
			if c == want && len(out) < n {
				out = append(out, target(i))
			}
		}
	}
	return out
}

// TestColludingThirdPredictsNoInnocent: the colluders of the reputation
// simulation, aiming every hour at the 300 innocents honest false
// positives hit most, get none listed nor predicted, with the colluders
// mimicking honest reports or withholding them; and the real attackers are
// all covered (a predictor that predicts nothing would pass the first
// check vacuously).
func TestColludingThirdPredictsNoInnocent(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: a few seconds")
	}
	for _, mimic := range []bool{true, false} {
		var targets []netip.Addr
		bad, real := colluders(t, mimic, func(h int, _ *rand.Rand, fpCount []int) []netip.Addr {
			if targets == nil {
				targets = mostHit(300, fpCount)
			}
			return targets
		}, nil)
		t.Logf("mimic %v: innocents covered %d, real attackers covered %.1f%%", mimic, len(bad), 100*real)
		for a, why := range bad {
			t.Errorf("mimic %v: innocent %s covered: %s", mimic, a, why)
		}
		if real < 0.95 {
			t.Errorf("mimic %v: only %.1f%% of real attackers covered", mimic, 100*real)
		}
	}
}

// TestColludingSweeps: the colluders play sweeps, the pattern the predictor
// learns from: every hour, 50 fresh innocents reported by every colluder
// network within half an hour, as a mass scanner would be seen.
func TestColludingSweeps(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: a few seconds")
	}
	bad, real := colluders(t, true, func(h int, _ *rand.Rand, _ []int) []netip.Addr {
		var out []netip.Addr
		for k := range 50 {
			out = append(out, target(5000+h*50+k))
		}
		return out
	}, nil)
	t.Logf("innocents covered %d, real attackers covered %.1f%%", len(bad), 100*real)
	for a, why := range bad {
		t.Errorf("innocent %s covered: %s", a, why)
	}
	if real < 0.95 {
		t.Errorf("only %.1f%% of real attackers covered", 100*real)
	}
}

// TestInnocentsShareNetworksWithAttackers: 40 /24s each hold a dense group
// of 8 real attackers (.16-.23, seen by every honest reporter: listed, so
// their block is predicted) and 10 innocents further in the same /24
// (.100-.109) that honest false positives hit and that the colluders
// report in coordinated sweeps every hour. No innocent is covered, and the
// attackers' blocks are predicted.
func TestInnocentsShareNetworksWithAttackers(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: a few seconds")
	}
	shared := func(n, host int) netip.Addr { return netip.AddrFrom4([4]byte{100, 100, byte(n), byte(host)}) }
	var innocents []netip.Addr
	for n := range 40 {
		for k := range 10 {
			innocents = append(innocents, shared(n, 100+k))
		}
	}
	var cc *community
	_, _ = colluders(t, true, func(h int, _ *rand.Rand, _ []int) []netip.Addr {
		return innocents
	}, func(c *community, honest []uint32, now time.Time, h int) {
		cc = c
		for n := range 40 {
			for k := range 8 {
				if h%6 == 0 {
					for j := range honest {
						c.observe(honest[j], shared(n, 16+k), wire.SSHBruteforce, now)
					}
				}
			}
			// Honest false positives on innocents of the shared /24s.
			c.observe(honest[(h*40+n)%len(honest)], shared(n, 100+h%10), wire.HTTPProbing, now)
		}
	})
	for _, a := range innocents {
		if ok, why := cc.covered(a); ok {
			t.Errorf("innocent %s sharing a /24 with attackers covered: %s", a, why)
		}
	}
	blocks := 0
	for p, pr := range cc.everPredicted {
		if pr.Kind == HostileBlock && p.Addr().As4()[0] == 100 {
			blocks++
			if p.Bits() < 28 {
				t.Errorf("block %v wider than the listed addresses support", p)
			}
		}
	}
	if blocks < 40 {
		t.Errorf("%d hostile blocks predicted in the shared networks, want 40", blocks)
	}
}

func TestObserveAllocFree(t *testing.T) {
	c := newCommunity(Rules{}, nil)
	rs := c.enroll(4, 0, net24, func(int) time.Duration { return 60 * day })
	c.settle(t0)
	s := wire.Signal{Source: target(1), Class: wire.SSHBruteforce, Minute: minute(t0)}
	c.pred.Observe(rs[0], s, t0)
	if n := testing.AllocsPerRun(1000, func() { c.pred.Observe(rs[0], s, t0) }); n != 0 {
		t.Fatalf("Observe allocates %v", n)
	}
}
