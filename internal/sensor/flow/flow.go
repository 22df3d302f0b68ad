// Package flow keeps bidirectional flows: a fixed-capacity open-addressing
// table keyed by the 5-tuple in either direction, with TCP state, packet
// and byte counters per direction, and idle and active timeouts run on the
// packets' own time. Memory is allocated once, at New: under a flood of
// spoofed sources the table evicts, and counts, rather than grows. A Table
// is owned by one goroutine; N workers run N tables, and Shard sends both
// directions of a flow to the same one.
package flow

import (
	"bytes"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"sort"
	"time"

	"github.com/herd-ips/herd/internal/sensor/packet"
)

// State is a flow's TCP state (UDP and ICMP flows stay in StateOther).
type State uint8

// The states.
const (
	StateOther       State = iota
	StateSYN               // the client's SYN seen, no answer yet
	StateSYNACK            // the server answered SYN-ACK
	StateEstablished       // the handshake completed, or data flows both ways
	StateFIN               // a FIN was seen
	StateClosed            // both FINs, or a RST
)

var stateNames = [...]string{"other", "syn", "syn_ack", "established", "fin", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// End says why a flow left the table.
type End uint8

// The reasons.
const (
	EndIdle    End = iota // no packet for its idle timeout
	EndActive             // open longer than the active timeout
	EndClosed             // FIN/RST and a short linger
	EndEvicted            // pushed out by a new flow when the table was full
	EndFlush              // the end of the capture (Flush)
)

// Key names a flow: endpoint 0 is the client (the side that opened it),
// endpoint 1 the server.
type Key struct {
	Addr  [2][16]byte
	Port  [2]uint16
	Proto uint8
	V4    bool
}

// AddrPort returns endpoint i (0 client, 1 server).
func (k *Key) AddrPort(i int) netip.AddrPort {
	a := netip.AddrFrom16(k.Addr[i])
	if k.V4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, k.Port[i])
}

// Flow is one bidirectional flow. Index 0 of the arrays is the client to
// server direction. Data is the caller's per-flow state.
type Flow[T any] struct {
	Key
	State   State
	Flags   [2]uint8 // TCP flags seen, ORed, per direction
	VLAN    uint16
	Packets [2]uint64
	Bytes   [2]uint64 // IP bytes (headers included)
	First   int64     // Unix nanoseconds of the first packet
	Last    int64
	Data    T

	hash uint64
	used bool
}

// Counters are a table's totals.
type Counters struct {
	Flows        uint64 // flows created
	Live         int    // flows in the table now
	Evicted      uint64 // flows pushed out by new ones when full
	Expired      uint64
	FragAttached uint64 // later IP fragments counted into their flow
	FragOrphans  uint64 // later fragments whose first fragment was not seen
}

// Options size a table and its timeouts. Zero values take the defaults.
type Options struct {
	Capacity int           // flows held at most; default 65536
	IdleTCP  time.Duration // established TCP; default 5m
	IdleUDP  time.Duration // UDP and others; default 2m
	IdleOpen time.Duration // half-open TCP (SYN only); default 30s
	Linger   time.Duration // after FIN/RST; default 10s
	Active   time.Duration // the longest a flow stays before it is reported; default 30m
	Seed     maphash.Seed  // hash seed; zero value: a random one
	// FixedSeed, when not 0, seeds the hash instead of Seed: a capture
	// file read twice then gives its flows in the same order, expiry
	// included. A live sensor keeps the random seed (hash flooding).
	FixedSeed   uint64
	FragEntries int // first fragments remembered; default 1024
}

type frag struct {
	src, dst     [16]byte
	id           uint32
	proto        uint8
	used         bool
	sport, dport uint16
	flow         uint64 // the flow's hash
}

// entry is one slot of a table's index: the flow's id + 1 (0: empty) and
// the low half of its hash, so that probing and backward-shift deletion
// read the index alone.
type entry struct {
	id  uint32
	tag uint32
}

