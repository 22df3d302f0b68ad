package wire

import "net/netip"

// PoolBits is the prefix length by which the hub pools the evidence of
// IPv6 sources: an attacker holds a whole /64 and rotates addresses in it.
const PoolBits = 64

// Pool returns the address that stands for a's /64 in the hub's listing:
// the /64's first address (its interface identifier zero). IPv4 addresses
// are returned as they are.
func Pool(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is6() {
		return a
	}
	return netip.PrefixFrom(a, PoolBits).Masked().Addr()
}

// ListingPrefix returns what a listed address stands for: an IPv4 address
// itself (/32); an IPv6 address whose interface identifier is zero, the
// /64 it begins (the hub lists a /64 by its first address); any other IPv6
// address itself (/128). An attacker's own address with a zero interface
// identifier is therefore listed as its /64, which is the attacker's.
func ListingPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() && Pool(a) == a {
		return netip.PrefixFrom(a, PoolBits)
	}
	return netip.PrefixFrom(a, a.BitLen())
}
