// Package profile turns alerts into decisions.
//
// Profiles are tried in order; the first whose scenario patterns (and
// countries or ASNs, when it lists some) match an alert decides its type, scope and duration. Repeat offenders get longer
// decisions: the profiles remember, for a bounded number of scopes, the last
// duration given and how long that decision counts as recent.
package profile

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

// Defaults applied by Compile.
const (
	DefaultDuration     = 4 * time.Hour
	DefaultMaxDuration  = 7 * 24 * time.Hour
	DefaultMaxOffenders = 1_000_000
	// DefaultIPv6Prefix is the prefix an "ip"-scoped decision on an IPv6
	// source covers when the spec leaves it out: the /64 an attacker
	// rotates its addresses in.
	DefaultIPv6Prefix = 64
)

// Origin is the Decision.Origin of decisions taken by profiles.
const Origin = event.OriginHerd

// Options tunes Profiles.
type Options struct {
	// NeverBan lists addresses no decision may cover. Nil protects
	// loopback and unspecified addresses only.
	NeverBan *ipx.NeverBan
	// Simulate marks every decision Simulated: reported, never enforced.
	Simulate bool
	// SimulatedScenarios names scenarios whose alerts are decided in
	// simulation only (rules.ScenarioSpec.Simulated), whatever Simulate says.
	SimulatedScenarios []string
	// MaxOffenders bounds how many scopes the repeat-offender memory holds.
	// Default DefaultMaxOffenders (about 50 MB at most).
	MaxOffenders int
}

// Verdict says why Decide returned what it returned.
type Verdict uint8

// The verdicts. Only Decided and Simulated come with a decision.
const (
	Decided     Verdict = iota // a decision to enforce
	NoRemedy                   // the alert only informs, or no profile applies
	Allowlisted                // the source is in the never-ban set
	Simulated                  // a decision to report, not to enforce
	// AlreadyDecided: the scope is still under a decision taken for an
	// earlier alert (another scenario seeing the same attack, or lines
	// already in flight when the ban landed). No new decision is taken, and
	// the offender is not escalated: escalation is for sources that come
	// back after a ban ends.
	AlreadyDecided
)

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case Decided:
		return "decided"
	case NoRemedy:
		return "no_remedy"
	case Allowlisted:
		return "allowlisted"
	case Simulated:
		return "simulated"
	case AlreadyDecided:
		return "already_decided"
	}
	return "invalid"
}

type profile struct {
	name       string
	patterns   []string // scenario names or globs; empty = all
	typ        event.DecisionType
	duration   time.Duration
	escalate   bool
	max        time.Duration
	rangeScope bool
	ipv6Bits   int // prefix an ip-scoped decision on an IPv6 source covers
	countries  []string
	asns       []uint32
}

// offenderKey is a decision scope packed without pointers.
type offenderKey struct {
	addr [16]byte
	bits uint8
}

// offense is what is remembered about a scope's last decision.
type offense struct {
	duration time.Duration
	until    int64 // Unix ns at which the decision ends
	forget   int64 // Unix ns after which the scope is no longer a repeat offender
}

// Profiles decides on alerts. It is safe for concurrent use.
type Profiles struct {
	list      []profile
	neverBan  *ipx.NeverBan
	simulate  bool
	simulated map[string]bool
	max       int

	mu        sync.Mutex
	offenders map[offenderKey]offense
}