// Table is a fixed-capacity flow table. Not safe for concurrent use. Its
// index is an open-addressing hash table of small entries; the flows live
// in a dense array, taken from a free list last-freed first, so that new
// flows reuse memory still in cache and a table far from full touches
// only the memory its most flows at once needed.
type Table[T any] struct {
	o     Options
	flows []Flow[T] // by id; used marks the live ones
	index []entry
	free  []uint32 // ids below top free for reuse
	top   uint32   // ids from top on were never used
	mask  uint64
	limit int
	seed  uint64
	frags []frag
	end   func(*Flow[T], End)
	c     Counters
	sweep uint32 // next flow id the incremental sweep looks at
	debt  int    // flow ids the sweep is behind
	last  int64  // packet time the debt was last counted at
	now   int64
}

// New returns a table calling end for every flow that leaves it; end must
// not keep the pointer.
func New[T any](o Options, end func(*Flow[T], End)) *Table[T] {
	if o.Capacity <= 0 {
		o.Capacity = 65536
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.IdleTCP, 5*time.Minute)
	def(&o.IdleUDP, 2*time.Minute)
	def(&o.IdleOpen, 30*time.Second)
	def(&o.Linger, 10*time.Second)
	def(&o.Active, 30*time.Minute)
	if o.FragEntries <= 0 {
		o.FragEntries = 1024
	}
	if o.Seed == (maphash.Seed{}) {
		o.Seed = maphash.MakeSeed()
	}
	n := 1 << bits.Len(uint(o.Capacity+o.Capacity/3))
	t := &Table[T]{
		o:     o,
		flows: make([]Flow[T], o.Capacity),
		index: make([]entry, n),
		free:  make([]uint32, 0, o.Capacity),
		mask:  uint64(n - 1),
		limit: o.Capacity,
		seed:  maphash.Comparable(o.Seed, uint64(0x9e3779b97f4a7c15)),
		frags: make([]frag, 1<<bits.Len(uint(o.FragEntries-1))),
		end:   end,
	}
	if o.FixedSeed != 0 {
		t.seed = mix(o.FixedSeed)
	}
	return t
}

// Counters returns the table's totals.
func (t *Table[T]) Counters() Counters { return t.c }

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func endHash(seed uint64, a *[16]byte, port uint16) uint64 {
	lo := uint64(a[0]) | uint64(a[1])<<8 | uint64(a[2])<<16 | uint64(a[3])<<24 | uint64(a[4])<<32 | uint64(a[5])<<40 | uint64(a[6])<<48 | uint64(a[7])<<56
	hi := uint64(a[8]) | uint64(a[9])<<8 | uint64(a[10])<<16 | uint64(a[11])<<24 | uint64(a[12])<<32 | uint64(a[13])<<40 | uint64(a[14])<<48 | uint64(a[15])<<56
	return mix(mix(lo^seed) ^ hi ^ uint64(port)<<17)
}

// symmetric hashes both endpoints so that either direction gives the same value.
func symmetric(seed uint64, a, b *[16]byte, pa, pb uint16, proto uint8) uint64 {
	x, y := endHash(seed, a, pa), endHash(seed, b, pb)
	return mix(x + y ^ (x^y)<<1 ^ uint64(proto))
}

// Hash is the symmetric flow hash of p under seed: the same for both
// directions. Shard maps it to one of n workers.
func Hash(seed maphash.Seed, p *packet.Packet) uint64 {
	s := maphash.Comparable(seed, uint64(0x9e3779b97f4a7c15))
	a, b := p.Src.As16(), p.Dst.As16()
	return symmetric(s, &a, &b, p.SrcPort, p.DstPort, p.Proto)
}

