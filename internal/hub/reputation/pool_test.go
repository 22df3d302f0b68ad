package reputation

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// v6 returns address iid of the /64 2001:db8:77:n::/64.
func v6(n, iid int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x77, byte(n >> 8), byte(n), 8: 0x10, 14: byte(iid >> 8), 15: byte(iid)})
}

func pool64(n int) netip.Addr { return wire.Pool(v6(n, 1)) }

// communityOf enrolls n reporters aged 40 days, spread round-robin over
// networks /24s.
func communityOf(t *testing.T, n, networks int, protected Ranges) (*community, []uint32) {
	t.Helper()
	c := &community{e: New(Rules{}, protected, nil)}
	rs := c.enroll(n, 0, func(k int) netip.Prefix { p, _ := net24(k % networks); return p }, func(int) time.Duration { return 40 * 24 * time.Hour })
	return c, rs
}

// TestRotatingAttackerIsListedAsItsSlash64: an attacker that uses a new
// address of its /64 for each of 8 reporters (4 networks) never has enough
// reporters on any one address; the hub pools the /64 and lists it, as
// the /64 (its first address, stored as /64), and the listing reaches no
// other /64.
func TestRotatingAttackerIsListedAsItsSlash64(t *testing.T) {
	c, rs := communityOf(t, 8, 4, nil)
	for k, r := range rs {
		c.e.Observe(r, wire.Signal{Source: v6(1, 100+k), Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	l := c.settle(t0)
	if !slices.Equal(l, []netip.Addr{pool64(1)}) {
		t.Fatalf("listing %v, want the /64 %v", l, pool64(1))
	}
	if p := wire.ListingPrefix(l[0]); p != netip.MustParsePrefix("2001:db8:77:1::/64") {
		t.Errorf("listed as %v, want 2001:db8:77:1::/64", p)
	}
	x := c.e.Explain(v6(1, 100), t0)
	if !x.Qualifies || x.Pool != netip.MustParsePrefix("2001:db8:77:1::/64") || x.Reporters != 1 {
		t.Errorf("Explain of one rotated address = %+v; want qualifying through its /64 with 1 reporter of its own", x)
	}
	// One reporter that reports many addresses of a /64 counts once: 4
	// reporters, each reporting 5 addresses, stay below 5 reporters.
	c2, rs2 := communityOf(t, 4, 4, nil)
	for k, r := range rs2 {
		for j := range 5 {
			c2.e.Observe(r, wire.Signal{Source: v6(2, 10*k+j), Class: wire.SSHBruteforce, Minute: minute(t0)})
		}
	}
	if l := c2.settle(t0); len(l) != 0 {
		t.Errorf("4 reporters of 20 addresses listed %v", l)
	}
}

// TestSharedSlash64ListsTheAttackerOnly: in a /64 that an attacker shares
// with innocents, the attacker's address has the evidence of 6 reporters
// from 3 networks, and each of three innocents one honest false positive
// (different reporters). The attacker is listed alone; the /64 is not,
// because the evidence about the rest of it does not meet the rules. Once
// the innocents' false positives do come from enough reporters, the /64 is
// listed: the evidence then supports it.
func TestSharedSlash64ListsTheAttackerOnly(t *testing.T) {
	c, rs := communityOf(t, 12, 4, nil)
	attacker := v6(3, 0x99)
	for _, r := range rs[:6] {
		c.e.Observe(r, wire.Signal{Source: attacker, Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	for k, r := range rs[6:9] {
		c.e.Observe(r, wire.Signal{Source: v6(3, 0x200+k), Class: wire.HTTPProbing, Minute: minute(t0)})
	}
	l := c.settle(t0)
	if !slices.Equal(l, []netip.Addr{attacker}) {
		t.Fatalf("listing %v, want the attacker %v alone", l, attacker)
	}
	if p := wire.ListingPrefix(l[0]); p.Bits() != 128 {
		t.Errorf("attacker listed as %v, want its /128", p)
	}
	for k := range 3 {
		if x := c.e.Explain(v6(3, 0x200+k), t0); x.Qualifies {
			t.Errorf("innocent %v qualifies: %+v", v6(3, 0x200+k), x)
		}
	}
	// Three more reporters blame the others: 6 reporters over 4 networks
	// now report the rest of the /64.
	for k, r := range rs[9:] {
		c.e.Observe(r, wire.Signal{Source: v6(3, 0x300+k), Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0.Add(time.Minute)); !slices.Equal(l, []netip.Addr{pool64(3)}) {
		t.Errorf("listing %v, want the /64 once the rest of it has the evidence", l)
	}
}

// TestProtectedRangeInsideASlash64: a /64 that holds a protected range
// (here a /96 of it) is never listed as the /64, however much pooled
// evidence; an address outside the protected range that qualifies alone
// still is.
func TestProtectedRangeInsideASlash64(t *testing.T) {
	prot := prefixes{netip.MustParsePrefix("2001:db8:77:4:10::/96")}
	c, rs := communityOf(t, 14, 4, prot)
	for k, r := range rs[:8] {
		c.e.Observe(r, wire.Signal{Source: v6(4, 100+k), Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0); len(l) != 0 {
		t.Fatalf("a /64 holding a protected range was listed: %v", l)
	}
	lone := v6(4, 0x777)
	for _, r := range rs[8:] {
		c.e.Observe(r, wire.Signal{Source: lone, Class: wire.SSHBruteforce, Minute: minute(t0)})
	}
	if l := c.settle(t0); !slices.Equal(l, []netip.Addr{lone}) {
		t.Errorf("listing %v, want %v alone", l, lone)
	}
}

// prefixes is a Ranges with Overlaps, as ipx.NeverBan is.
type prefixes []netip.Prefix

func (ps prefixes) Contains(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (ps prefixes) Overlaps(q netip.Prefix) bool {
	for _, p := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}
