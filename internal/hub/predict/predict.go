// Package predict anticipates attacks: from the community's signals and the
// history of its listing it derives short-lived "predicted" entries, which
// agents block beside the community list, as their own decision origin, for
// a few hours. It is pure like the reputation engine it reads trust from:
// no I/O, time passed in, the same inputs in the same order give the same
// predictions.
//
// Every rule needs a quorum's word: a prediction is made for an address the
// community listed before and a trusted reporter reports again (a
// recidivist); for an address that trusted networks holding the listing
// quorum of the community's trust report within the sweep window, whatever
// the class and however few reporters (a sweep); and for the tightest block
// of a /24 (/48) holding several addresses the community listed (a hostile
// block). A coalition that cannot list an address alone cannot make it
// predicted either. The rules, their measured value and their limits are in
// docs/hub.md ("Anticipation").
package predict

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// Rules are the prediction rules. The zero value of a field means its
// default.
type Rules struct {
	// TTL is how long a prediction lasts after the last signal or listing
	// that made or renewed it (default 24 hours).
	TTL time.Duration
	// Memory is how long a listing vouches for its address and its block
	// after the address was last listed (default 7 days).
	Memory time.Duration
	// Sweep is the window in which the reports of one source by several
	// networks count together (default 24 hours).
	Sweep time.Duration
	// BlockListed is the number of distinct addresses of a /24 (/48) the
	// community must have listed within Memory for their block to be
	// predicted (default 2); BlockSpan bounds the block's size to
	// BlockSpan addresses per listed address (default 8): two listed
	// addresses make at most a /28, never the whole /24 unless 32 of its
	// addresses were listed.
	BlockListed int
	BlockSpan   int
	// MinTrust is the trust a reporter needs for its signals to count, and
	// Quorum the share of the community's trust mass a sweep needs
	// (defaults: the reputation rules'). SweepNetworks is the distinct
	// trusted networks a sweep needs besides (default 4: honest false
	// positives of a legitimate service that touches three members must
	// not be predicted, see docs/hub.md).
	MinTrust      float64
	Quorum        float64
	SweepNetworks int
	// TrustAnyone, when positive, predicts any source that this many
	// distinct trusted reporter networks report within Sweep, whatever
	// their share of the trust mass. It is off by default because a
	// coalition holding that many networks can then have any address
	// predicted: it exists to measure what the safe rules give up (herd
	// hub simulate --trust-anyone).
	TrustAnyone int
}

// Defaults of Rules.
const (
	DefaultTTL           = 24 * time.Hour
	DefaultMemory        = 7 * 24 * time.Hour
	DefaultSweep         = 24 * time.Hour
	DefaultBlockListed   = 2
	DefaultBlockSpan     = 8
	DefaultSweepNetworks = 4
)

// WithDefaults returns r with its zero fields set to the defaults, taking
// MinTrust and Quorum from rep, and SweepNetworks at least its MinNetworks.
func (r Rules) WithDefaults(rep reputation.Rules) Rules {
	rep = rep.WithDefaults()
	if r.TTL <= 0 {
		r.TTL = DefaultTTL
	}
	if r.Memory <= 0 {
		r.Memory = DefaultMemory
	}
	if r.Sweep <= 0 {
		r.Sweep = DefaultSweep
	}
	if r.BlockListed <= 0 {
		r.BlockListed = DefaultBlockListed
	}
	if r.BlockSpan <= 0 {
		r.BlockSpan = DefaultBlockSpan
	}
	if r.MinTrust <= 0 {
		r.MinTrust = rep.MinTrust
	}
	if r.Quorum <= 0 {
		r.Quorum = rep.Quorum
	}
	if r.SweepNetworks <= 0 {
		r.SweepNetworks = max(DefaultSweepNetworks, rep.MinNetworks)
	}
	return r
}

// Kind is why a prediction was made.
type Kind uint8

