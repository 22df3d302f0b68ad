// Package export writes a list of hostile addresses in the formats the tools
// people already run load (plain and CIDR text, ipset restore, nftables,
// CrowdSec's decision stream, PeerGuardian .p2p, eMule ipfilter.dat), serves
// them over HTTP, and reads the text formats back for import.
package export

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go4.org/netipx"

	"github.com/herd-ips/herd/internal/event"
)

// Format is one export format. The zero Format is invalid.
type Format uint8

// The formats, in the order Formats lists them.
const (
	Text     Format = iota + 1 // one address or prefix per line, sorted, deduplicated
	CIDR                       // the minimal set of CIDR prefixes covering the list
	Ipset                      // input for `ipset restore`: two hash:net sets, swapped in
	Nft                        // an nftables script for `nft -f`: two interval sets
	CrowdSec                   // the JSON body of CrowdSec's /v1/decisions/stream startup answer
	P2P                        // PeerGuardian text, label:first-last, IPv4 only
	Dat                        // eMule ipfilter.dat, IPv4 only
)

var formatNames = [...]string{Text: "text", CIDR: "cidr", Ipset: "ipset", Nft: "nft", CrowdSec: "crowdsec", P2P: "p2p", Dat: "dat"}

// String returns the format's name as ParseFormat and the HTTP path take it.
func (f Format) String() string {
	if f == 0 || int(f) >= len(formatNames) {
		return fmt.Sprintf("Format(%d)", uint8(f))
	}
	return formatNames[f]
}

// Formats returns every format, in a fixed order. The slice is new on each call.
func Formats() []Format {
	return []Format{Text, CIDR, Ipset, Nft, CrowdSec, P2P, Dat}
}

// ParseFormat returns the format named name ("text", "cidr", "ipset", "nft",
// "crowdsec", "p2p", "dat"; exact, lower case).
func ParseFormat(name string) (Format, error) {
	for _, f := range Formats() {
		if formatNames[f] == name {
			return f, nil
		}
	}
	names := make([]string, 0, len(formatNames))
	for _, f := range Formats() {
		names = append(names, f.String())
	}
	return 0, fmt.Errorf("export: unknown format %q (known: %s)", name, strings.Join(names, ", "))
}

// ContentType returns the media type a format is served with.
func (f Format) ContentType() string {
	if f == CrowdSec {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// Filename returns the file name a format is saved under: clients that load
// block lists from a directory (Transmission) or a fixed file (eMule) go by
// the suffix.
func (f Format) Filename() string {
	switch f {
	case P2P:
		return "herd.p2p"
	case Dat:
		return "ipfilter.dat"
	case CrowdSec:
		return "herd-decisions.json"
	case Nft:
		return "herd.nft"
	case Ipset:
		return "herd.ipset"
	}
	return "herd.txt"
}

// Defaults of Options' fields.
const (
	DefaultLabel      = "herd community blocklist"
	DefaultIpsetV4    = "herd-v4"
	DefaultIpsetV6    = "herd-v6"
	DefaultIpsetMax   = 1 << 20
	DefaultNftTable   = "herd_blocklist"
	DefaultNftSetV4   = "blocklist4"
	DefaultNftSetV6   = "blocklist6"
	DefaultOrigin     = event.OriginCommunity
	DefaultScenario   = "herd/community-blocklist"
	DefaultDuration   = 24 * time.Hour
	ipsetTempSuffix   = "-tmp"
	ipsetMaxNameBytes = 31 // IPSET_MAXNAMELEN less the NUL
)

// Options names what the formats create. The zero value takes every default.
type Options struct {
	// Label names the list in p2p and dat lines and in text headers: at
	// most 200 bytes, no control characters, ':' or ','.
	Label string
	// IpsetV4 and IpsetV6 name the ipset sets (at most 27 bytes, so that
	// the temporary set, name+"-tmp", fits ipset's 31).
	IpsetV4, IpsetV6 string
	// IpsetMaxElem is each ipset set's maxelem, fixed so that a reload's
	// `create -exist` matches the live set; a family with more entries is
	// an error. Default 1<<20 (hash sets take memory per entry, not per maxelem).
	IpsetMaxElem int
	// NftTable (family inet), NftSetV4 and NftSetV6 name the nftables objects.
	NftTable, NftSetV4, NftSetV6 string
	// Origin and Scenario fill the CrowdSec decisions' fields of the same
	// names; Duration is each decision's "duration" (a consumer must fetch
	// again before it runs out).
	Origin, Scenario string
	Duration         time.Duration
	// Now gives the generated-at time written in the text formats' header
	// comment; nil writes no time, so that output depends on the list only.
	Now func() time.Time
}

// withDefaults returns o with empty fields set to their defaults, or an
// error naming the first field a consumer would reject.
func (o Options) withDefaults() (Options, error) {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.Label, DefaultLabel)
	def(&o.IpsetV4, DefaultIpsetV4)
	def(&o.IpsetV6, DefaultIpsetV6)
	def(&o.NftTable, DefaultNftTable)
	def(&o.NftSetV4, DefaultNftSetV4)
	def(&o.NftSetV6, DefaultNftSetV6)
	def(&o.Origin, DefaultOrigin)
	def(&o.Scenario, DefaultScenario)
	if o.IpsetMaxElem <= 0 {
		o.IpsetMaxElem = DefaultIpsetMax
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration%time.Second != 0 {
		return o, fmt.Errorf("export: duration %v is not whole seconds", o.Duration)
	}
	if len(o.Label) > 200 {
		return o, fmt.Errorf("export: label of %d bytes, want at most 200", len(o.Label))
	}
	for _, c := range o.Label {
		if c < 0x20 || c == 0x7f || c == ':' || c == ',' {
			return o, fmt.Errorf("export: label %q: no control characters, ':' or ','", o.Label)
		}
	}
	for _, s := range []string{o.Origin, o.Scenario} {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\' {
				return o, fmt.Errorf("export: origin or scenario %q: want printable ASCII without quotes or backslashes", s)
			}
		}
	}
	for _, n := range []string{o.IpsetV4, o.IpsetV6} {
		if len(n) > ipsetMaxNameBytes-len(ipsetTempSuffix) || !isName(n, "-_.") {
			return o, fmt.Errorf("export: ipset name %q: want at most %d of A-Z a-z 0-9 - _ .", n, ipsetMaxNameBytes-len(ipsetTempSuffix))
		}
	}
	if o.IpsetV4 == o.IpsetV6 {
		return o, fmt.Errorf("export: ipset names for IPv4 and IPv6 are both %q", o.IpsetV4)
	}
	for _, n := range []string{o.NftTable, o.NftSetV4, o.NftSetV6} {
		if len(n) > 64 || !isName(n, "_") {
			return o, fmt.Errorf("export: nftables name %q: want a letter then up to 63 of A-Z a-z 0-9 _", n)
		}
	}
	if o.NftSetV4 == o.NftSetV6 {
		return o, fmt.Errorf("export: nftables sets for IPv4 and IPv6 are both %q", o.NftSetV4)
	}
	return o, nil
}

