// Package evidence keeps the recent log lines of every source in one bounded
// ring of bytes, so that an alert can carry the lines that fed it.
//
// # Layout
//
// Lines are appended to a ring of Options.Bytes bytes, each as a fixed
// header (the previous line of the same source, the event's time, a mask of
// the scenarios it was poured into, its address, its length) followed by
// the line, cut to MaxLineBytes. Positions are absolute byte counts that
// never wrap, so a line is still readable exactly when its position is no
// older than one ring's length behind the write position: old lines are
// simply overwritten, and nothing needs to be freed.
//
// A set-associative table maps a source (its address for IPv4, its /64 for
// IPv6), by a seeded 64-bit hash, to the position of its newest line; each
// line points to the one before it, so a source's lines form a chain back
// through the ring. The table has a fixed number of slots, chosen at New; a
// source that finds its set full takes the slot whose newest line is
// oldest. Neither the ring nor the table ever grows, so a flood of forged
// sources costs no memory: it only overwrites older lines sooner.
//
// # Cost
//
// Add copies the line and does one seeded hash and at most Ways
// comparisons in one cache line; it does not allocate. Lines walks one
// source's chain back to the alert's span (at most MaxWalk lines) and
// allocates the strings it returns.
package evidence

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"time"
)

// Bounds and defaults.
const (
	// DefaultBytes is the ring's size when Options.Bytes is 0: about
	// 25,000 lines of 150 bytes.
	DefaultBytes = 4 << 20
	// MinBytes is the smallest ring New makes.
	MinBytes = 64 << 10
	// MaxLineBytes is the longest line kept; the rest is cut off.
	MaxLineBytes = 2048
	// MaxLines is the most lines Lines returns.
	MaxLines = 32
	// MaxWalk bounds the lines of one source Lines looks at, whatever the
	// ring holds.
	MaxWalk = 4096
	// MaxSkew is how far back in time a line may be written after later
	// ones (lines of several files interleaved) and still be found: Lines
	// stops at the first line older than first by more than this.
	MaxSkew = int64(time.Minute)
	// Ways is the number of slots of one set of the source table.
	Ways = 4
	// bytesPerSlot sizes the source table from the ring when
	// Options.Sources is 0: one slot per 256 bytes of ring.
	bytesPerSlot = 256
)

// A line's header in the ring: prev (8), time (8), mask (8), address (16),
// length (2).
const (
	offPrev   = 0
	offTime   = 8
	offMask   = 16
	offAddr   = 24
	offLen    = 40
	headerLen = 42
)

// Options sizes a Ring.
type Options struct {
	// Bytes is the ring's size; 0 means DefaultBytes, and sizes below
	// MinBytes are raised to it.
	Bytes int
	// Sources is the number of sources the table can follow at once,
	// rounded up to a power of two times Ways; 0 means one per 256 bytes of
	// ring.
	Sources int
}

// Stats counts what a Ring did since New.
type Stats struct {
	Lines   uint64 // lines added
	Evicted uint64 // sources whose table slot was taken while their newest line was still in the ring
}

// key is a source as the table groups it: the 16 bytes of keyOf as two
// words.
type key struct{ lo, hi uint64 }

// slot is 16 bytes, so that a set of Ways slots is one 64-byte cache line.
// It holds a 64-bit seeded hash of the key rather than the key: two sources
// whose hashes collide share a chain, which costs a longer walk but never a
// wrong line, since Lines checks each line's own address.
type slot struct {
	hash uint64
	last uint64 // 1 + the position of the newest line of the source; 0 for none
}

// Ring keeps recent lines per source. It is not safe for concurrent use.
type Ring struct {
	buf   []byte
	head  uint64 // absolute position of the next byte written
	slots []slot
	mask  uint64    // sets - 1
	seed  [2]uint64 // hash seed, random per Ring
	stats Stats
	walk  [MaxLines]uint64 // scratch for Lines: positions, newest first
}

// New returns an empty Ring sized by o. Its memory is allocated here, once.
func New(o Options) *Ring {
	n := o.Bytes
	if n == 0 {
		n = DefaultBytes
	}
	n = max(n, MinBytes)
	want := o.Sources
	if want <= 0 {
		want = n / bytesPerSlot
	}
	seed := maphash.MakeSeed()
	sets := 1
	for sets*Ways < want {
		sets <<= 1
	}
	return &Ring{
		buf:   make([]byte, n),
		slots: make([]slot, sets*Ways),
		mask:  uint64(sets - 1),
		seed:  [2]uint64{maphash.String(seed, "lo") | 1, maphash.String(seed, "hi")},
	}
}

// Size returns the ring's size in bytes and the number of source slots.
func (r *Ring) Size() (bytes, sources int) { return len(r.buf), len(r.slots) }

// Stats returns the ring's counters.
func (r *Ring) Stats() Stats { return r.stats }

// keyOf returns the table key of a source: the address for IPv4, the /64
// for IPv6 (the scenario engine's default grouping), so that an alert on a
// /64 finds the lines of all its addresses.
func keyOf(a netip.Addr) key {
	b := a.As16()
	k := key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	if !a.Is4() {
		k.hi = 0
	}
	return k
}