// Compile validates specs and compiles them. With no specs, one default
// profile applies to every scenario: ban for 4h, doubling for repeat
// offenders up to 7 days. Errors name the profile and where it was written.
func Compile(specs []rules.ProfileSpec, o Options) (*Profiles, error) {
	p := &Profiles{
		neverBan:  o.NeverBan,
		simulate:  o.Simulate,
		simulated: make(map[string]bool, len(o.SimulatedScenarios)),
		max:       o.MaxOffenders,
		offenders: make(map[offenderKey]offense),
	}
	if p.max <= 0 {
		p.max = DefaultMaxOffenders
	}
	for _, s := range o.SimulatedScenarios {
		p.simulated[s] = true
	}
	if len(specs) == 0 {
		p.list = []profile{{name: "default", typ: event.Ban, duration: DefaultDuration, escalate: true, max: DefaultMaxDuration, ipv6Bits: DefaultIPv6Prefix}}
		return p, nil
	}
	var errs []error
	for i := range specs {
		pr, err := compileProfile(&specs[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("profile %q at %s:%d: %w", specs[i].Name, specs[i].Pos.File, specs[i].Pos.Line, err))
			continue
		}
		p.list = append(p.list, pr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func compileProfile(s *rules.ProfileSpec) (profile, error) {
	pr := profile{name: s.Name, escalate: s.Escalate, duration: s.Duration, max: s.MaxDuration, ipv6Bits: s.IPv6Prefix}
	if s.Name == "" {
		return pr, errors.New("name is empty")
	}
	for _, pat := range s.Scenarios {
		if pat == "" {
			return pr, errors.New("empty scenario pattern")
		}
	}
	pr.patterns = s.Scenarios
	pr.countries, pr.asns = s.Countries, s.ASNs
	for _, c := range pr.countries {
		if c == "" {
			return pr, errors.New("empty country code")
		}
	}
	switch s.Type {
	case "", "ban":
		pr.typ = event.Ban
	case "captcha":
		pr.typ = event.Captcha
	default:
		return pr, fmt.Errorf("type %q is not ban or captcha", s.Type)
	}
	switch s.Scope {
	case "", "ip":
	case "range":
		pr.rangeScope = true
	default:
		return pr, fmt.Errorf("scope %q is not ip or range", s.Scope)
	}
	switch {
	case pr.ipv6Bits == 0:
		pr.ipv6Bits = DefaultIPv6Prefix
	case pr.ipv6Bits < 48 || pr.ipv6Bits > 128:
		return pr, fmt.Errorf("ipv6_prefix %d is not within 48..128", pr.ipv6Bits)
	}
	if pr.duration < 0 || pr.max < 0 {
		return pr, errors.New("durations must not be negative")
	}
	if pr.duration == 0 {
		pr.duration = DefaultDuration
	}
	if pr.max == 0 {
		pr.max = max(DefaultMaxDuration, pr.duration)
	}
	if pr.max < pr.duration {
		return pr, fmt.Errorf("max_duration %v is shorter than duration %v", pr.max, pr.duration)
	}
	return pr, nil
}

// matches reports whether the profile applies to a: its scenario matches a
// pattern and, when the profile lists countries or ASNs, the alert's
// source is in one of them.
func (pr *profile) matches(a *event.Alert) bool {
	if len(pr.countries)+len(pr.asns) > 0 &&
		!slices.Contains(pr.countries, a.Geo.Country) && !slices.Contains(pr.asns, a.Geo.ASN) {
		return false
	}
	return pr.matchesScenario(a.Scenario)
}

func (pr *profile) matchesScenario(scenario string) bool {
	if len(pr.patterns) == 0 {
		return true
	}
	for _, pat := range pr.patterns {
		if glob(pat, scenario) {
			return true
		}
	}
	return false
}

// glob reports whether name matches pattern, in which '*' stands for any
// run of characters (including '/') and every other byte for itself.
func glob(pattern, name string) bool {
	// Greedy matching with backtracking to the last star: linear in
	// practice, never exponential.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Decide turns an alert into a decision. The first profile whose scenario
// patterns match a.Scenario decides; a scope that had a decision recently
// (the previous decision is still in force, or ended less than its own
// duration ago) is a repeat offender, whatever scenario raised either alert,
// and an escalating profile gives it double the previous duration, up to the
// profile's maximum. Until is a.Last plus the duration: log time, so replay
// decides what live would have decided.
//
// A range-scoped profile bans a.Scope, unless that range holds a never-ban
// address; then only the source is banned. An ip-scoped profile bans an
// IPv4 source alone and an IPv6 source's prefix of the profile's length
// (the /64 by default, as one host rotates addresses within it), again
// unless that prefix holds a never-ban address. The returned Verdict says why no
// decision was taken (NoRemedy, Allowlisted) or whether it is only
// Simulated; the Decision is the zero value unless the verdict is Decided or
// Simulated.
func (p *Profiles) Decide(a *event.Alert) (event.Decision, Verdict) {
	if !a.Remedy {
		return event.Decision{}, NoRemedy
	}
	src := a.Source.Unmap().WithZone("")
	if p.neverBan.Contains(src) {
		return event.Decision{}, Allowlisted
	}
	var pr *profile
	for i := range p.list {
		if p.list[i].matches(a) {
			pr = &p.list[i]
			break
		}
	}
	if pr == nil {
		return event.Decision{}, NoRemedy
	}
	scope := netip.PrefixFrom(src, src.BitLen())
	switch {
	case pr.rangeScope && a.Scope.IsValid():
		if r := a.Scope.Masked(); r.Contains(src) && !p.neverBan.Overlaps(r) {
			scope = r
		}
	case src.Is6() && pr.ipv6Bits < 128:
		if r := netip.PrefixFrom(src, pr.ipv6Bits).Masked(); !p.neverBan.Overlaps(r) {
			scope = r
		}
	}
	dur, active := p.duration(pr, scope, a.Last)
	if active {
		return event.Decision{}, AlreadyDecided
	}
	d := event.Decision{
		Type:     pr.typ,
		Scope:    scope,
		Duration: dur,
		Scenario: a.Scenario,
		Origin:   Origin,
	}
	d.Until = a.Last.Add(d.Duration)
	if p.simulate || p.simulated[a.Scenario] {
		d.Simulated = true
		return d, Simulated
	}
	return d, Decided
}

// duration returns the duration of a decision on scope taken at t, and
// remembers it; or reports that a decision on scope is still in force at t.
func (p *Profiles) duration(pr *profile, scope netip.Prefix, t time.Time) (time.Duration, bool) {
	k := offenderKey{addr: scope.Addr().As16(), bits: uint8(scope.Bits())}
	now := t.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	d := pr.duration
	prev, known := p.offenders[k]
	if known && now < prev.until {
		return 0, true
	}
	if known && pr.escalate && now < prev.forget {
		d = min(max(prev.duration*2, pr.duration), pr.max)
	}
	if !known && len(p.offenders) >= p.max {
		p.prune(now)
	}
	forget := int64(math.MaxInt64)
	if f := t.Add(2 * d); f.After(t) {
		forget = f.UnixNano() // in force for d, then recent for d more
	}
	until := int64(math.MaxInt64)
	if u := t.Add(d); u.After(t) {
		until = u.UnixNano()
	}
	p.offenders[k] = offense{duration: d, until: until, forget: forget}
	return d, false
}

// prune makes room in the offender memory: it forgets scopes whose last
// decision is no longer recent and, if that is not enough, an arbitrary
// eighth of the rest. It runs only when the memory is full, so its cost is
// amortised over many decisions.
func (p *Profiles) prune(now int64) {
	for k, o := range p.offenders {
		if o.forget <= now {
			delete(p.offenders, k)
		}
	}
	if len(p.offenders) < p.max {
		return
	}
	drop := max(p.max/8, 1)
	for k := range p.offenders { // map iteration order is unspecified: an arbitrary choice
		delete(p.offenders, k)
		if drop--; drop == 0 {
			break
		}
	}
}

// Offenders returns how many scopes the repeat-offender memory holds.
func (p *Profiles) Offenders() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.offenders)
}

// Adopt carries over into p the repeat offenders old remembers, so that a
// reload of the rules (herd reload) does not forget who was banned before
// and escalation carries on. old must not be used afterwards.
func (p *Profiles) Adopt(old *Profiles) {
	old.mu.Lock()
	defer old.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range old.offenders {
		if len(p.offenders) >= p.max {
			break
		}
		p.offenders[k] = v
	}
}
