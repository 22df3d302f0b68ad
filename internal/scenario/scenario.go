// Package scenario recognises attack behaviour per source with leaky buckets
// keyed by (scenario, group).
//
// # Semantics
//
// A bucket is keyed by its scenario and the source's group: the address for
// IPv4, its IPv6Prefix (default /64) for IPv6, plus a hash of the Host for
// "source+host" grouping.
//
//   - leaky: the bucket holds Capacity events and one leaks out every Leak;
//     the event that finds it full (the Capacity+1-th of a burst) overflows.
//     The level is computed from event times (a generic cell rate
//     algorithm), never by a timer. With Window and no Leak, the bucket
//     counts events within Window of the fill's first event instead; with
//     both, whichever empties the bucket first applies.
//   - trigger: the first matching event overflows.
//   - distinct: a leaky bucket into which only events with a value of the
//     Distinct field not yet seen in the current fill are poured. Values are
//     kept as 32-bit seeded hashes, the last Capacity+1 of them per bucket.
//   - grouped by network (network.go): a distinct scenario keyed by the
//     source's autonomous system or /24 (/48) that counts distinct sources,
//     and alerts each of them on overflow.
//
// An overflow raises one alert and silences the key for Blackhole (default
// one minute); afterwards the bucket starts empty. A bucket that has fully
// leaked starts a new fill, which resets Alert.First and Alert.Events.
//
// Filter criteria all hold (AND); the values of one list are alternatives
// (OR). Paths and queries are compared percent-decoded once and ASCII
// lowercased; PathContains, PathSuffix and NotPathSuffix look at the path
// without its query, QueryContains at the query ('+' read as a space), and
// PathRegexp at the whole decoded target, case-insensitively. User agents
// are compared lowercased; services, reasons and methods exactly. Without
// Kinds a scenario sees every kind but KindNone.
//
// # Cost
//
// An Engine holds every bucket in a slab of fixed-size bucket structs, found
// by a packed, pointer-free key through one open-addressing hash table of
// 8-byte slots (index). An event visits only the scenarios whose filter
// accepts its service and kind, from lists made at Compile. A bucket's level is
// computed lazily from the event times it has seen (no timer, no goroutine per
// bucket); buckets that have fully leaked are dropped a few at a time on each
// Pour, like an incremental garbage collector, and when the engine holds
// MaxBuckets the least useful of a few sampled buckets is evicted, so memory
// stays bounded whatever sources an attacker forges.
package scenario

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

// Defaults applied by Compile.
const (
	DefaultMaxBuckets = 4_000_000
	DefaultBlackhole  = time.Minute
)

// Limits enforced by Compile, so that one rule cannot make a bucket large or
// its arithmetic overflow.
const (
	maxScenarios        = math.MaxUint16 // the last value marks a free slab slot
	maxCapacity         = 1_000_000
	maxDistinctCapacity = 1_000
	maxDuration         = 366 * 24 * time.Hour
)

// Options tunes an Engine.
type Options struct {
	// Geo, when set, tells network scenarios (group_by: network) the
	// autonomous system of a source whose Event.Geo does not say it; it is
	// asked only for events such a scenario counts. Nil: networks are
	// prefixes.
	Geo GeoLookup
	// MaxBuckets bounds the number of live buckets; when it is reached, a new
	// key evicts the least useful of a few sampled buckets. Default
	// DefaultMaxBuckets (about 200 MB of buckets at most).
	MaxBuckets int
	// MaxKnownUsers bounds the user names remembered as having logged in,
	// for filters with unless_user_seen_ok (known.go). Default
	// DefaultMaxKnownUsers.
	MaxKnownUsers int
}

type kindOf uint8

const (
	typeLeaky kindOf = iota
	typeTrigger
	typeDistinct
)

type fieldOf uint8

const (
	fieldUser fieldOf = iota
	fieldPath
	fieldPort
	fieldUserAgent
	fieldTarget // path and query
	fieldHost   // the event's Host: a sensor's target address, for horizontal scans
	fieldQuery  // the query string alone
)

