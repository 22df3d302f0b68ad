package textmatch

import "net/netip"

// ParseAddr parses b as an IPv4 or IPv6 address without a zone and reports
// whether b holds exactly one. It accepts exactly what netip.ParseAddr accepts
// for zone-less input (dotted quads without leading zeros, IPv6 with at most
// one "::" and an optional trailing dotted quad) and returns the same value;
// a fuzz test holds the two together. Unlike netip.ParseAddr(string(b)) it
// never allocates.
func ParseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		switch c {
		case '.':
			var a [4]byte
			if !parseIPv4(b, a[:]) {
				return netip.Addr{}, false
			}
			return netip.AddrFrom4(a), true
		case ':':
			return parseIPv6(b)
		case '%':
			return netip.Addr{}, false
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 reads a dotted quad filling out (4 bytes). Fields are decimal,
// 0..255, without leading zeros.
func parseIPv4(b []byte, out []byte) bool {
	field, val, digits := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			if val > 255 {
				return false
			}
			digits++
		case c == '.':
			if digits == 0 || field == 3 {
				return false
			}
			out[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return false
		}
	}
	if field != 3 || digits == 0 {
		return false
	}
	out[3] = byte(val)
	return true
}

func hexVal(c byte) (uint32, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// parseIPv6 reads groups of one to four hex digits separated by ':', at most
// one "::" standing for one or more zero groups, and optionally a dotted quad
// in place of the last two groups.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	gap := -1 // byte offset in ip where "::" stands
	n := 0    // bytes of ip filled
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		gap = 0
		i = 2
		if i == len(b) {
			return netip.IPv6Unspecified(), true
		}
	}
	for n < 16 {
		start := i
		var acc uint32
		for i < len(b) {
			v, ok := hexVal(b[i])
			if !ok {
				break
			}
			if i-start == 4 {
				return netip.Addr{}, false
			}
			acc = acc<<4 | v
			i++
		}
		if i == start {
			return netip.Addr{}, false
		}
		if i < len(b) && b[i] == '.' {
			// A dotted quad fills the last four bytes.
			if (gap < 0 && n != 12) || n+4 > 16 {
				return netip.Addr{}, false
			}
			if !parseIPv4(b[start:], ip[n:n+4]) {
				return netip.Addr{}, false
			}
			n += 4
			i = len(b)
			break
		}
		ip[n], ip[n+1] = byte(acc>>8), byte(acc)
		n += 2
		if i == len(b) {
			break
		}
		if b[i] != ':' || i+1 == len(b) {
			return netip.Addr{}, false
		}
		i++
		if b[i] == ':' {
			if gap >= 0 {
				return netip.Addr{}, false
			}
			gap = n
			i++
			if i == len(b) {
				break
			}
		}
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	if n < 16 {
		if gap < 0 {
			return netip.Addr{}, false
		}
		shift := 16 - n
		copy(ip[gap+shift:], ip[gap:n])
		clear(ip[gap : gap+shift])
	} else if gap >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

// addrChar reports the bytes an unbracketed address token is made of.
var addrChar = func() (t [256]bool) {
	for _, c := range []byte("0123456789abcdefABCDEF.:") {
		t[c] = true
	}
	return t
}()

// zoneChar reports the bytes an IPv6 zone (after '%') may hold in a token.
var zoneChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isAlnum(byte(c)) || c == '_' || c == '-' || c == '.'
	}
	return t
}()

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	_, ok := hexVal(c)
	return ok
}

// ParseToken parses b as one whole address token as log lines write them: an
// address, optionally with an IPv6 "%zone" suffix, optionally inside [...].
// The zone is dropped and an IPv4-mapped IPv6 address is unmapped. It does
// not allocate.
func ParseToken(b []byte) (netip.Addr, bool) {
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	zoned := false
	for i, c := range b {
		if c == '%' {
			z := b[i+1:]
			if len(z) == 0 {
				return netip.Addr{}, false
			}
			for _, zc := range z {
				if !zoneChar[zc] {
					return netip.Addr{}, false
				}
			}
			b, zoned = b[:i], true
			break
		}
	}
	a, ok := ParseAddr(b)
	if !ok || (zoned && !a.Is6()) {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
