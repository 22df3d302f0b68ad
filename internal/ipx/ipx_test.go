package ipx

import (
	"net/netip"
	"testing"
)

func TestGroupPrefix(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string
	}{
		{"192.0.2.7", 64, "192.0.2.7/32"},
		{"192.0.2.7", 0, "192.0.2.7/32"},
		{"::ffff:192.0.2.7", 64, "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 200, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"fe80::1%eth0", 64, "fe80::/64"},
	}
	for _, tt := range tests {
		got := GroupPrefix(netip.MustParseAddr(tt.addr), tt.bits)
		if got.String() != tt.want {
			t.Errorf("GroupPrefix(%s, %d) = %s, want %s", tt.addr, tt.bits, got, tt.want)
		}
	}
	if p := GroupPrefix(netip.Addr{}, 64); p.IsValid() {
		t.Errorf("GroupPrefix(zero) = %s, want the zero Prefix", p)
	}
}

func TestGroupPrefixDoesNotAllocate(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { _ = GroupPrefix(a, 64) }); n != 0 {
		t.Fatalf("GroupPrefix allocates %v times", n)
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{" 192.0.2.0/24 ", "192.0.2.0/24"},
		{"192.0.2.9/24", "192.0.2.0/24"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
	}
	for _, tt := range tests {
		got, err := ParsePrefix(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("ParsePrefix(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "example.com", "192.0.2.0/33", "fe80::1%eth0", "01.2.3.4"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) succeeded, want an error", bad)
		}
	}
}

func TestNeverBan(t *testing.T) {
	host := []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8:aa::5")}
	allow := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("198.51.101.0/24"), // adjacent: merges with the one above
		netip.MustParsePrefix("2001:db8:ff::/48"),
		netip.MustParsePrefix("::ffff:192.0.2.128/121"), // mapped form of 192.0.2.128/25
	}
	nb := NewNeverBan(host, allow)
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"203.0.113.5", true},
		{"203.0.113.6", false},
		{"2001:db8:aa::5", true},
		{"2001:db8:aa::6", false},
		{"198.51.100.0", true},
		{"198.51.101.255", true},
		{"198.51.102.0", false},
		{"198.51.99.255", false},
		{"2001:db8:ff:1234::1", true},
		{"2001:db8:fe::1", false},
		{"192.0.2.200", true},
		{"192.0.2.127", false},
		{"128.0.0.1", false},
		{"8.8.8.8", false},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
	}
	for _, tt := range tests {
		if got := nb.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if !nb.Contains(netip.Addr{}) {
		t.Error("Contains(zero Addr) = false, want true: there is nothing to ban")
	}
	var none *NeverBan
	if !none.Contains(netip.MustParseAddr("127.0.0.2")) || none.Contains(netip.MustParseAddr("8.8.8.8")) {
		t.Error("nil NeverBan must protect loopback and nothing else")
	}
}

func TestNeverBanOverlaps(t *testing.T) {
	nb := NewNeverBan([]netip.Addr{netip.MustParseAddr("2001:db8:aa::5")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	tests := []struct {
		p    string
		want bool
	}{
		{"2001:db8:aa::/64", true},
		{"2001:db8:ab::/64", false},
		{"198.51.100.77/32", true},
		{"198.51.0.0/16", true},
		{"198.51.101.0/24", false},
		{"0.0.0.0/0", true},
		{"8.8.8.0/24", false},
	}
	for _, tt := range tests {
		if got := nb.Overlaps(netip.MustParsePrefix(tt.p)); got != tt.want {
			t.Errorf("Overlaps(%s) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestNeverBanContainsDoesNotAllocate(t *testing.T) {
	nb := NewNeverBan(nil, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	a := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { _ = nb.Contains(a) }); n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
}

func TestHostAddrs(t *testing.T) {
	addrs, err := HostAddrs()
	if err != nil {
		t.Skipf("no interface addresses here: %v", err)
	}
	for _, a := range addrs {
		if !a.IsValid() || a.Is4In6() {
			t.Errorf("HostAddrs returned %v: want valid, unmapped addresses", a)
		}
	}
}

func BenchmarkNeverBanContains(b *testing.B) {
	allow := make([]netip.Prefix, 0, 1000)
	for i := range 1000 {
		allow = append(allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	nb := NewNeverBan(nil, allow)
	a := netip.MustParseAddr("10.3.200.1")
	b.ReportAllocs()
	for b.Loop() {
		_ = nb.Contains(a)
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"192.0.2.7/24", "192.0.2.0/24", true},
		{"::ffff:192.0.2.7/128", "192.0.2.7/32", true},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24", true},
		{"::ffff:0.0.0.0/95", "", false},
		{"2001:db8::1/64", "2001:db8::/64", true},
	} {
		got, ok := Normalize(netip.MustParsePrefix(c.in))
		if ok != c.ok || (ok && got.String() != c.want) {
			t.Errorf("Normalize(%s) = %v, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if _, ok := Normalize(netip.Prefix{}); ok {
		t.Error("Normalize(zero) is valid")
	}
}
