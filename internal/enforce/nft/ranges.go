package nft

import (
	"cmp"
	"container/heap"
	"math/bits"
	"net/netip"
	"slices"
	"time"
)

// u128 is an address as a 128-bit number, so that IPv4 and IPv6 ranges share
// one arithmetic. IPv4 addresses use only the low 32 bits.
type u128 struct{ hi, lo uint64 }

func (u u128) compare(v u128) int {
	if c := cmp.Compare(u.hi, v.hi); c != 0 {
		return c
	}
	return cmp.Compare(u.lo, v.lo)
}

// next returns u+1 and false when it wraps past max.
func (u u128) next(max u128) (u128, bool) {
	if u == max {
		return u128{}, false
	}
	lo, carry := bits.Add64(u.lo, 1, 0)
	return u128{u.hi + carry, lo}, true
}

func (u u128) prev() u128 {
	lo, borrow := bits.Sub64(u.lo, 1, 0)
	return u128{u.hi - borrow, lo}
}

func maxOf(is4 bool) u128 {
	if is4 {
		return u128{0, 1<<32 - 1}
	}
	return u128{^uint64(0), ^uint64(0)}
}

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var u u128
	for i := range 8 {
		u.hi = u.hi<<8 | uint64(b[i])
		u.lo = u.lo<<8 | uint64(b[8+i])
	}
	return u
}

func fromU128(u u128, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(u.lo >> 24), byte(u.lo >> 16), byte(u.lo >> 8), byte(u.lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(u.hi >> (8 * i))
		b[15-i] = byte(u.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// span is the inclusive address range [first, last] a prefix covers.
type span struct{ first, last u128 }

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	first := toU128(p.Addr())
	host := p.Addr().BitLen() - p.Bits() // host bits, 0..128
	var mask u128
	switch {
	case host >= 128:
		mask = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		mask = u128{1<<(host-64) - 1, ^uint64(0)}
	default:
		mask = u128{0, 1<<host - 1}
	}
	return span{first, u128{first.hi | mask.hi, first.lo | mask.lo}}
}

// piece is a range of the interval set with the expiry it gets: the latest
// Until of the prefixes that cover it. A zero until means no expiry.
type piece struct {
	span
	until time.Time
}

// later reports whether expiry a is later than b, a zero time being never.
func later(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && !b.IsZero()
	}
	return a.After(b)
}

// pieces turns possibly overlapping prefixes, each with its own expiry, into
// sorted, disjoint ranges: every address gets the latest expiry of the
// prefixes covering it, and touching ranges with the same expiry are merged.
// The kernel's interval sets reject overlaps; this is what they can hold.
// All prefixes must be of one family.
func pieces(ranges map[netip.Prefix]time.Time, is4 bool) []piece {
	if len(ranges) == 0 {
		return nil
	}
	in := make([]piece, 0, len(ranges))
	for p, until := range ranges {
		in = append(in, piece{prefixSpan(p), until})
	}
	slices.SortFunc(in, func(a, b piece) int { return a.first.compare(b.first) })

	// Boundaries: every first and every last+1 (when it exists). Between two
	// consecutive boundaries the set of covering prefixes is constant.
	max := maxOf(is4)
	bounds := make([]u128, 0, 2*len(in))
	for _, p := range in {
		bounds = append(bounds, p.first)
		if n, ok := p.last.next(max); ok {
			bounds = append(bounds, n)
		}
	}
	slices.SortFunc(bounds, u128.compare)
	bounds = slices.Compact(bounds)

	var out []piece
	var active activeHeap
	j := 0
	for i, b := range bounds {
		for j < len(in) && in[j].first.compare(b) <= 0 {
			heap.Push(&active, in[j])
			j++
		}
		for len(active) > 0 && active[0].last.compare(b) < 0 {
			heap.Pop(&active)
		}
		if len(active) == 0 {
			continue
		}
		// The latest expiry among the active prefixes that still cover b.
		until, covered := time.Time{}, false
		for _, a := range active {
			if a.last.compare(b) >= 0 && (!covered || later(a.until, until)) {
				until, covered = a.until, true
			}
		}
		if !covered {
			continue
		}
		last := max
		if i+1 < len(bounds) {
			last = bounds[i+1].prev()
		}
		if n := len(out); n > 0 && out[n-1].until.Equal(until) {
			if e, ok := out[n-1].last.next(max); ok && e == b {
				out[n-1].last = last
				continue
			}
		}
		out = append(out, piece{span{b, last}, until})
	}
	return out
}

// activeHeap orders the prefixes covering the sweep position by their last
// address, so those already passed are popped first.
type activeHeap []piece

func (h activeHeap) Len() int           { return len(h) }
func (h activeHeap) Less(i, j int) bool { return h[i].last.compare(h[j].last) < 0 }
func (h activeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *activeHeap) Push(x any)        { *h = append(*h, x.(piece)) }
func (h *activeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// spanPrefixes appends to dst the fewest prefixes that exactly cover s.
func spanPrefixes(dst []netip.Prefix, s span, is4 bool) []netip.Prefix {
	width := 128
	if is4 {
		width = 32
	}
	max := maxOf(is4)
	first := s.first
	for {
		// The largest block aligned at first that does not pass s.last.
		host := trailingZeros(first, width)
		for host > 0 {
			end := prefixSpan(netip.PrefixFrom(fromU128(first, is4), width-host)).last
			if end.compare(s.last) <= 0 {
				break
			}
			host--
		}
		p := netip.PrefixFrom(fromU128(first, is4), width-host)
		dst = append(dst, p)
		end := prefixSpan(p).last
		if end.compare(s.last) >= 0 {
			return dst
		}
		first, _ = end.next(max)
	}
}

func trailingZeros(u u128, width int) int {
	var n int
	if u.lo != 0 {
		n = bits.TrailingZeros64(u.lo)
	} else if u.hi != 0 {
		n = 64 + bits.TrailingZeros64(u.hi)
	} else {
		n = 128
	}
	return min(n, width)
}
