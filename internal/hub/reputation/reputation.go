// Package reputation decides which addresses the community lists, from the
// signals of independent reporters: trust per reporter, diversity per
// network, severity per class, decay per age, and a quorum of the
// community's trust. It is pure: no I/O, time passed in by the caller, and
// the same inputs in the same order always give the same listing.
//
// The rules and the argument for their resistance to poisoning are in
// docs/hub.md ("Reputation"); the constants below are their defaults.
package reputation

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// Rules are the listing rules. The zero value of a field means its default.
type Rules struct {
	// MinReporters is the number of distinct trusted reporters an address
	// needs (default 5).
	MinReporters int
	// MinNetworks is the number of distinct reporter networks (/24 or /48)
	// among them (default 3).
	MinNetworks int
	// MinAge is how long a reporter must have been enrolled before its
	// signals count at all (default 7 days).
	MinAge time.Duration
	// TrustAge is the enrollment age at which the age factor of trust
	// reaches 1 (default 30 days).
	TrustAge time.Duration
	// MinTrust is the trust below which a reporter is not counted
	// (default 0.2).
	MinTrust float64
	// Quorum is the share of the community's trust mass whose evidence an
	// address needs to be added to the listing (default 0.4). A coalition
	// holding less than Quorum of the mass cannot add anything alone.
	Quorum float64
	// HalfLife is the half-life of evidence (default 24 hours).
	HalfLife time.Duration
	// Window is how long a signal is kept as evidence; older ones are
	// dropped, and a listed address whose evidence in the window no longer
	// meets MinReporters and MinNetworks is removed (default 72 hours).
	Window time.Duration
}

// Defaults of Rules.
const (
	DefaultMinReporters = 5
	DefaultMinNetworks  = 3
	DefaultMinAge       = 7 * 24 * time.Hour
	DefaultTrustAge     = 30 * 24 * time.Hour
	DefaultMinTrust     = 0.2
	DefaultQuorum       = 0.4
	DefaultHalfLife     = 24 * time.Hour
	DefaultWindow       = 72 * time.Hour
)

// WithDefaults returns r with its zero fields set to the defaults.
func (r Rules) WithDefaults() Rules {
	if r.MinReporters <= 0 {
		r.MinReporters = DefaultMinReporters
	}
	if r.MinNetworks <= 0 {
		r.MinNetworks = DefaultMinNetworks
	}
	if r.MinAge <= 0 {
		r.MinAge = DefaultMinAge
	}
	if r.TrustAge <= 0 {
		r.TrustAge = DefaultTrustAge
	}
	if r.MinTrust <= 0 {
		r.MinTrust = DefaultMinTrust
	}
	if r.Quorum <= 0 {
		r.Quorum = DefaultQuorum
	}
	if r.HalfLife <= 0 {
		r.HalfLife = DefaultHalfLife
	}
	if r.Window <= 0 {
		r.Window = DefaultWindow
	}
	return r
}

// Severity returns how much one signal of class c weighs, in (0, 1]:
// attempts on credentials and exploits 1, probing and mail abuse 0.7,
// port scans 0.5. An undefined class weighs 0.
func Severity(c wire.Class) float64 {
	switch c {
	case wire.SSHBruteforce, wire.HTTPBruteforce, wire.MailBruteforce, wire.FTPBruteforce, wire.DBBruteforce, wire.HTTPExploit:
		return 1
	case wire.HTTPProbing, wire.MailAbuse:
		return 0.7
	case wire.Portscan:
		return 0.5
	}
	return 0
}

// Ranges is a set of addresses (protected or noise ranges).
type Ranges interface {
	Contains(netip.Addr) bool
}

// Reporter is an enrolled reporter as the engine sees it.
type Reporter struct {
	ID       wire.ReporterID
	Network  netip.Prefix // /24 or /48 it enrolled from
	Enrolled time.Time
}