// The kinds of prediction.
const (
	// Recidivist: the community listed the address within Memory and a
	// trusted reporter reports it again.
	Recidivist Kind = 1
	// Sweep: trusted networks holding Quorum of the community's trust mass
	// reported the address within Sweep.
	Sweep Kind = 2
	// HostileBlock: the community listed BlockListed addresses of a /24
	// (/48) within Memory; the prediction is their tightest block.
	HostileBlock Kind = 3
	// TrustAnyone: TrustAnyone networks reported the address within
	// Sweep (off by default; poisonable).
	TrustAnyone Kind = 4
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Recidivist:
		return "recidivist"
	case Sweep:
		return "sweep"
	case HostileBlock:
		return "hostile-block"
	case TrustAnyone:
		return "trust-anyone"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Prediction is one predicted entry.
type Prediction struct {
	Prefix netip.Prefix // one address, or a block (HostileBlock)
	Kind   Kind
	Since  time.Time // when it was made
	Until  time.Time // when it expires unless renewed
	// Networks is the distinct trusted reporter networks that reported the
	// address within Sweep, Support the share of the trust mass they hold
	// (Sweep, TrustAnyone); Listed the distinct listed addresses of the
	// block (HostileBlock); LastListed when the address was last listed
	// (Recidivist).
	Networks   int
	Support    float64
	Listed     int
	LastListed time.Time
}

// Reason says in one sentence why p exists.
func (p Prediction) Reason() string {
	switch p.Kind {
	case Recidivist:
		return fmt.Sprintf("recidivist: on the community list until %s, reported again by a trusted reporter", p.LastListed.UTC().Format(time.RFC3339))
	case Sweep:
		return fmt.Sprintf("sweep: %d trusted networks holding %.0f%% of the community's trust reported it within the sweep window", p.Networks, 100*p.Support)
	case HostileBlock:
		return fmt.Sprintf("hostile block: the community listed %d addresses of %s recently", p.Listed, p.Prefix)
	case TrustAnyone:
		return fmt.Sprintf("trust-anyone: %d trusted networks reported it within the sweep window", p.Networks)
	}
	return p.Kind.String()
}

type sighting struct {
	net    uint32
	minute uint32
	trust  float64
}

// recentState is the trusted sightings of one address within Sweep, one
// per network (its most trusted reporter's), with their trust's sum.
type recentState struct {
	s       []sighting
	idx     map[uint32]int32 // network → index in s, past indexFrom sightings
	support float64
	minMin  uint32 // no sighting is older
}

const indexFrom = 16

// prune drops the sightings older than old.
func (st *recentState) prune(old uint32) {
	if st.minMin >= old {
		return
	}
	kept := st.s[:0]
	st.support, st.minMin = 0, ^uint32(0)
	for _, x := range st.s {
		if x.minute >= old {
			kept = append(kept, x)
			st.support += x.trust
			st.minMin = min(st.minMin, x.minute)
		}
	}
	st.s = kept
	if len(kept) == 0 {
		st.minMin = old
	}
	st.idx = nil
	if len(kept) > indexFrom {
		st.idx = make(map[uint32]int32, len(kept))
		for i, x := range kept {
			st.idx[x.net] = int32(i)
		}
	}
}

// add records a sighting by network nw at minute m by a reporter of trust
// t.
func (st *recentState) add(nw, m uint32, t float64) {
	i := -1
	if st.idx != nil {
		if j, ok := st.idx[nw]; ok {
			i = int(j)
		}
	} else {
		for j := range st.s {
			if st.s[j].net == nw {
				i = j
				break
			}
		}
	}
	if i >= 0 {
		x := &st.s[i]
		x.minute = max(x.minute, m)
		if t > x.trust {
			st.support += t - x.trust
			x.trust = t
		}
		return
	}
	st.s = append(st.s, sighting{nw, m, t})
	st.support += t
	st.minMin = min(st.minMin, m)
	switch n := len(st.s); {
	case n == indexFrom+1:
		st.idx = make(map[uint32]int32, 2*n)
		for j, x := range st.s {
			st.idx[x.net] = int32(j)
		}
	case n > indexFrom+1:
		st.idx[nw] = int32(n - 1)
	}
}

type listedAddr struct {
	a      netip.Addr
	minute uint32
}

// Ranges is a set of addresses never predicted (protected and noise ranges).
type Ranges = reputation.Ranges

// Engine holds the prediction state. It is not safe for concurrent use; the
// reputation engine it reads trust from must be used under the same lock.
type Engine struct {
	rules     Rules
	rep       *reputation.Engine
	protected Ranges
	noise     Ranges

	listedAt map[netip.Addr]uint32         // minute each address was last seen listed
	nets     map[netip.Prefix][]listedAddr // listed addresses per /24 (/48)
	recent   map[netip.Addr]*recentState   // trusted sightings within Sweep
	active   map[netip.Prefix]*Prediction
	blocks   map[netip.Prefix]netip.Prefix // /24 (/48) → its predicted block
}

// New returns an engine reading trust and the current listing from rep.
// protected and noise may be nil.
func New(rules Rules, rep *reputation.Engine, protected, noise Ranges) *Engine {
	return &Engine{
		rules: rules.WithDefaults(rep.Rules()), rep: rep, protected: protected, noise: noise,
		listedAt: map[netip.Addr]uint32{},
		nets:     map[netip.Prefix][]listedAddr{},
		recent:   map[netip.Addr]*recentState{},
		active:   map[netip.Prefix]*Prediction{},
		blocks:   map[netip.Prefix]netip.Prefix{},
	}
}

// Rules returns the engine's rules with defaults applied.
func (p *Engine) Rules() Rules { return p.rules }

func minuteOf(t time.Time) uint32 {
	m := t.Unix() / 60
	if m < 0 {
		return 0
	}
	if m > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(m)
}

func timeOf(m uint32) time.Time { return time.Unix(int64(m)*60, 0).UTC() }

// netOf returns the /24 or /48 of a.
func netOf(a netip.Addr) netip.Prefix {
	if a.Is4() {
		p, _ := a.Prefix(24)
		return p
	}
	p, _ := a.Prefix(48)
	return p
}

func (p *Engine) oldest(now uint32, d time.Duration) uint32 {
	w := uint32(d / time.Minute)
	if now > w {
		return now - w
	}
	return 0
}

func (p *Engine) never(a netip.Addr) bool {
	return (p.protected != nil && p.protected.Contains(a)) || (p.noise != nil && p.noise.Contains(a))
}

// Listed records that the community lists addrs at now, the history the
// rules read, and returns the hostile-block predictions it made or renewed.
// Call it with the whole listing after each recomputation: an address stays
// vouched for Memory after the last call that named it.
func (p *Engine) Listed(addrs []netip.Addr, now time.Time) []Prediction {
	m := minuteOf(now)
	touched := map[netip.Prefix]struct{}{}
	for _, a := range addrs {
		a = a.Unmap()
		p.listedAt[a] = m
		n := netOf(a)
		h := p.nets[n]
		found := false
		for i := range h {
			if h[i].a == a {
				h[i].minute = m
				found = true
				break
			}
		}
		if !found {
			p.nets[n] = append(h, listedAddr{a, m})
		}
		if len(p.nets[n]) >= p.rules.BlockListed {
			touched[n] = struct{}{}
		}
		// A listed address needs no prediction.
		delete(p.active, netip.PrefixFrom(a, a.BitLen()))
	}
	var out []Prediction
	for n := range touched {
		if pr, ok := p.block(n, m, now); ok {
			out = append(out, pr)
		}
	}
	slices.SortFunc(out, func(x, y Prediction) int { return x.Prefix.Addr().Compare(y.Prefix.Addr()) })
	return out
}

// block makes or renews the hostile block of network n, if its listed
// addresses support one.
func (p *Engine) block(n netip.Prefix, m uint32, now time.Time) (Prediction, bool) {
	old := p.oldest(m, p.rules.Memory)
	var lo, hi netip.Addr
	count := 0
	for _, la := range p.nets[n] {
		if la.minute < old {
			continue
		}
		count++
		if !lo.IsValid() || la.a.Less(lo) {
			lo = la.a
		}
		if !hi.IsValid() || hi.Less(la.a) {
			hi = la.a
		}
	}
	if count < p.rules.BlockListed {
		return Prediction{}, false
	}
	// The tightest prefix holding lo and hi.
	bits := n.Bits()
	for bits < lo.BitLen() {
		if q, _ := lo.Prefix(bits + 1); !q.Contains(hi) {
			break
		}
		bits++
	}
	blk, _ := lo.Prefix(bits)
	size := lo.BitLen() - blk.Bits() // log2 of the block's size
	if size >= 31 || 1<<size > count*p.rules.BlockSpan {
		return Prediction{}, false
	}
	until := now.Add(p.rules.TTL)
	if prev, ok := p.blocks[n]; ok && prev == blk {
		if pr := p.active[blk]; pr != nil {
			pr.Until, pr.Listed = until, count
			return *pr, true
		}
	}
	if p.overlapsNever(blk) {
		return Prediction{}, false
	}
	if prev, ok := p.blocks[n]; ok && prev != blk {
		delete(p.active, prev) // superseded by the larger block
	}
	pr := &Prediction{Prefix: blk, Kind: HostileBlock, Since: now, Until: until, Listed: count}
	p.active[blk] = pr
	p.blocks[n] = blk
	return *pr, true
}

// overlapsNever reports whether any address of blk is protected or noise
// (blocks are at most BlockSpan × the listed addresses, so at most a /24).
func (p *Engine) overlapsNever(blk netip.Prefix) bool {
	if p.protected == nil && p.noise == nil {
		return false
	}
	a := blk.Addr()
	for blk.Contains(a) {
		if p.never(a) {
			return true
		}
		a = a.Next()
		if !a.IsValid() {
			break
		}
	}
	return false
}

// Observe records signal s of reporter r (an index of the reputation
// engine) at now, and returns the prediction it made or renewed, if any.
// The reporter's trust and the community's trust mass are the reputation
// engine's as of its last recomputation.
func (p *Engine) Observe(r uint32, s wire.Signal, now time.Time) (Prediction, bool) {
	a := s.Source.Unmap()
	if !a.IsValid() || !s.Class.Valid() {
		return Prediction{}, false
	}
	t := p.rep.Trust(r)
	if t < p.rules.MinTrust || p.never(a) {
		return Prediction{}, false
	}
	_, nw := p.rep.Network(r)
	m := minuteOf(now)
	st := p.recent[a]
	if st == nil {
		st = &recentState{minMin: m}
		p.recent[a] = st
	}
	st.prune(p.oldest(m, p.rules.Sweep))
	st.add(nw, m, t)
	if p.rep.Listed(a) {
		return Prediction{}, false
	}
	networks, support := len(st.s), st.support
	mass := p.rep.Mass()
	share := 0.0
	if mass > 0 {
		share = support / mass
	}
	var kind Kind
	var lastListed time.Time
	switch lm, ok := p.listedAt[a]; {
	case ok && lm >= p.oldest(m, p.rules.Memory):
		kind, lastListed = Recidivist, timeOf(lm)
	case networks >= p.rules.SweepNetworks && mass > 0 && share >= p.rules.Quorum:
		kind = Sweep
	case p.rules.TrustAnyone > 0 && networks >= p.rules.TrustAnyone:
		kind = TrustAnyone
	default:
		return Prediction{}, false
	}
	until := now.Add(p.rules.TTL)
	key := netip.PrefixFrom(a, a.BitLen())
	if pr := p.active[key]; pr != nil {
		if until.After(pr.Until) {
			pr.Until = until
		}
		pr.Networks, pr.Support = max(pr.Networks, networks), max(pr.Support, share)
		return *pr, true
	}
	pr := &Prediction{Prefix: key, Kind: kind, Since: now, Until: until,
		Networks: networks, Support: share, LastListed: lastListed}
	p.active[key] = pr
	return *pr, true
}

// Expire removes the predictions expired at now and the history older than
// the rules keep, and returns the removed predictions sorted by prefix.
func (p *Engine) Expire(now time.Time) []Prediction {
	var out []Prediction
	for k, pr := range p.active {
		if !now.Before(pr.Until) {
			out = append(out, *pr)
			delete(p.active, k)
		}
	}
	m := minuteOf(now)
	oldS := p.oldest(m, p.rules.Sweep)
	for a, st := range p.recent {
		st.prune(oldS)
		if len(st.s) == 0 {
			delete(p.recent, a)
		}
	}
	oldM := p.oldest(m, p.rules.Memory)
	for a, lm := range p.listedAt {
		if lm < oldM {
			delete(p.listedAt, a)
		}
	}
	for n, h := range p.nets {
		kept := h[:0]
		for _, la := range h {
			if la.minute >= oldM {
				kept = append(kept, la)
			}
		}
		if len(kept) == 0 {
			delete(p.nets, n)
		} else {
			p.nets[n] = kept
		}
	}
	for n, blk := range p.blocks {
		if _, ok := p.active[blk]; !ok {
			delete(p.blocks, n)
		}
	}
	slices.SortFunc(out, comparePred)
	return out
}

func comparePred(x, y Prediction) int {
	if c := x.Prefix.Addr().Compare(y.Prefix.Addr()); c != 0 {
		return c
	}
	return x.Prefix.Bits() - y.Prefix.Bits()
}

// Active returns the current predictions sorted by prefix.
func (p *Engine) Active() []Prediction {
	out := make([]Prediction, 0, len(p.active))
	for _, pr := range p.active {
		out = append(out, *pr)
	}
	slices.SortFunc(out, comparePred)
	return out
}

// Len returns the number of active predictions.
func (p *Engine) Len() int { return len(p.active) }

// Explanation says why an address is or is not predicted.
type Explanation struct {
	Predicted  bool
	Prediction Prediction // the one covering the address, when Predicted
	// Networks is the distinct trusted networks that reported the address
	// within Sweep, Support the share of the trust mass they hold; Listed
	// the distinct listed addresses of its /24 (/48) within Memory;
	// LastListed when it was last listed (zero: not within Memory).
	Networks   int
	Support    float64
	Listed     int
	LastListed time.Time
	Rules      Rules
	Reason     string
}

// Explain says why a is or is not predicted at now.
func (p *Engine) Explain(a netip.Addr, now time.Time) Explanation {
	a = a.Unmap()
	m := minuteOf(now)
	x := Explanation{Rules: p.rules}
	old := p.oldest(m, p.rules.Sweep)
	if st := p.recent[a]; st != nil {
		for _, s := range st.s {
			if s.minute >= old {
				x.Networks++
				x.Support += s.trust
			}
		}
	}
	if mass := p.rep.Mass(); mass > 0 {
		x.Support /= mass
	} else {
		x.Support = 0
	}
	oldM := p.oldest(m, p.rules.Memory)
	for _, la := range p.nets[netOf(a)] {
		if la.minute >= oldM {
			x.Listed++
		}
	}
	if lm, ok := p.listedAt[a]; ok && lm >= oldM {
		x.LastListed = timeOf(lm)
	}
	for bits := a.BitLen(); bits >= netOf(a).Bits(); bits-- {
		k, _ := a.Prefix(bits)
		if pr := p.active[k]; pr != nil && now.Before(pr.Until) {
			x.Predicted, x.Prediction = true, *pr
			x.Reason = fmt.Sprintf("%s; expires %s", pr.Reason(), pr.Until.UTC().Format(time.RFC3339))
			return x
		}
	}
	switch {
	case p.never(a):
		x.Reason = "protected or noise range: never predicted"
	case p.rep.Listed(a):
		x.Reason = "on the community list: no prediction needed"
	case x.Networks == 0:
		x.Reason = "no trusted report within the sweep window"
	case !x.LastListed.IsZero():
		x.Reason = "a recidivist: predicted at its next trusted report"
	default:
		x.Reason = fmt.Sprintf("reported by %d trusted networks holding %.0f%% of the trust mass within the sweep window (a sweep needs %d and %.0f%%)",
			x.Networks, 100*x.Support, p.rules.SweepNetworks, 100*p.rules.Quorum)
	}
	return x
}