// Shard returns the worker, 0 <= w < n, for a flow hash.
func Shard(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// Packet counts p, captured at now, into its flow, creating the flow if
// needed, and returns the flow and p's direction (0 client to server). It
// returns nil for a later fragment whose flow is unknown. Packet does not
// allocate.
func (t *Table[T]) Packet(p *packet.Packet, now time.Time) (*Flow[T], int) {
	ns := now.UnixNano()
	if ns > t.now {
		t.now = ns
	}
	if t.now-t.last >= int64(time.Second) {
		t.owe()
	}
	if t.debt > 0 {
		t.sweepStep()
	}
	src, dst := p.Src.As16(), p.Dst.As16()
	if p.Frag == packet.LaterFragment {
		return t.laterFragment(p, &src, &dst)
	}
	h := symmetric(t.seed, &src, &dst, p.SrcPort, p.DstPort, p.Proto)
	i, dir, found := t.find(h, &src, &dst, p.SrcPort, p.DstPort, p.Proto)
	var f *Flow[T]
	if found {
		f = &t.flows[t.index[i].id-1]
	}
	if found && (t.now-f.Last > t.timeout(f) || t.now-f.First > int64(t.o.Active)) {
		// Expired, though the sweep has not reached it yet: it ends
		// here and the packet opens a new flow.
		t.c.Expired++
		why := EndIdle
		if t.now-f.Last <= t.timeout(f) {
			why = EndActive
		}
		t.remove(t.index[i].id-1, why)
		found = false
		i, dir, _ = t.find(h, &src, &dst, p.SrcPort, p.DstPort, p.Proto)
	} else if found && f.State == StateClosed && p.Proto == packet.ProtoTCP && p.Flags&(packet.SYN|packet.ACK) == packet.SYN {
		// Port reuse: a new connection on a closed flow's tuple.
		t.remove(t.index[i].id-1, EndClosed)
		found = false
		i, dir, _ = t.find(h, &src, &dst, p.SrcPort, p.DstPort, p.Proto)
	}
	if !found {
		if t.c.Live >= t.limit {
			t.evict(h)
			i, dir, _ = t.find(h, &src, &dst, p.SrcPort, p.DstPort, p.Proto)
		}
		var id uint32
		if n := len(t.free); n > 0 {
			id = t.free[n-1]
			t.free = t.free[:n-1]
		} else {
			id = t.top
			t.top++
		}
		t.index[i] = entry{id: id + 1, tag: uint32(h)}
		f = &t.flows[id]
		var zero T
		*f = Flow[T]{hash: h, used: true, First: ns, Data: zero}
		f.Proto = p.Proto
		f.V4 = p.Src.Is4()
		f.VLAN = p.VLAN
		dir = 0
		// A first packet that is an answer says the other side opened.
		swap := false
		switch p.Proto {
		case packet.ProtoTCP:
			swap = p.Flags&(packet.SYN|packet.ACK) == packet.SYN|packet.ACK
		case packet.ProtoUDP:
			swap = p.SrcPort < 1024 && p.DstPort >= 1024
		}
		if swap {
			f.Addr[0], f.Addr[1], f.Port[0], f.Port[1] = dst, src, p.DstPort, p.SrcPort
			dir = 1
		} else {
			f.Addr[0], f.Addr[1], f.Port[0], f.Port[1] = src, dst, p.SrcPort, p.DstPort
		}
		t.c.Live++
		t.c.Flows++
	}
	if p.Frag == packet.FirstFragment {
		t.rememberFragment(p, &src, &dst, h)
	}
	f.Last = ns
	f.Packets[dir]++
	f.Bytes[dir] += uint64(p.IPLen)
	if p.Proto == packet.ProtoTCP {
		f.Flags[dir] |= p.Flags
		f.track(dir, p.Flags, len(p.Payload))
	}
	return f, dir
}

func (f *Flow[T]) track(dir int, fl uint8, payload int) {
	switch {
	case fl&packet.RST != 0:
		f.State = StateClosed
		return
	case fl&packet.FIN != 0:
		if f.Flags[1-dir]&packet.FIN != 0 {
			f.State = StateClosed
		} else if f.State != StateClosed {
			f.State = StateFIN
		}
		return
	}
	switch f.State {
	case StateOther:
		switch {
		case fl&(packet.SYN|packet.ACK) == packet.SYN:
			f.State = StateSYN
		case fl&(packet.SYN|packet.ACK) == packet.SYN|packet.ACK:
			f.State = StateSYNACK
		case f.Packets[0] > 0 && f.Packets[1] > 0:
			f.State = StateEstablished // joined mid-connection
		}
	case StateSYN:
		if dir == 1 && fl&(packet.SYN|packet.ACK) == packet.SYN|packet.ACK {
			f.State = StateSYNACK
		}
	case StateSYNACK:
		if dir == 0 && fl&packet.ACK != 0 && fl&packet.SYN == 0 {
			f.State = StateEstablished
		}
	}
}

// find returns the index slot holding the flow, or the empty slot where
// it goes.
func (t *Table[T]) find(h uint64, src, dst *[16]byte, sp, dp uint16, proto uint8) (int, int, bool) {
	i := h & t.mask
	tag := uint32(h)
	for {
		e := t.index[i]
		if e.id == 0 {
			return int(i), 0, false
		}
		if e.tag == tag {
			f := &t.flows[e.id-1]
			if f.hash == h && f.Proto == proto {
				if f.Port[0] == sp && f.Port[1] == dp && f.Addr[0] == *src && f.Addr[1] == *dst {
					return int(i), 0, true
				}
				if f.Port[1] == sp && f.Port[0] == dp && f.Addr[1] == *src && f.Addr[0] == *dst {
					return int(i), 1, true
				}
			}
		}
		i = (i + 1) & t.mask
	}
}

// evict removes one flow near h's home slot: the least valuable of the
// next 16 occupied slots (half-open and one-way flows before established
// ones, older before newer).
func (t *Table[T]) evict(h uint64) {
	best, bestScore := uint32(0), int64(-1)
	i := h & t.mask
	for n := 0; n < 16; i = (i + 1) & t.mask {
		e := t.index[i]
		if e.id == 0 {
			continue
		}
		n++
		f := &t.flows[e.id-1]
		score := t.now - f.Last
		if f.Packets[1] == 0 || f.State == StateSYN {
			score += int64(time.Hour)
		}
		if score > bestScore {
			best, bestScore = e.id-1, score
		}
	}
	t.c.Evicted++
	t.remove(best, EndEvicted)
}

// remove reports flow id, frees it, and empties its index slot with
// backward-shift deletion, so that probing never meets a tombstone.
func (t *Table[T]) remove(id uint32, why End) {
	f := &t.flows[id]
	t.end(f, why)
	t.c.Live--
	hole := f.hash & t.mask
	for t.index[hole].id != id+1 {
		hole = (hole + 1) & t.mask
	}
	*f = Flow[T]{}
	t.free = append(t.free, id)
	t.index[hole] = entry{}
	j := hole
	for {
		j = (j + 1) & t.mask
		e := t.index[j]
		if e.id == 0 {
			return
		}
		home := uint64(e.tag) & t.mask
		// Move e into the hole unless its home lies cyclically in (hole, j].
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			t.index[hole] = e
			t.index[j] = entry{}
			hole = j
		}
	}
}

