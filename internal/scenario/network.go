package scenario

import (
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

// Network scenarios ("group_by: network", "distinct: source") count the
// distinct sources of one network, for attacks spread over many addresses
// that each stay below any per-source threshold (card testing from a rented
// block). A network is the source's autonomous system when GeoIP knows it,
// otherwise its /24 (IPv4) or /48 (IPv6). A source is one group of the
// scenario's ipv6_prefix, as elsewhere. The bucket is the same leaky bucket
// (or window) as a distinct scenario's, the values being the sources; when
// it overflows, each source of the fill it still remembers (the last
// capacity+1) gets its own alert, scoped to the source alone: every one of
// them did what the filter counts, and the network as a whole is never
// blamed. The network is then silenced for the blackhole.
//
// Network scenarios live apart from the per-source buckets: their own map,
// slab and pool per scenario, reached from Pour only when some scenario is
// one, so that an engine without them does no extra work. Stats.Overflows
// and Stats.Expired count their alerts and networks; Stats.Live counts the
// per-source buckets alone.

// Network prefix lengths used when the source's autonomous system is unknown.
const (
	networkV4Bits = 24
	networkV6Bits = 48
)

// Memory bounds of one network scenario: at most maxNetworkGroups networks,
// and at most maxNetworkSources remembered sources over all of them (each
// network remembers capacity+1), whichever is smaller; beyond, the least
// useful of a few sampled networks is evicted.
const (
	maxNetworkGroups  = 1 << 16
	maxNetworkSources = 1 << 18
)

// GeoLookup tells which autonomous system an address belongs to
// (internal/geoip's DB). Lookup must not allocate.
type GeoLookup interface {
	Lookup(netip.Addr) event.Geo
}

// netKey identifies a network: its autonomous system, or (asn 0) the
// address of its prefix.
type netKey struct {
	addr [16]byte
	asn  uint32
}

// netGroup is one network's bucket. Times are Unix nanoseconds, as in bucket.
type netGroup struct {
	key    netKey
	first  int64
	last   int64
	empty  int64
	expire int64
	count  uint32 // distinct sources in the current fill, or blackholed
	n, pos uint16 // the ring of remembered sources: its length and next write
}

// netSource is a source remembered by a network's bucket.
type netSource struct {
	group  [16]byte // the source's group address (IPv4, or its IPv6 prefix)
	addr   netip.Addr
	first  int64 // time of its first event in the fill
	events uint32
}

// netGate is what Pour tests before offering an event to the network
// scenarios at all: the kinds and services some of them accept.
type netGate struct {
	kinds       [4]uint64 // bits of the event kinds some network scenario accepts
	services    []string  // the services their filters name, when every filter names some
	anyServices bool      // some filter names no service
}

// wants reports whether some network scenario may accept ev. Not inlined:
// Pour's code stays as it is for engines without network scenarios.
//
//go:noinline
func (g *netGate) wants(ev *event.Event) bool {
	return g.kinds[ev.Kind/64]&(1<<(ev.Kind%64)) != 0 && (g.anyServices || hasString(g.services, ev.Service))
}

// netScenario is the state of one network scenario.
type netScenario struct {
	kinds  [4]uint64 // event kinds the filter accepts, as bits
	index  map[netKey]uint32
	groups []netGroup
	free   []uint32
	pool   []netSource // stride entries per slot of groups
	stride int         // capacity+1
	max    int         // bound on len(groups)
	cursor int         // next slot the incremental sweep looks at
	rng    uint64
}

// compileNetwork compiles a scenario grouped by network. The loader checks
// the same (docs/rules.md); this guards specs built in code. The rest of
// the spec is checked as any distinct scenario's; the scenario's kinds go
// into its own state, not to Pour's dispatch, which never sees it.
func compileNetwork(sp *rules.ScenarioSpec) (scenario, []event.Kind, error) {
	if sp.GroupBy != "network" {
		return scenario{}, nil, errors.New("distinct: source needs group_by: network")
	}
	if sp.Type != "distinct" || sp.Distinct != "source" {
		return scenario{}, nil, errors.New("group_by network needs type distinct with distinct: source")
	}
	c := *sp
	c.Distinct, c.GroupBy = "user", "source" // stand-ins, for the checks alone
	s, kinds, err := compileScenario(&c)
	if err != nil {
		return s, nil, err
	}
	s.spec = SpecHash(sp)
	n := &netScenario{
		index:  make(map[netKey]uint32),
		stride: sp.Capacity + 1,
		rng:    uint64(sp.Capacity)*0x9e3779b97f4a7c15 | 1,
	}
	n.max = min(maxNetworkGroups, maxNetworkSources/n.stride)
	for _, k := range kinds {
		n.kinds[k/64] |= 1 << (k % 64)
	}
	s.net = n
	return s, nil, nil
}

// addNetworks lists the network scenarios of e, once they are compiled, and
// applies o to them: Options.MaxBuckets also bounds their networks.
func (e *Engine) addNetworks(o Options) {
	e.geo = o.Geo
	for i := range e.scen {
		n := e.scen[i].net
		if n == nil {
			continue
		}
		if o.MaxBuckets > 0 {
			n.max = max(1, min(n.max, o.MaxBuckets))
		}
		e.nets = append(e.nets, uint32(i))
		for w := range n.kinds {
			e.netGate.kinds[w] |= n.kinds[w]
		}
		if svcs := e.scen[i].filter.services; svcs == nil {
			e.netGate.anyServices = true
		} else {
			for _, svc := range svcs {
				if !hasString(e.netGate.services, svc) {
					e.netGate.services = append(e.netGate.services, svc)
				}
			}
		}
	}
}

// networkKey returns the network of src (unmapped, valid): its autonomous
// system when asn is known, else its /24 or /48 (or the scenario's IPv6
// grouping, when that is wider).
func networkKey(src netip.Addr, asn uint32, v6bits int) netKey {
	if asn != 0 {
		return netKey{asn: asn}
	}
	bits := networkV4Bits
	if !src.Is4() {
		bits = min(networkV6Bits, v6bits)
	}
	p, _ := src.WithZone("").Prefix(bits)
	return netKey{addr: p.Addr().As16()}
}

// pourNetworks offers ev to every network scenario, as Pour does to the
// others. viewReady tells whether e.view was already reset for ev. It stays
// small: what a matching event needs is in pourMatched.
func (e *Engine) pourNetworks(ev *event.Event, t int64, viewReady bool, poured []int, alerts []event.Alert) ([]int, []event.Alert) {
	for _, si := range e.nets {
		s := &e.scen[si]
		if s.net.kinds[ev.Kind/64]&(1<<(ev.Kind%64)) == 0 ||
			s.filter.services != nil && !hasString(s.filter.services, ev.Service) {
			continue
		}
		if !viewReady {
			e.view.reset()
			viewReady = true
		}
		if s.filter.match(ev, &e.view) {
			poured = append(poured, int(si))
			alerts = e.pourMatched(s, ev, t, alerts)
		}
	}
	return poured, alerts
}

// pourMatched counts ev, which network scenario s accepted, into the bucket
// of its source's network.
func (e *Engine) pourMatched(s *scenario, ev *event.Event, t int64, alerts []event.Alert) []event.Alert {
	src := ev.Source.Unmap().WithZone("")
	asn := ev.Geo.ASN
	if asn == 0 && e.geo != nil {
		asn = e.geo.Lookup(src).ASN
	}
	alerts = e.pourNetwork(s, networkKey(src, asn, s.v6bits), src, ev, t, alerts)
	e.stats.Expired += uint64(s.net.sweepStep(t, sweepPerPour))
	return alerts
}

// pourNetwork counts the source src of ev into the bucket of network k.
func (e *Engine) pourNetwork(s *scenario, k netKey, src netip.Addr, ev *event.Event, t int64, alerts []event.Alert) []event.Alert {
	n := s.net
	idx, ok := n.index[k]
	var g *netGroup
	if ok {
		g = &n.groups[idx]
		if t >= g.expire {
			g.count, g.expire = 0, 0 // fully leaked, window passed, or blackhole over
		} else if g.count == blackholed {
			return alerts
		}
	} else {
		idx = n.alloc(t)
		n.index[k] = idx
		g = &n.groups[idx]
		*g = netGroup{key: k}
	}
	if g.count == 0 {
		g.first, g.last, g.empty = t, t, t
		g.n, g.pos = 0, 0
	}
	now := max(t, g.last)
	ring := n.pool[int(idx)*n.stride:][:n.stride]
	grp := ipx.GroupPrefix(src, s.v6bits).Addr().As16()
	for i := range ring[:g.n] {
		if ring[i].group == grp {
			// A source already counted: it adds nothing to the level.
			if ring[i].events < math.MaxUint32 {
				ring[i].events++
			}
			return alerts
		}
	}
	ring[g.pos] = netSource{group: grp, addr: src, first: t, events: 1}
	g.pos = uint16((int(g.pos) + 1) % n.stride)
	if int(g.n) < n.stride {
		g.n++
	}
	if s.admit(&g.empty, g.count, now) {
		if g.count < blackholed-1 {
			g.count++
		}
		g.first = min(g.first, t)
		g.last = now
		g.expire = s.expiry(g.first, g.empty)
		return alerts
	}
	loc := ev.Time.Location()
	for i := range ring[:g.n] {
		c := &ring[i]
		e.stats.Overflows++
		alerts = append(alerts, event.Alert{
			Scenario: s.name,
			Source:   c.addr,
			Scope:    ipx.GroupPrefix(c.addr, s.v6bits),
			First:    time.Unix(0, min(c.first, t)).In(loc),
			Last:     ev.Time,
			Events:   int(c.events),
			Remedy:   s.remedy,
		})
	}
	g.count = blackholed
	g.n, g.pos = 0, 0
	g.expire = now + s.blackhole
	return alerts
}

// alloc returns a slot for a new network, evicting one when the scenario
// holds its maximum. The caller initialises the slot.
func (n *netScenario) alloc(t int64) uint32 {
	if k := len(n.free); k > 0 {
		idx := n.free[k-1]
		n.free = n.free[:k-1]
		return idx
	}
	if len(n.groups) < n.max {
		n.groups = append(n.groups, netGroup{})
		n.pool = append(n.pool, make([]netSource, n.stride)...)
		return uint32(len(n.groups) - 1)
	}
	// Full: drop the sampled network that would empty first.
	victim := -1
	for range 8 {
		x := n.rng
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		n.rng = x
		i := int(x % uint64(len(n.groups)))
		if victim < 0 || n.groups[i].expire < n.groups[victim].expire {
			victim = i
		}
	}
	delete(n.index, n.groups[victim].key)
	return uint32(victim)
}

// sweepStep examines k slots from the cursor and frees those expired by now.
// A freed slot keeps an expire of 0 and a key no longer in the index.
func (n *netScenario) sweepStep(now int64, k int) (dropped int) {
	if len(n.groups) == 0 {
		return 0
	}
	for range min(k, len(n.groups)) {
		i := n.cursor
		n.cursor = (n.cursor + 1) % len(n.groups)
		g := &n.groups[i]
		if g.expire != freedNetwork && g.expire <= now {
			delete(n.index, g.key)
			g.expire = freedNetwork
			n.free = append(n.free, uint32(i))
			dropped++
		}
	}
	return dropped
}

// freedNetwork in netGroup.expire marks a slot on the free list.
const freedNetwork = math.MinInt64

// sweepNetworks is Sweep for the network scenarios.
func (e *Engine) sweepNetworks(t int64) {
	for _, si := range e.nets {
		n := e.scen[si].net
		e.stats.Expired += uint64(n.sweepStep(t, len(n.groups)))
	}
}

// liveNetworks counts the networks held by every network scenario.
func (e *Engine) liveNetworks() int {
	total := 0
	for _, si := range e.nets {
		total += len(e.scen[si].net.index)
	}
	return total
}

// adoptNetworks hands the networks of each kept network scenario of old
// (to maps old indices to new ones, freeSlot for none) to e, and returns how
// many it carried over.
func (e *Engine) adoptNetworks(old *Engine, to []uint32) int {
	carried := 0
	for _, oi := range old.nets {
		if ni := to[oi]; ni != freeSlot && e.scen[ni].net != nil {
			kinds := e.scen[ni].net.kinds
			mx := e.scen[ni].net.max
			e.scen[ni].net = old.scen[oi].net
			e.scen[ni].net.kinds, e.scen[ni].net.max = kinds, max(mx, len(old.scen[oi].net.groups))
			carried += len(e.scen[ni].net.index)
		}
	}
	return carried
}