// scenario is one compiled rules.ScenarioSpec. Durations are nanoseconds.
type scenario struct {
	name      string
	typ       kindOf
	field     fieldOf
	byHost    bool
	remedy    bool
	v6bits    int
	capacity  int64
	leak      int64 // 0: no leak, the bucket counts within window only
	window    int64 // 0: no window
	blackhole int64
	filter    filter
	// spec identifies the rule the scenario was compiled from (SpecHash):
	// Adopt keeps the buckets of a scenario whose spec did not change.
	spec [32]byte
	// net is the state of a scenario grouped by network (network.go); nil
	// for the others.
	net *netScenario

	// Distinct values of each bucket live in a ring of stride uint32 hashes
	// in pool, one chunk per bucket, reused through freeChunks. The first
	// word of a chunk packs the ring's length (low 16 bits) and next write
	// position (high 16 bits).
	stride     int
	pool       []uint32
	freeChunks []uint32
}

// key identifies a bucket. It holds no pointer and no padding: the index
// hashes it as three words and compares it whole.
type key struct {
	addr  [16]byte // the group prefix's address, IPv4 as ::ffff:a.b.c.d
	extra uint32   // hash of the Host for "source+host" grouping, else 0
	scen  uint32   // scenario index, < maxScenarios
}

const freeSlot = math.MaxUint16 // key.scen of a slab slot on the free list

// blackholed in bucket.count marks a key silenced until bucket.expire.
const blackholed = math.MaxUint32

// bucket is one slab slot: 64 bytes. Times are Unix nanoseconds.
type bucket struct {
	key    key
	first  int64  // time of the earliest event of the current fill
	last   int64  // time of the latest event of the current fill
	empty  int64  // leaky: when the level reaches zero (as a GCRA's theoretical arrival time)
	expire int64  // from this time on the bucket is indistinguishable from a fresh one
	count  uint32 // events in the current fill, or blackholed
	chunk  uint32 // distinct: 1 + index of the bucket's chunk in its scenario's pool; 0 for none
}

// Stats counts what the engine did since Compile.
type Stats struct {
	Live      uint64 // buckets held now
	Evicted   uint64 // buckets dropped before they expired because MaxBuckets was reached
	Expired   uint64 // buckets dropped because they had fully leaked or their blackhole ended
	Overflows uint64 // alerts raised
}

// Engine pours events into the buckets of compiled scenarios.
//
// An Engine is not safe for concurrent use: one goroutine owns it (it keeps
// scratch buffers for decoding paths between calls).
type Engine struct {
	scen []scenario
	// Scenario indices, in order, that can accept an event, by the event's
	// service and kind: a service some filter names has its own lists
	// (byService), any other service meets only the scenarios whose filter
	// names no service (anyService). Pour thus skips the scenarios whose
	// services or kinds exclude the event without looking at them.
	byService  map[string]*kindLists
	anyService *kindLists
	lastSvc    string     // the service of the last event poured, for one-entry caching
	lastLists  *kindLists // byService[lastSvc] or anyService

	index index // key → slab slot
	slab  []bucket
	free  []uint32
	max   int

	cursor   int    // next slab slot the incremental sweep looks at
	rng      uint64 // xorshift state for eviction sampling
	seed     maphash.Seed
	hostSeed uint32

	nets    []uint32  // indices of the network scenarios (network.go), dispatched apart
	netGate netGate   // whether an event may concern them
	geo     GeoLookup // Options.Geo

	stats Stats
	view  view

	known *knownUsers // nil unless a filter has unless_user_seen_ok
}