func (t *Table[T]) timeout(f *Flow[T]) int64 {
	switch {
	case f.Proto != packet.ProtoTCP:
		return int64(t.o.IdleUDP)
	case f.State == StateClosed:
		return int64(t.o.Linger)
	case f.State == StateSYN || f.State == StateSYNACK:
		return int64(t.o.IdleOpen)
	}
	return int64(t.o.IdleTCP)
}

// owe adds to the sweep's debt the slots due for the packet time passed,
// so that the whole table is visited every 128 seconds of packet time.
func (t *Table[T]) owe() {
	if t.last == 0 {
		t.last = t.now
		return
	}
	dt := t.now - t.last
	t.last = t.now
	n := int(t.top)
	if dt < int64(128*time.Second) {
		n = int(int64(t.top) * dt / int64(128*time.Second))
	}
	t.debt = min(t.debt+n+1, int(t.top))
}

// sweepMax bounds the live flows one packet's sweep looks at, and
// sweepSpan the ids (free ones included), so that the cost of expiry is
// spread over the packets however packet time jumps.
const (
	sweepMax  = 4
	sweepSpan = 16
)

// sweepStep pays part of the sweep's debt: expired flows leave the table.
// It walks the dense flow array, not the index.
func (t *Table[T]) sweepStep() {
	for n, k := 0, 0; n < sweepMax && k < sweepSpan && t.debt > 0; k++ {
		if t.sweep >= t.top {
			t.sweep = 0
		}
		id := t.sweep
		t.sweep++
		t.debt--
		if t.flows[id].used {
			n++
			t.expire(id)
		}
	}
}