// live reports whether the line at position p (1 + its absolute position)
// has not been overwritten.
func (r *Ring) live(p uint64) bool {
	return p != 0 && p-1+uint64(len(r.buf)) >= r.head
}

// set returns k's hash and the slots of its set. The hash is a seeded
// multiply-fold of the key's two words: an attacker who does not know the
// seed cannot aim sources at one set, and a set filled anyway only loses
// evidence.
func (r *Ring) set(k key) (uint64, []slot) {
	hi, lo := bits.Mul64(k.lo^r.seed[0], k.hi^r.seed[1])
	h := hi ^ lo
	i := (h >> 32 & r.mask) * Ways
	return h, r.slots[i : i+Ways]
}

// Add appends line as evidence about src, whose event happened at t (Unix
// nanoseconds) and was poured into the scenarios whose bits mask holds. The
// line is copied, cut to MaxLineBytes; an invalid src is ignored. Add does
// not allocate.
func (r *Ring) Add(src netip.Addr, t int64, mask uint64, line []byte) {
	if !src.IsValid() {
		return
	}
	src = src.Unmap()
	k := keyOf(src)
	s := r.claim(k)
	line = line[:min(len(line), MaxLineBytes)]
	n := uint64(headerLen + len(line))
	size := uint64(len(r.buf))
	if off := r.head % size; off+n > size {
		r.head += size - off // lines never straddle the ring's end
	}
	prev := s.last
	if !r.live(prev) {
		prev = 0
	}
	e := r.buf[r.head%size:][:n]
	binary.LittleEndian.PutUint64(e[offPrev:], prev)
	binary.LittleEndian.PutUint64(e[offTime:], uint64(t))
	binary.LittleEndian.PutUint64(e[offMask:], mask)
	a := src.As16()
	copy(e[offAddr:offLen], a[:])
	binary.LittleEndian.PutUint16(e[offLen:], uint16(len(line)))
	copy(e[headerLen:], line)
	s.last = r.head + 1
	r.head += n
	r.stats.Lines++
}

// claim returns k's slot, taking one for it when it has none: a free one, or
// the one of its set whose newest line is oldest.
func (r *Ring) claim(k key) *slot {
	h, set := r.set(k)
	victim := -1
	for i := range set {
		s := &set[i]
		if s.last != 0 && s.hash == h {
			return s
		}
		if victim < 0 || s.last < set[victim].last {
			victim = i
		}
	}
	s := &set[victim]
	if r.live(s.last) {
		r.stats.Evicted++
	}
	s.hash, s.last = h, 0
	return s
}

// Lines appends to dst, oldest first, the newest MaxLines lines still in the
// ring whose source is src or shares its table key (its /64 for IPv6) and
// lies in scope, whose time is within [first, last] (Unix nanoseconds), and
// whose scenario mask shares a bit with mask; it returns the extended slice.
// It walks the source's lines from the newest and stops at the first one
// older than first by more than MaxSkew, or after MaxWalk lines. The
// strings are fresh copies the caller owns.
func (r *Ring) Lines(src netip.Addr, scope netip.Prefix, mask uint64, first, last int64, dst []string) []string {
	if !src.IsValid() {
		return dst
	}
	src = src.Unmap()
	k := keyOf(src)
	var p uint64
	h, set := r.set(k)
	for _, s := range set {
		if s.last != 0 && s.hash == h {
			p = s.last
			break
		}
	}
	if scope.IsValid() && scope.Addr().Is4In6() {
		scope = netip.PrefixFrom(scope.Addr().Unmap(), max(scope.Bits()-96, 0))
	}
	size := uint64(len(r.buf))
	found := 0
	for steps := 0; r.live(p) && steps < MaxWalk && found < MaxLines; steps++ {
		e := r.buf[(p-1)%size:]
		t := int64(binary.LittleEndian.Uint64(e[offTime:]))
		if t < first-MaxSkew {
			break // written before the span began: older lines are too
		}
		if binary.LittleEndian.Uint64(e[offMask:])&mask != 0 && t >= first && t <= last && r.inScope(e, src, scope) {
			r.walk[found] = p
			found++
		}
		prev := binary.LittleEndian.Uint64(e[offPrev:])
		if prev >= p {
			break // cannot happen: chains run backwards
		}
		p = prev
	}
	for i := found - 1; i >= 0; i-- {
		e := r.buf[(r.walk[i]-1)%size:]
		n := int(binary.LittleEndian.Uint16(e[offLen:]))
		dst = append(dst, string(e[headerLen:headerLen+n]))
	}
	return dst
}

// inScope reports whether the address of line e is src (no valid scope) or
// lies in scope.
func (r *Ring) inScope(e []byte, src netip.Addr, scope netip.Prefix) bool {
	a := netip.AddrFrom16([16]byte(e[offAddr:offLen])).Unmap()
	if !scope.IsValid() {
		return a == src
	}
	return scope.Contains(a)
}