// Compile validates specs and compiles them into an Engine. Errors name the
// rule and where it was written.
func Compile(specs []rules.ScenarioSpec, o Options) (*Engine, error) {
	if len(specs) >= maxScenarios {
		return nil, fmt.Errorf("scenario: %d scenarios, at most %d are supported", len(specs), maxScenarios-1)
	}
	e := &Engine{
		max:  o.MaxBuckets,
		seed: maphash.MakeSeed(),
	}
	e.index = newIndex(e.seed)
	if e.max <= 0 {
		e.max = DefaultMaxBuckets
	}
	e.rng = maphash.String(e.seed, "eviction sampling") | 1
	e.hostSeed = uint32(maphash.String(e.seed, "host")) ^ 2166136261
	seen := make(map[string]rules.Pos, len(specs))
	var errs []error
	var kindSets [][]event.Kind
	for i := range specs {
		sp := &specs[i]
		if prev, dup := seen[sp.Name]; dup && sp.Name != "" {
			errs = append(errs, fmt.Errorf("scenario %q at %s:%d: name already used at %s:%d", sp.Name, sp.Pos.File, sp.Pos.Line, prev.File, prev.Line))
			continue
		}
		seen[sp.Name] = sp.Pos
		s, kinds, err := compileScenario(sp)
		if err != nil {
			errs = append(errs, fmt.Errorf("scenario %q at %s:%d: %w", sp.Name, sp.Pos.File, sp.Pos.Line, err))
			continue
		}
		e.scen = append(e.scen, s)
		kindSets = append(kindSets, kinds)
	}
	e.addNetworks(o)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	e.indexDispatch(kindSets)
	e.indexLiterals()
	e.setupKnown(o.MaxKnownUsers)
	return e, nil
}

// kindLists holds, per event kind, the indices of the scenarios that can
// accept an event of that kind (and of one service).
type kindLists [numKinds][]uint32

// numKinds bounds event kinds: Kind values a filter can name are below it.
const numKinds = 8

func (l *kindLists) of(k event.Kind) []uint32 {
	if int(k) < len(l) {
		return l[k]
	}
	return nil
}

// indexDispatch builds the per-(service, kind) lists of scenarios that Pour
// visits; kinds[i] are the kinds scenario i accepts.
func (e *Engine) indexDispatch(kinds [][]event.Kind) {
	build := func(svc string, named bool) *kindLists {
		l := new(kindLists)
		for i := range e.scen {
			f := &e.scen[i].filter
			if f.services != nil && (!named || !hasString(f.services, svc)) {
				continue
			}
			for _, k := range kinds[i] {
				l[k] = append(l[k], uint32(i))
			}
		}
		return l
	}
	e.anyService = build("", false)
	e.byService = make(map[string]*kindLists)
	for i := range e.scen {
		for _, svc := range e.scen[i].filter.services {
			if _, ok := e.byService[svc]; !ok {
				e.byService[svc] = build(svc, true)
			}
		}
	}
	e.lastSvc, e.lastLists = "", e.anyService // no filter names the empty service
}

// lists returns the scenario lists for events of service svc.
func (e *Engine) lists(svc string) *kindLists {
	if svc == e.lastSvc {
		return e.lastLists
	}
	l, ok := e.byService[svc]
	if !ok {
		l = e.anyService
	}
	e.lastSvc, e.lastLists = svc, l
	return l
}

// indexLiterals gathers the needles of every filter into one multiLit for
// the request target and one for the user agent, so that each is scanned
// once per event however many scenarios look into it.
func (e *Engine) indexLiterals() {
	target, ua := new(multiLit), new(multiLit)
	for i := range e.scen {
		f := &e.scen[i].filter
		f.reBit = target.add(anywhere, f.rePrefilter)
		f.pathBit = target.add(inPath, f.pathContains)
		f.queryBit = target.add(inQuery, f.queryContains)
		f.uaBit = ua.add(anywhere, f.uaContains)
	}
	e.view.lits = target
	if ua.n[anywhere] > 0 {
		e.view.uaLits = ua
		e.view.uaSeed = e.seed
		e.view.uaCache = new([1024]uaEntry)
	}
}