// entry is one reporter's latest signal of one class about one address.
type entry struct {
	r      uint32 // reporter index
	class  wire.Class
	minute uint32
}

type addrState struct {
	entries []entry
	// idx finds an entry by reporter and class once there are more than
	// indexFrom entries (popular addresses have thousands of reporters).
	idx map[uint64]int32
}

const indexFrom = 16

func entryKey(r uint32, c wire.Class) uint64 { return uint64(r)<<8 | uint64(c) }

func (st *addrState) reindex() {
	if len(st.entries) <= indexFrom {
		st.idx = nil
		return
	}
	if st.idx == nil {
		st.idx = make(map[uint64]int32, len(st.entries))
	} else {
		clear(st.idx)
	}
	for i, en := range st.entries {
		st.idx[entryKey(en.r, en.class)] = int32(i)
	}
}

// Engine holds the evidence and computes the listing. It is not safe for
// concurrent use.
type Engine struct {
	rules     Rules
	protected Ranges
	noise     Ranges

	reporters []Reporter
	netOf     []uint32 // network index of each reporter
	networks  []netip.Prefix
	netIndex  map[netip.Prefix]uint32
	index     map[wire.ReporterID]uint32
	addrs     map[netip.Addr]*addrState
	listed    map[netip.Addr]struct{}
	lastSeen  map[netip.Addr]uint32 // minute an address was last listed

	// scratch, reused between Recompute calls
	mass     float64
	trust    []float64
	agreed   []int32
	disputed []int32
	active   []bool
	netMax   []float64
	// per-address scratch of evaluate and prepare, valid while stamp
	// equals epoch
	epoch   uint32
	rStamp  []uint32
	rBest   []float64
	nStamp  []uint32
	nBest   []float64
	touched []uint32
	pooled  []entry // Recompute's pooled entries of one /64
}

// New returns an empty engine. protected and noise may be nil.
func New(rules Rules, protected, noise Ranges) *Engine {
	return &Engine{
		rules:     rules.WithDefaults(),
		protected: protected,
		noise:     noise,
		index:     map[wire.ReporterID]uint32{},
		addrs:     map[netip.Addr]*addrState{},
		listed:    map[netip.Addr]struct{}{},
		lastSeen:  map[netip.Addr]uint32{},
		netIndex:  map[netip.Prefix]uint32{},
	}
}

// Rules returns the engine's rules with defaults applied.
func (e *Engine) Rules() Rules { return e.rules }

// AddReporter makes r known (again: a second call with the same id keeps the
// first enrollment) and returns its index for Observe.
func (e *Engine) AddReporter(r Reporter) uint32 {
	if i, ok := e.index[r.ID]; ok {
		return i
	}
	i := uint32(len(e.reporters))
	r.Network = r.Network.Masked()
	n, ok := e.netIndex[r.Network]
	if !ok {
		n = uint32(len(e.networks))
		e.networks = append(e.networks, r.Network)
		e.netIndex[r.Network] = n
		e.nStamp = append(e.nStamp, 0)
		e.nBest = append(e.nBest, 0)
	}
	e.reporters = append(e.reporters, r)
	e.netOf = append(e.netOf, n)
	e.rStamp = append(e.rStamp, 0)
	e.rBest = append(e.rBest, 0)
	e.index[r.ID] = i
	return i
}

// Reporter returns the index of a known reporter.
func (e *Engine) Reporter(id wire.ReporterID) (uint32, bool) {
	i, ok := e.index[id]
	return i, ok
}

