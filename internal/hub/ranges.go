package hub

import (
	"bufio"
	_ "embed"
	"fmt"
	"net/netip"
	"strings"

	"github.com/herd-ips/herd/internal/ipx"
)

//go:embed data/protected.txt
var protectedData string

//go:embed data/noise.txt
var noiseData string

// parseRanges reads one prefix (or address) per line; '#' starts a comment.
func parseRanges(name, data string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := ipx.ParsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("hub: %s:%d: %w", name, n, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// ProtectedRanges returns the shipped protected ranges (public resolvers,
// CDN edges, search-engine crawlers).
func ProtectedRanges() []netip.Prefix {
	p, err := parseRanges("data/protected.txt", protectedData)
	if err != nil {
		panic(err) // embedded data, checked by a test
	}
	return p
}

// NoiseRanges returns the shipped research-scanner ranges.
func NoiseRanges() []netip.Prefix {
	p, err := parseRanges("data/noise.txt", noiseData)
	if err != nil {
		panic(err)
	}
	return p
}

// Refusal is why a reported source is not accepted.
type Refusal uint8

// Reasons a source is refused. Zero means accepted.
const (
	Accepted Refusal = iota
	RefusedUnspecified
	RefusedLoopback
	RefusedPrivate   // RFC 1918, ULA
	RefusedLinkLocal // 169.254/16, fe80::/10
	RefusedMulticast
	RefusedCGNAT         // 100.64.0.0/10
	RefusedDocumentation // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32
	RefusedReserved      // other special-purpose and bogon ranges
	RefusedTime          // minute outside the accepted window
	numRefusals
)

var refusalNames = [...]string{"accepted", "unspecified", "loopback", "private", "link-local", "multicast", "cgnat", "documentation", "reserved", "time"}

func (r Refusal) String() string {
	if int(r) < len(refusalNames) {
		return refusalNames[r]
	}
	return "unknown"
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	docs  = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
		netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
		netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast (deprecated)
		netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
		netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: an IPv4 address in disguise
		netip.MustParsePrefix("64:ff9b:1::/48"), // local NAT64
		netip.MustParsePrefix("100::/64"),       // discard-only
		netip.MustParsePrefix("2001::/23"),      // IETF protocol assignments (Teredo, ORCHID...)
		netip.MustParsePrefix("2002::/16"),      // 6to4
		netip.MustParsePrefix("3fff::/20"),      // documentation (RFC 9637), treated as reserved
		netip.MustParsePrefix("5f00::/16"),      // SRv6 SIDs
	}
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// Classify says whether a may be reported as an attack source. The
// documentation ranges are refused unless allowDocs (tests and examples).
// It does not allocate.
func Classify(a netip.Addr, allowDocs bool) Refusal {
	a = a.Unmap()
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return RefusedUnspecified
	case a.IsLoopback():
		return RefusedLoopback
	case a.IsPrivate():
		return RefusedPrivate
	case a.IsLinkLocalUnicast():
		return RefusedLinkLocal
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return RefusedMulticast
	case cgnat.Contains(a):
		return RefusedCGNAT
	}
	for _, p := range docs {
		if p.Contains(a) {
			if allowDocs {
				return Accepted
			}
			return RefusedDocumentation
		}
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return RefusedReserved
		}
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return RefusedReserved
	}
	return Accepted
}