func compileScenario(sp *rules.ScenarioSpec) (scenario, []event.Kind, error) {
	if sp.GroupBy == "network" || sp.Distinct == "source" {
		return compileNetwork(sp)
	}
	s := scenario{name: sp.Name, remedy: sp.Remedy == nil || *sp.Remedy}
	if sp.Name == "" {
		return s, nil, errors.New("name is empty")
	}
	switch sp.Type {
	case "", "leaky":
		s.typ = typeLeaky
	case "trigger":
		s.typ = typeTrigger
	case "distinct":
		s.typ = typeDistinct
	default:
		return s, nil, fmt.Errorf("type %q is not leaky, trigger or distinct", sp.Type)
	}
	if sp.Leak < 0 || sp.Window < 0 || sp.Blackhole < 0 {
		return s, nil, errors.New("leak, window and blackhole must not be negative")
	}
	if sp.Leak > maxDuration || sp.Window > maxDuration || sp.Blackhole > maxDuration {
		return s, nil, fmt.Errorf("leak, window and blackhole must not exceed %v", maxDuration)
	}
	if s.typ != typeTrigger {
		if sp.Capacity <= 0 {
			return s, nil, fmt.Errorf("capacity %d must be > 0 for a %s scenario", sp.Capacity, typeName(s.typ))
		}
		if sp.Capacity > maxCapacity || (s.typ == typeDistinct && sp.Capacity > maxDistinctCapacity) {
			return s, nil, fmt.Errorf("capacity %d is too large", sp.Capacity)
		}
		if sp.Leak == 0 && sp.Window == 0 {
			return s, nil, errors.New("leak must be > 0 (or a window given): a bucket that never empties would ban on the long run")
		}
		if sp.Leak > 0 && int64(sp.Capacity) > int64(maxDuration)/int64(sp.Leak) {
			return s, nil, fmt.Errorf("capacity %d × leak %v: the bucket would take over %v to empty", sp.Capacity, sp.Leak, maxDuration)
		}
		s.capacity = int64(sp.Capacity)
		s.leak = int64(sp.Leak)
		s.window = int64(sp.Window)
	}
	if s.typ == typeDistinct {
		switch sp.Distinct {
		case "user":
			s.field = fieldUser
		case "path":
			s.field = fieldPath
		case "port":
			s.field = fieldPort
		case "user_agent":
			s.field = fieldUserAgent
		case "target":
			s.field = fieldTarget
		case "host":
			s.field = fieldHost
		case "query":
			s.field = fieldQuery
		default:
			return s, nil, fmt.Errorf("distinct field %q is not user, path, target, query, port, user_agent or host", sp.Distinct)
		}
		s.stride = 1 + sp.Capacity + 1 // header, then capacity+1 hashes
	} else if sp.Distinct != "" {
		return s, nil, fmt.Errorf("distinct %q given for a %s scenario", sp.Distinct, typeName(s.typ))
	}
	switch sp.GroupBy {
	case "", "source":
	case "source+host":
		s.byHost = true
	default:
		return s, nil, fmt.Errorf("group_by %q is not source or source+host", sp.GroupBy)
	}
	switch {
	case sp.IPv6Prefix == 0:
		s.v6bits = ipx.DefaultIPv6Bits
	case sp.IPv6Prefix < 1 || sp.IPv6Prefix > 128:
		return s, nil, fmt.Errorf("ipv6_prefix %d is not 1..128", sp.IPv6Prefix)
	default:
		s.v6bits = sp.IPv6Prefix
	}
	s.blackhole = int64(sp.Blackhole)
	if s.blackhole == 0 {
		s.blackhole = int64(DefaultBlackhole)
	}
	f, err := compileFilter(sp.Filter)
	if err != nil {
		return s, nil, err
	}
	s.filter = f
	s.spec = SpecHash(sp)
	var kinds []event.Kind
	if len(sp.Filter.Kinds) == 0 {
		// Every kind that says something about a source; KindNone only
		// when named.
		for k := event.Kind(1); k.String() != "invalid"; k++ {
			kinds = append(kinds, k)
		}
	}
	for _, n := range sp.Filter.Kinds {
		k, ok := event.ParseKind(n)
		if !ok {
			return s, nil, fmt.Errorf("filter: unknown event kind %q", n)
		}
		kinds = append(kinds, k)
	}
	return s, kinds, nil
}