// Observe records signal s from reporter r (an index from AddReporter).
// Repeating a signal changes nothing, so callers may replay overlapping
// ranges of signals. Observe does not allocate once the address is known.
func (e *Engine) Observe(r uint32, s wire.Signal) {
	if int(r) >= len(e.reporters) || !s.Class.Valid() {
		return
	}
	a := s.Source.Unmap()
	st := e.addrs[a]
	if st == nil {
		st = &addrState{}
		e.addrs[a] = st
	}
	found := -1
	if st.idx != nil {
		if i, ok := st.idx[entryKey(r, s.Class)]; ok {
			found = int(i)
		}
	} else {
		for i := range st.entries {
			if en := &st.entries[i]; en.r == r && en.class == s.Class {
				found = i
				break
			}
		}
	}
	if found >= 0 {
		if en := &st.entries[found]; s.Minute > en.minute {
			en.minute = s.Minute
		}
		return
	}
	st.entries = append(st.entries, entry{r: r, class: s.Class, minute: s.Minute})
	switch n := len(st.entries); {
	case n == indexFrom+1:
		st.reindex()
	case n > indexFrom+1:
		st.idx[entryKey(r, s.Class)] = int32(n - 1)
	}
}

// SetListed tells the engine the current listing (the one in the database,
// which several hub nodes share), as of now.
func (e *Engine) SetListed(addrs []netip.Addr, now time.Time) {
	clear(e.listed)
	m := minuteOf(now)
	for _, a := range addrs {
		e.listed[a] = struct{}{}
		e.lastSeen[a] = m
	}
}

// Listed reports whether a is in the listing the engine knows.
func (e *Engine) Listed(a netip.Addr) bool {
	_, ok := e.listed[a.Unmap()]
	return ok
}

func minuteOf(t time.Time) uint32 {
	m := t.Unix() / 60
	if m < 0 {
		return 0
	}
	if m > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(m)
}

// prepare drops evidence older than the window and computes every
// reporter's trust and the community's trust mass at now.
func (e *Engine) prepare(now time.Time) (mass float64) {
	nowMin := minuteOf(now)
	oldest := uint32(0)
	if w := uint32(e.rules.Window / time.Minute); nowMin > w {
		oldest = nowMin - w
	}
	n := len(e.reporters)
	e.trust = slices.Grow(e.trust[:0], n)[:n]
	e.agreed = slices.Grow(e.agreed[:0], n)[:n]
	e.disputed = slices.Grow(e.disputed[:0], n)[:n]
	e.active = slices.Grow(e.active[:0], n)[:n]
	clear(e.agreed)
	clear(e.disputed)
	clear(e.active)
	for a, st := range e.addrs {
		kept := st.entries[:0]
		for _, en := range st.entries {
			if en.minute >= oldest {
				kept = append(kept, en)
			}
		}
		if len(kept) != len(st.entries) || (st.idx == nil) != (len(kept) <= indexFrom) {
			st.entries = kept
			st.reindex()
		}
		if len(kept) == 0 {
			delete(e.addrs, a)
			continue
		}
		last, was := e.lastSeen[a]
		agreed := was && last >= oldest
		// One count per reporter and address, whatever the classes. An
		// address reported from one network only and not listed is a
		// disagreement with the consensus; one several networks report
		// is pending (neither).
		ep := e.nextEpoch()
		lone := true
		nw0 := e.netOf[kept[0].r]
		for _, en := range kept {
			if e.netOf[en.r] != nw0 {
				lone = false
			}
			if e.rStamp[en.r] == ep {
				continue
			}
			e.rStamp[en.r] = ep
			e.active[en.r] = true
			if agreed {
				e.agreed[en.r]++
			}
		}
		if !agreed && lone {
			for _, en := range kept {
				if e.rStamp[en.r] == ep {
					e.rStamp[en.r] = 0 // count each reporter once
					e.disputed[en.r]++
				}
			}
		}
	}
	for a, last := range e.lastSeen {
		if last < oldest {
			delete(e.lastSeen, a)
		}
	}
	e.netMax = slices.Grow(e.netMax[:0], len(e.networks))[:len(e.networks)]
	clear(e.netMax)
	for i := range e.reporters {
		t := e.trustOf(uint32(i), now)
		e.trust[i] = t
		if t < e.rules.MinTrust || !e.active[i] {
			continue
		}
		if n := e.netOf[i]; t > e.netMax[n] {
			e.netMax[n] = t
		}
	}
	// Sum in a fixed order (by network prefix) so that the result is
	// bit-for-bit the same on every node whatever order it learnt the
	// reporters in: float addition is not associative.
	e.touched = e.touched[:0]
	for n, v := range e.netMax {
		if v > 0 {
			e.touched = append(e.touched, uint32(n))
		}
	}
	e.sortTouched()
	for _, n := range e.touched {
		mass += e.netMax[n]
	}
	e.mass = mass
	return mass
}