// expire ends the live flow id if it has expired, and reports whether it
// did.
func (t *Table[T]) expire(id uint32) bool {
	f := &t.flows[id]
	switch {
	case t.now-f.Last > t.timeout(f):
		t.c.Expired++
		why := EndIdle
		if f.State == StateClosed {
			why = EndClosed
		}
		t.remove(id, why)
		return true
	case t.now-f.First > int64(t.o.Active):
		t.c.Expired++
		t.remove(id, EndActive)
		return true
	}
	return false
}

// Advance moves the table's time to now, when later than its own (a live
// capture's wall clock while no packet comes), and sweeps the whole table
// of the flows expired by then. It is the live sensor's expiry: a packet
// only sweeps a few flows, so that without it a quiet interface would keep
// its ended flows, and their events, until traffic resumes. Flows never
// move, so one pass over the ids in use visits each once. It does not
// allocate.
func (t *Table[T]) Advance(now time.Time) {
	if ns := now.UnixNano(); ns > t.now {
		t.now = ns
	}
	t.last, t.debt = t.now, 0
	for id := uint32(0); id < t.top; id++ {
		if t.flows[id].used {
			t.expire(id)
		}
	}
}

// Flush reports every flow left, as EndFlush, in the order the flows
// began (so that a capture read twice reports the same), and empties the
// table. It allocates.
func (t *Table[T]) Flush() {
	live := make([]int, 0, t.c.Live)
	for i := range t.flows[:t.top] {
		if t.flows[i].used {
			live = append(live, i)
		}
	}
	sort.Slice(live, func(a, b int) bool {
		fa, fb := &t.flows[live[a]], &t.flows[live[b]]
		if fa.First != fb.First {
			return fa.First < fb.First
		}
		return bytes.Compare(fa.Addr[0][:], fb.Addr[0][:]) < 0 || fa.Addr[0] == fb.Addr[0] && fa.Port[0] < fb.Port[0]
	})
	for _, i := range live {
		t.end(&t.flows[i], EndFlush)
	}
	clear(t.flows[:t.top])
	clear(t.index)
	t.free = t.free[:0]
	t.top, t.sweep, t.debt = 0, 0, 0
	t.c.Live = 0
	clear(t.frags)
}

func fragHash(seed uint64, src, dst *[16]byte, id uint32, proto uint8) uint64 {
	return mix(endHash(seed, src, uint16(id)) ^ endHash(seed^uint64(proto), dst, uint16(id>>16)))
}

// rememberFragment notes a first fragment's ports, so that the later
// fragments, which carry none, find their flow.
func (t *Table[T]) rememberFragment(p *packet.Packet, src, dst *[16]byte, h uint64) {
	fh := fragHash(t.seed, src, dst, p.FragID, p.Proto)
	t.frags[fh&uint64(len(t.frags)-1)] = frag{src: *src, dst: *dst, id: p.FragID, proto: p.Proto, sport: p.SrcPort, dport: p.DstPort, flow: h, used: true}
}

func (t *Table[T]) laterFragment(p *packet.Packet, src, dst *[16]byte) (*Flow[T], int) {
	fh := fragHash(t.seed, src, dst, p.FragID, p.Proto)
	e := &t.frags[fh&uint64(len(t.frags)-1)]
	if !e.used || e.id != p.FragID || e.src != *src || e.dst != *dst || e.proto != p.Proto {
		t.c.FragOrphans++
		return nil, 0
	}
	i, dir, found := t.find(e.flow, src, dst, e.sport, e.dport, p.Proto)
	if !found {
		t.c.FragOrphans++
		return nil, 0
	}
	f := &t.flows[t.index[i].id-1]
	t.c.FragAttached++
	f.Last = t.now
	f.Packets[dir]++
	f.Bytes[dir] += uint64(p.IPLen)
	return f, dir
}