func typeName(t kindOf) string {
	return [...]string{"leaky", "trigger", "distinct"}[t]
}

// Len returns the number of compiled scenarios.
func (e *Engine) Len() int { return len(e.scen) }

// Name returns the name of scenario i, 0 <= i < Len(); Pour reports scenarios
// by these indices.
func (e *Engine) Name(i int) string { return e.scen[i].name }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Live = uint64(e.index.len())
	return s
}

// sweepPerPour is how many slab slots each Pour examines for expiry: enough
// that the slab is swept many times per leak period at any useful event rate,
// cheap enough to be noise in Pour's cost.
const sweepPerPour = 4

// NeedsGeo reports whether some scenario's filter reads Event.Geo (its
// countries or ASNs criteria): the caller must then fill it before Pour.
func (e *Engine) NeedsGeo() bool {
	for i := range e.scen {
		if e.scen[i].filter.needsGeo() {
			return true
		}
	}
	return false
}

// Pour offers ev to every scenario whose filter accepts it. It appends the
// indices of the scenarios it poured into (those whose filter accepted ev,
// even when a distinct scenario ignored a repeated value or a blackhole
// silenced the key) to poured, and any alerts raised to alerts, and returns
// both. Alerts own their memory; ev is not retained.
//
// The event's own Time is the clock, so that replaying logs gives what
// following them live would give. Time may go backwards (out-of-order lines):
// an event earlier than the latest one its bucket has seen counts as if it
// came at that latest time, so late lines neither leak a bucket nor fill it
// faster, and Alert.First is the earliest time seen. An event without a
// valid Source is ignored.
//
// Pour does not allocate in steady state: only when the bucket map, the
// slab, a free list or a distinct-value pool grows, or a scratch buffer
// meets a longer path or user agent than before.
func (e *Engine) Pour(ev *event.Event, poured []int, alerts []event.Alert) ([]int, []event.Alert) {
	if !ev.Source.IsValid() {
		return poured, alerts
	}
	if e.known != nil && ev.Kind == event.KindAuthSuccess {
		e.known.learn(ev)
	}
	list := e.lists(ev.Service).of(ev.Kind)
	t := ev.Time.UnixNano()
	if len(list) > 0 {
		e.view.reset()
		var (
			k       key
			kBits   = -1
			host    uint32
			hostSet bool
			src     = ev.Source.Unmap()
		)
		for _, si := range list {
			s := &e.scen[si]
			if !s.filter.matchRest(ev, &e.view) { // the service is known to match
				continue
			}
			poured = append(poured, int(si))
			bits := s.v6bits
			if src.Is4() {
				bits = 32
			}
			if bits != kBits {
				k.addr = ipx.GroupPrefix(src, bits).Addr().As16()
				kBits = bits
			}
			k.scen = si
			k.extra = 0
			if s.byHost {
				if !hostSet {
					host = e.hashLower(ev.Host)
					hostSet = true
				}
				k.extra = host
			}
			var a *event.Alert
			alerts, a = e.pourInto(s, k, ev, t, alerts)
			if a != nil {
				a.Scope = ipx.GroupPrefix(src, bits)
			}
		}
	}
	if len(e.nets) > 0 && e.netGate.wants(ev) {
		poured, alerts = e.pourNetworks(ev, t, len(list) > 0, poured, alerts)
	}
	e.sweepStep(t, sweepPerPour)
	return poured, alerts
}