// isName reports whether s is a letter followed by letters, digits and the
// bytes of extra.
func isName(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(c >= '0' && c <= '9') && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

// errInvalidPrefix is returned for a zero or otherwise invalid prefix in the list.
var errInvalidPrefix = errors.New("invalid prefix")

// normalize returns p in the form every format writes: host bits cleared,
// no zone, an IPv4-mapped IPv6 prefix of at least 96 bits as plain IPv4.
func normalize(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	} else if a.Zone() != "" {
		p = netip.PrefixFrom(a.WithZone(""), p.Bits())
	}
	return p.Masked(), true
}

// canonical returns a sorted copy of listed with duplicates removed
// (IPv4 first, then by address, then shorter prefix first). listed is not
// modified.
func canonical(listed []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(listed))
	for i, p := range listed {
		n, ok := normalize(p)
		if !ok {
			return nil, fmt.Errorf("export: entry %d: %w", i, errInvalidPrefix)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return slices.Compact(out), nil
}

// mergedRanges returns the addresses listed covers as sorted, disjoint,
// non-adjacent ranges (IPv4 first): overlapping and adjacent entries are
// merged. It sorts a copy of listed and merges in one pass, which on 100k
// entries is several times faster and leaner than netipx.IPSetBuilder (the
// tests check it against IPSetBuilder).
func mergedRanges(listed []netip.Prefix) ([]netipx.IPRange, error) {
	sorted, err := canonical(listed)
	if err != nil {
		return nil, err
	}
	out := make([]netipx.IPRange, 0, len(sorted))
	for _, p := range sorted {
		from, to := p.Addr(), netipx.PrefixLastIP(p)
		if n := len(out); n > 0 {
			last := out[n-1].To()
			// Sorted by first address, so p starts at or after the
			// current range's start; it joins when it starts inside the
			// range or just after it (same family: Next of a family's
			// last address is the zero Addr, never equal to from).
			if from.Compare(last) <= 0 || from == last.Next() {
				if to.Compare(last) > 0 {
					out[n-1] = netipx.IPRangeFrom(out[n-1].From(), to)
				}
				continue
			}
		}
		out = append(out, netipx.IPRangeFrom(from, to))
	}
	return out, nil
}

// prefixesOf returns the minimal CIDR prefixes covering ranges, in order.
func prefixesOf(ranges []netipx.IPRange) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ranges))
	for _, r := range ranges {
		out = r.AppendPrefixes(out)
	}
	return out
}

// Aggregate returns the minimal list of CIDR prefixes covering exactly the
// addresses listed covers: overlapping and adjacent entries are merged.
// IPv4 prefixes come first, each family in address order.
func Aggregate(listed []netip.Prefix) ([]netip.Prefix, error) {
	ranges, err := mergedRanges(listed)
	if err != nil {
		return nil, err
	}
	return prefixesOf(ranges), nil
}
