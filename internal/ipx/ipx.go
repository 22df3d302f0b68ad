// Package ipx holds address helpers and the never-ban set.
package ipx

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// DefaultIPv6Bits is the prefix length IPv6 sources are grouped by when a
// rule does not say: one /64 is what a single subscriber or server usually
// gets, so counting per /128 would let one attacker rotate addresses freely.
const DefaultIPv6Bits = 64

// GroupPrefix returns the group a source address is counted in: an IPv4
// address (or an IPv4-mapped IPv6 address, which is unmapped first) is its
// own /32; an IPv6 address is masked to v6bits bits, DefaultIPv6Bits when
// v6bits is not in 1..128. Any zone is dropped. The zero Addr gives the zero
// Prefix. GroupPrefix does not allocate.
func GroupPrefix(a netip.Addr, v6bits int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	if v6bits <= 0 || v6bits > 128 {
		v6bits = DefaultIPv6Bits
	}
	p, _ := a.Prefix(v6bits) // cannot fail: bits in range, no zone
	return p
}

// ParsePrefix parses an address range written either as a prefix
// ("192.0.2.0/24", "2001:db8::/32") or as a single address ("192.0.2.7",
// which becomes a /32 or /128). An IPv4-mapped IPv6 form is unmapped, and
// host bits are masked off. Zones are rejected.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("ipx: %w", err)
		}
		return unmapPrefix(p).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ipx: %w", err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("ipx: address %q has a zone", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Normalize unmaps and masks p and drops a zone, and reports whether the
// result is a valid prefix: an IPv4-mapped prefix shorter than /96 is not,
// since it covers more than IPv4. Enforcers normalize every prefix they are
// handed before it becomes a kernel set element.
func Normalize(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, false
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked(), true
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// HostAddrs returns the addresses of this host's network interfaces,
// unmapped and without zones. Only the application calls it, once, to build
// the NeverBan set; stages receive the result.
func HostAddrs() ([]netip.Addr, error) {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("ipx: interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(ifas))
	for _, ifa := range ifas {
		var ip net.IP
		switch v := ifa.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// u128 is an address in the IPv6 space (IPv4 as ::ffff:a.b.c.d), as two
// big-endian halves, so that ranges compare as integers.
type u128 struct{ hi, lo uint64 }

func (u u128) less(v u128) bool { return u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo) }

func (u u128) compare(v u128) int {
	if c := cmp.Compare(u.hi, v.hi); c != 0 {
		return c
	}
	return cmp.Compare(u.lo, v.lo)
}

func (u u128) next() (u128, bool) {
	lo := u.lo + 1
	hi := u.hi
	if lo == 0 {
		hi++
		if hi == 0 {
			return u128{}, false // wrapped: u was the last address
		}
	}
	return u128{hi, lo}, true
}

func toU128(a netip.Addr) u128 {
	b := a.As16() // IPv4 comes out IPv4-mapped
	return u128{
		hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]),
		lo: uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
			uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15]),
	}
}

// span is an inclusive range [first, last] of the 128-bit space.
type span struct{ first, last u128 }

func prefixSpan(p netip.Prefix) span {
	p = unmapPrefix(p).Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first := toU128(p.Addr())
	last := first
	host := 128 - bits
	switch {
	case host >= 128:
		last = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		last.lo = ^uint64(0)
		last.hi |= (uint64(1) << (host - 64)) - 1
	case host > 0:
		last.lo |= (uint64(1) << host) - 1
	}
	return span{first, last}
}

// NeverBan is the set of addresses herd must never ban: loopback (127.0.0.0/8
// and ::1), the unspecified addresses, the host's own addresses and the
// configured allowlist. It is immutable after NewNeverBan and safe for
// concurrent use. A nil *NeverBan still protects loopback and unspecified
// addresses.
type NeverBan struct {
	spans []span // sorted, merged, non-adjacent
}

// NewNeverBan builds the set from the host's own addresses and the allowlist
// prefixes. Invalid addresses and prefixes are ignored.
func NewNeverBan(host []netip.Addr, allow []netip.Prefix) *NeverBan {
	var spans []span
	add := func(p netip.Prefix) {
		if p.IsValid() {
			spans = append(spans, prefixSpan(p))
		}
	}
	add(netip.MustParsePrefix("127.0.0.0/8"))
	add(netip.MustParsePrefix("::1/128"))
	add(netip.MustParsePrefix("0.0.0.0/32"))
	add(netip.MustParsePrefix("::/128"))
	for _, a := range host {
		if a.IsValid() {
			a = a.Unmap().WithZone("")
			add(netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, p := range allow {
		add(p)
	}
	slices.SortFunc(spans, func(x, y span) int { return x.first.compare(y.first) })
	merged := spans[:0]
	for _, s := range spans {
		if n := len(merged); n > 0 {
			prev := &merged[n-1]
			nx, ok := prev.last.next()
			if !ok || !nx.less(s.first) { // overlapping or adjacent
				if prev.last.less(s.last) {
					prev.last = s.last
				}
				continue
			}
		}
		merged = append(merged, s)
	}
	return &NeverBan{spans: slices.Clip(merged)}
}

// Contains reports whether a must never be banned. IPv4-mapped addresses are
// treated as their IPv4 form and zones are ignored. The zero Addr is
// reported as contained, since there is nothing to ban. Contains does not
// allocate and costs a binary search over the merged ranges.
func (n *NeverBan) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	a = a.Unmap()
	if n == nil {
		return a.IsLoopback() || a.IsUnspecified()
	}
	u := toU128(a)
	// Find the last span whose first <= u.
	lo, hi := 0, len(n.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if u.less(n.spans[m].first) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo > 0 && !n.spans[lo-1].last.less(u)
}

// Overlaps reports whether any address of p must never be banned, so that
// banning the whole range would lock out a protected address. It does not
// allocate.
func (n *NeverBan) Overlaps(p netip.Prefix) bool {
	if !p.IsValid() {
		return true
	}
	if n == nil {
		return p.Contains(netip.IPv4Unspecified()) || p.Contains(netip.IPv6Unspecified()) ||
			p.Contains(netip.IPv6Loopback()) || p.Overlaps(netip.PrefixFrom(netip.AddrFrom4([4]byte{127}), 8))
	}
	s := prefixSpan(p)
	// The first span whose last >= s.first overlaps p iff its first <= s.last.
	i, _ := slices.BinarySearchFunc(n.spans, s.first, func(x span, t u128) int { return x.last.compare(t) })
	return i < len(n.spans) && !s.last.less(n.spans[i].first)
}