// pourInto counts ev into the bucket k of scenario s and, when the bucket
// overflows, appends an alert and returns a pointer to it for the caller to
// complete.
func (e *Engine) pourInto(s *scenario, k key, ev *event.Event, t int64, alerts []event.Alert) ([]event.Alert, *event.Alert) {
	var b *bucket
	h := e.index.hash(&k)
	if idx, ok := e.index.get(e.slab, &k, h); ok {
		b = &e.slab[idx]
		if t >= b.expire {
			e.refill(s, b) // fully leaked, window passed, or blackhole over
		} else if b.count == blackholed {
			return alerts, nil
		}
	} else {
		idx := e.alloc(t)
		e.index.put(h, idx)
		b = &e.slab[idx]
		*b = bucket{key: k}
	}
	if b.count == 0 {
		b.first, b.last, b.empty = t, t, t
	}
	// An out-of-order event is counted as if it came with the latest one
	// seen: late lines neither leak the bucket nor fill it faster.
	now := max(t, b.last)
	if s.typ == typeDistinct {
		if !s.remember(b, e.distinctHash(s, ev)) {
			return alerts, nil
		}
	}
	if s.typ != typeTrigger && s.admit(&b.empty, b.count, now) {
		if b.count < blackholed-1 {
			b.count++
		}
		b.first = min(b.first, t)
		b.last = now
		b.expire = s.expiry(b.first, b.empty)
		return alerts, nil
	}
	e.stats.Overflows++
	alerts = append(alerts, event.Alert{
		Scenario: s.name,
		Source:   ev.Source,
		First:    time.Unix(0, min(b.first, t)).In(ev.Time.Location()),
		Last:     ev.Time,
		Events:   int(b.count) + 1,
		Remedy:   s.remedy,
	})
	s.releaseChunk(b)
	b.count = blackholed
	b.expire = now + s.blackhole
	return alerts, &alerts[len(alerts)-1]
}

// refill empties b for a new fill.
func (e *Engine) refill(s *scenario, b *bucket) {
	s.releaseChunk(b)
	b.count = 0
	b.expire = 0
}

// alloc returns a slab slot for a new bucket, evicting one if the engine
// is full. The caller initialises the slot.
func (e *Engine) alloc(t int64) uint32 {
	if n := len(e.free); n > 0 {
		idx := e.free[n-1]
		e.free = e.free[:n-1]
		return idx
	}
	if len(e.slab) < e.max {
		e.slab = append(e.slab, bucket{})
		return uint32(len(e.slab) - 1)
	}
	// Full: every slot is live (the free list is empty and the slab never
	// grows beyond max). Sample a few and drop the one that would empty
	// first: it holds the least evidence.
	victim := -1
	for range 8 {
		i := int(e.next() % uint64(len(e.slab)))
		if victim < 0 || e.slab[i].expire < e.slab[victim].expire {
			victim = i
		}
	}
	b := &e.slab[victim]
	if b.expire <= t {
		e.stats.Expired++
	} else {
		e.stats.Evicted++
	}
	e.index.del(e.index.hash(&b.key), uint32(victim))
	e.scen[b.key.scen].releaseChunk(b)
	return uint32(victim)
}

func (e *Engine) next() uint64 {
	x := e.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	e.rng = x
	return x
}

// drop frees the live slot i.
func (e *Engine) drop(i int) {
	b := &e.slab[i]
	e.index.del(e.index.hash(&b.key), uint32(i))
	e.scen[b.key.scen].releaseChunk(b)
	b.key.scen = freeSlot
	e.free = append(e.free, uint32(i))
}

// sweepStep examines n slab slots from the cursor and drops those that have
// expired by now.
func (e *Engine) sweepStep(now int64, n int) {
	if len(e.slab) == 0 {
		return
	}
	for range n {
		i := e.cursor
		e.cursor++
		if e.cursor >= len(e.slab) {
			e.cursor = 0
		}
		if b := &e.slab[i]; b.key.scen != freeSlot && b.expire <= now {
			e.drop(i)
			e.stats.Expired++
		}
	}
}