func (e *Engine) nextEpoch() uint32 {
	e.epoch++
	if e.epoch == 0 { // wrapped: reset the stamps
		clear(e.rStamp)
		clear(e.nStamp)
		e.epoch = 1
	}
	return e.epoch
}

func (e *Engine) sortTouched() {
	slices.SortFunc(e.touched, func(a, b uint32) int { return comparePrefix(e.networks[a], e.networks[b]) })
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// trustOf is age factor × agreement factor, in [0, 1]; 0 before MinAge.
// prepare must have filled agreed and disputed.
func (e *Engine) trustOf(r uint32, now time.Time) float64 {
	age := now.Sub(e.reporters[r].Enrolled)
	if age < e.rules.MinAge {
		return 0
	}
	ageF := math.Min(1, float64(age)/float64(e.rules.TrustAge))
	rho := float64(e.agreed[r]+1) / float64(e.agreed[r]+e.disputed[r]+1)
	return ageF * math.Min(1, 2*rho)
}

// evaluation is the outcome of the rules for one address.
type evaluation struct {
	reporters, networks int
	support             float64
	protected, noise    bool
}

// evaluate applies the rules to st at now; prepare must have run. detail,
// when not nil, is called for every entry.
func (e *Engine) evaluate(a netip.Addr, st *addrState, now time.Time, detail func(en entry, trust, evidence float64)) evaluation {
	var ev evaluation
	ev.protected = e.protected != nil && e.protected.Contains(a)
	ev.noise = e.noise != nil && e.noise.Contains(a)
	if st == nil {
		return ev
	}
	nowMin := float64(now.Unix()) / 60
	halfMin := e.rules.HalfLife.Minutes()
	ep := e.nextEpoch()
	e.touched = e.touched[:0]
	for _, en := range st.entries {
		t := e.trust[en.r]
		age := math.Max(0, nowMin-float64(en.minute))
		evd := Severity(en.class) * math.Exp2(-age/halfMin)
		if detail != nil {
			detail(en, t, evd)
		}
		if t < e.rules.MinTrust {
			continue
		}
		if e.rStamp[en.r] != ep {
			e.rStamp[en.r] = ep
			ev.reporters++
		}
		n := e.netOf[en.r]
		v := t * evd
		if e.nStamp[n] != ep {
			e.nStamp[n] = ep
			e.nBest[n] = v
			e.touched = append(e.touched, n)
		} else if v > e.nBest[n] {
			e.nBest[n] = v
		}
	}
	ev.networks = len(e.touched)
	e.sortTouched()
	for _, n := range e.touched {
		ev.support += e.nBest[n]
	}
	return ev
}

// decide applies the listing rule to an evaluation.
func (e *Engine) decide(ev evaluation, mass float64, listed bool) bool {
	if ev.protected || ev.noise {
		return false
	}
	if ev.reporters < e.rules.MinReporters || ev.networks < e.rules.MinNetworks {
		return false
	}
	if listed {
		return true // no negative votes: only the evidence ageing out removes
	}
	return mass > 0 && ev.support >= e.rules.Quorum*mass
}

// Recompute applies the rules to every address with evidence at now and
// returns the listing they give, sorted. It does not change the engine's
// idea of the current listing; call SetListed with what was stored.
//
// IPv6 evidence is weighed per /64 (wire.Pool): an address whose own
// evidence meets the rules is listed alone; the evidence of the other
// addresses of its /64 is pooled, each reporter and each network counted
// once however many of the addresses it reported, and when the pool meets
// the rules the /64 is listed (by its first address, wire.ListingPrefix),
// covering the addresses listed alone. An attacker rotating through its
// /64 is listed as the /64; one attacker among innocents of a shared /64 is
// listed alone unless the evidence about the others meets the rules too. A
// /64 that overlaps a protected or noise range is never listed.
func (e *Engine) Recompute(now time.Time) []netip.Addr {
	mass := e.prepare(now)
	var out []netip.Addr
	pools := map[netip.Addr][]netip.Addr{}
	for a, st := range e.addrs {
		if a.Is6() {
			p := wire.Pool(a)
			pools[p] = append(pools[p], a)
			continue
		}
		_, listed := e.listed[a]
		if e.decide(e.evaluate(a, st, now, nil), mass, listed) {
			out = append(out, a)
		}
	}
	for base, addrs := range pools {
		out = append(out, e.pool(base, addrs, mass, now)...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// pool applies the rules to the addresses of one /64 whose first address
// is base: it returns base alone when the pooled evidence lists the /64,
// else the addresses that qualify on their own.
func (e *Engine) pool(base netip.Addr, addrs []netip.Addr, mass float64, now time.Time) []netip.Addr {
	slices.SortFunc(addrs, netip.Addr.Compare)
	var alone []netip.Addr
	pooled := e.pooled[:0]
	for _, a := range addrs {
		st := e.addrs[a]
		if a != base { // base's own listing would read as the /64
			if _, listed := e.listed[a]; e.decide(e.evaluate(a, st, now, nil), mass, listed) {
				alone = append(alone, a)
				continue
			}
		}
		pooled = append(pooled, st.entries...)
	}
	e.pooled = pooled
	if len(pooled) == 0 {
		return alone
	}
	ev := e.evaluatePool(base, pooled, now, nil)
	if _, listed := e.listed[base]; e.decide(ev, mass, listed) {
		return []netip.Addr{base}
	}
	return alone
}

// poolQualifies reports whether the /64 that base begins is listed, or its
// pooled evidence qualifies it, as Recompute decides. prepare must have
// run. It costs a pass over every address with evidence.
func (e *Engine) poolQualifies(base netip.Addr, mass float64, now time.Time) bool {
	var addrs []netip.Addr
	for a := range e.addrs {
		if a.Is6() && wire.Pool(a) == base {
			addrs = append(addrs, a)
		}
	}
	return slices.Contains(e.pool(base, addrs, mass, now), base) // base is never listed alone
}

// evaluatePool evaluates the pooled entries of the /64 that base begins.
func (e *Engine) evaluatePool(base netip.Addr, entries []entry, now time.Time, detail func(en entry, trust, evidence float64)) evaluation {
	ev := e.evaluate(base, &addrState{entries: entries}, now, detail)
	p := netip.PrefixFrom(base, wire.PoolBits)
	ev.protected = covers(e.protected, p)
	ev.noise = covers(e.noise, p)
	return ev
}

// covers reports whether r holds any address of p: through an Overlaps
// method when r has one (ipx.NeverBan), else by p's first address.
func covers(r Ranges, p netip.Prefix) bool {
	if r == nil {
		return false
	}
	if o, ok := r.(interface{ Overlaps(netip.Prefix) bool }); ok {
		return o.Overlaps(p)
	}
	return r.Contains(p.Addr())
}

// Evidence is one reporter's evidence about an address, as Explain shows it.
type Evidence struct {
	Reporter wire.ReporterID
	Network  netip.Prefix
	Enrolled time.Time
	Trust    float64
	Class    wire.Class
	Last     time.Time // the minute of its latest signal of this class
	Weight   float64   // severity × decay
	Counted  bool      // trust ≥ MinTrust
}

// Explanation says why an address is or is not listed.
type Explanation struct {
	Address   netip.Addr
	Listed    bool // in the stored listing
	Qualifies bool // the rules, applied now, list it
	Protected bool
	Noise     bool
	Reporters int     // distinct trusted reporters with evidence
	Networks  int     // distinct networks among them
	Support   float64 // Σ over networks of the best trust × evidence
	Mass      float64 // the community's trust mass
	Score     float64 // Support / Mass
	Rules     Rules
	Reason    string
	Evidence  []Evidence
	// Pool, for an IPv6 address, is its /64 when the /64 is listed or
	// qualifies through the pooled evidence of its addresses (Recompute);
	// zero otherwise.
	Pool netip.Prefix
}

// Explain applies the rules to a at now and says why it is or is not listed.
func (e *Engine) Explain(a netip.Addr, now time.Time) Explanation {
	a = a.Unmap()
	mass := e.prepare(now)
	x := Explanation{Address: a, Rules: e.rules, Mass: mass}
	_, x.Listed = e.listed[a]
	ev := e.evaluate(a, e.addrs[a], now, func(en entry, t, w float64) {
		r := e.reporters[en.r]
		x.Evidence = append(x.Evidence, Evidence{
			Reporter: r.ID, Network: r.Network, Enrolled: r.Enrolled, Trust: t, Class: en.class,
			Last: time.Unix(int64(en.minute)*60, 0).UTC(), Weight: w, Counted: t >= e.rules.MinTrust,
		})
	})
	x.Protected, x.Noise = ev.protected, ev.noise
	x.Reporters, x.Networks, x.Support = ev.reporters, ev.networks, ev.support
	if mass > 0 {
		x.Score = ev.support / mass
	}
	x.Qualifies = e.decide(ev, mass, x.Listed)
	if a.Is6() && !x.Qualifies && !ev.protected && !ev.noise {
		if e.poolQualifies(wire.Pool(a), mass, now) {
			x.Qualifies = true
			x.Pool = netip.PrefixFrom(wire.Pool(a), wire.PoolBits)
			x.Reason = "its /64 qualifies: the pooled evidence of the /64's addresses meets every rule"
			return x
		}
	}
	r := e.rules
	switch {
	case ev.protected:
		x.Reason = "protected range: never listed"
	case ev.noise:
		x.Reason = "research scanner (noise class): never listed"
	case ev.reporters < r.MinReporters:
		x.Reason = "too few trusted reporters"
	case ev.networks < r.MinNetworks:
		x.Reason = "too few distinct reporter networks"
	case x.Listed:
		x.Reason = "listed; stays while enough reporters have evidence in the window"
	case !x.Qualifies:
		x.Reason = "support below the quorum of the community's trust"
	default:
		x.Reason = "meets every rule: listed at the next recomputation"
	}
	return x
}

// Len returns the number of addresses with evidence.
func (e *Engine) Len() int { return len(e.addrs) }

// Trust returns reporter r's trust as of the last Recompute or Explain, 0
// before the first or for an unknown index. The predictor weighs its
// evidence with it, so that predictions and listing share one idea of trust.
func (e *Engine) Trust(r uint32) float64 {
	if int(r) >= len(e.trust) {
		return 0
	}
	return e.trust[r]
}

// Network returns the network (/24 or /48) reporter r enrolled from, and an
// index that is the same for every reporter of that network.
func (e *Engine) Network(r uint32) (netip.Prefix, uint32) {
	if int(r) >= len(e.reporters) {
		return netip.Prefix{}, math.MaxUint32
	}
	n := e.netOf[r]
	return e.networks[n], n
}

// Mass returns the community's trust mass as of the last Recompute or
// Explain: the sum over networks of their most trusted active reporter's
// trust, which the quorum is a share of.
func (e *Engine) Mass() float64 { return e.mass }