// Sweep drops every bucket that has fully leaked, whose window has passed or
// whose blackhole has ended by now. Pour already does this a few buckets at
// a time; Sweep is for idle periods and tests. It costs one pass over the
// slab.
func (e *Engine) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range e.slab {
		if b := &e.slab[i]; b.key.scen != freeSlot && b.expire <= t {
			e.drop(i)
			e.stats.Expired++
		}
	}
	e.sweepNetworks(t)
}

// remember adds h to b's distinct set and reports whether it was new. The
// set is a ring of the last capacity+1 values, which is all a fill can count
// before it overflows.
func (s *scenario) remember(b *bucket, h uint32) bool {
	if b.chunk == 0 {
		if n := len(s.freeChunks); n > 0 {
			b.chunk = s.freeChunks[n-1]
			s.freeChunks = s.freeChunks[:n-1]
		} else {
			s.pool = append(s.pool, make([]uint32, s.stride)...)
			b.chunk = uint32(len(s.pool) / s.stride) // 1 + index
		}
		s.pool[int(b.chunk-1)*s.stride] = 0
	}
	c := s.pool[int(b.chunk-1)*s.stride:][:s.stride]
	n, pos := int(c[0]&0xffff), int(c[0]>>16)
	for _, v := range c[1 : 1+n] {
		if v == h {
			return false
		}
	}
	ring := s.stride - 1
	c[1+pos] = h
	pos = (pos + 1) % ring
	if n < ring {
		n++
	}
	c[0] = uint32(pos)<<16 | uint32(n)
	return true
}

func (s *scenario) releaseChunk(b *bucket) {
	if b.chunk != 0 {
		s.freeChunks = append(s.freeChunks, b.chunk)
		b.chunk = 0
	}
}

// distinctHash hashes the field a distinct scenario counts. Paths (and
// targets: path and query) are hashed decoded and lowercased, so "/a" and
// "/%41" are one value.
func (e *Engine) distinctHash(s *scenario, ev *event.Event) uint32 {
	switch s.field {
	case fieldUser:
		return uint32(maphash.Bytes(e.seed, ev.User))
	case fieldPath:
		e.view.prepare(ev.Path)
		return uint32(maphash.Bytes(e.seed, e.view.path()))
	case fieldTarget:
		e.view.prepare(ev.Path)
		return uint32(maphash.Bytes(e.seed, e.view.buf))
	case fieldQuery:
		e.view.prepare(ev.Path)
		return uint32(maphash.Bytes(e.seed, e.view.query()))
	case fieldPort:
		return uint32(ev.Port) // exact: a port is its own hash
	case fieldHost:
		return e.hashLower(ev.Host)
	default:
		return uint32(maphash.Bytes(e.seed, ev.UserAgent))
	}
}

// hashLower hashes an ASCII-lowercased host name (FNV-1a, seeded per
// engine) without allocating. The result is never 0, which means "no host
// grouping".
func (e *Engine) hashLower(b []byte) uint32 {
	h := e.hostSeed
	for _, c := range b {
		h ^= uint32(lower(c))
		h *= 16777619
	}
	return h | 1
}

// admit reports whether one more event at now fits a bucket (or network
// group) holding count events whose level empties at *empty, and takes its
// room if so. Leaky: the generic cell rate, the level at now being
// (*empty-now)/leak; the event fits while the level is at most capacity-1
// before it. Otherwise: while fewer than capacity events were counted.
func (s *scenario) admit(empty *int64, count uint32, now int64) bool {
	if s.leak > 0 {
		at := max(*empty, now)
		if at-now > (s.capacity-1)*s.leak {
			return false
		}
		*empty = at + s.leak
		return true
	}
	return int64(count) < s.capacity
}

// expiry is when a fill that began at first and empties at empty becomes
// indistinguishable from a fresh one: fully leaked, or its window passed.
func (s *scenario) expiry(first, empty int64) int64 {
	exp := int64(math.MaxInt64)
	if s.leak > 0 {
		exp = empty
	}
	if s.window > 0 {
		exp = min(exp, first+s.window)
	}
	return exp
}
