package nft

import (
	"github.com/herd-ips/herd/internal/ipx"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestPieces(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h1, h2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	type out struct {
		first, last string
		until       time.Time
	}
	tests := []struct {
		name string
		in   map[string]time.Time
		want []out
	}{
		{"one", map[string]time.Time{"192.0.2.0/24": h1}, []out{{"192.0.2.0", "192.0.2.255", h1}}},
		{"nested same expiry", map[string]time.Time{"192.0.2.0/24": h1, "192.0.2.64/26": h1}, []out{{"192.0.2.0", "192.0.2.255", h1}}},
		{"touching", map[string]time.Time{"192.0.2.0/24": h1, "192.0.3.0/24": h1}, []out{{"192.0.2.0", "192.0.3.255", h1}}},
		{"nested later", map[string]time.Time{"192.0.2.0/24": h1, "192.0.2.64/26": h2}, []out{
			{"192.0.2.0", "192.0.2.63", h1}, {"192.0.2.64", "192.0.2.127", h2}, {"192.0.2.128", "192.0.2.255", h1}}},
		{"nested earlier", map[string]time.Time{"192.0.2.0/24": h2, "192.0.2.64/26": h1}, []out{{"192.0.2.0", "192.0.2.255", h2}}},
		{"never expires wins", map[string]time.Time{"192.0.2.0/24": h1, "192.0.2.0/25": {}}, []out{
			{"192.0.2.0", "192.0.2.127", time.Time{}}, {"192.0.2.128", "192.0.2.255", h1}}},
		{"gap", map[string]time.Time{"10.0.0.0/8": h1, "192.0.2.0/24": h1}, []out{{"10.0.0.0", "10.255.255.255", h1}, {"192.0.2.0", "192.0.2.255", h1}}},
		{"everything", map[string]time.Time{"0.0.0.0/0": h1, "255.0.0.0/8": h2}, []out{{"0.0.0.0", "254.255.255.255", h1}, {"255.0.0.0", "255.255.255.255", h2}}},
		{"ipv6", map[string]time.Time{"2001:db8::/32": h1, "2001:db8:1::/48": h1}, []out{{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", h1}}},
	}
	for _, tt := range tests {
		in := map[netip.Prefix]time.Time{}
		is4 := true
		for p, u := range tt.in {
			pp := netip.MustParsePrefix(p)
			in[pp] = u
			is4 = pp.Addr().Is4()
		}
		var got []out
		for _, pc := range pieces(in, is4) {
			got = append(got, out{fromU128(pc.first, is4).String(), fromU128(pc.last, is4).String(), pc.until})
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: pieces = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSpanPrefixes(t *testing.T) {
	tests := []struct {
		first, last string
		want        []string
	}{
		{"192.0.2.0", "192.0.2.255", []string{"192.0.2.0/24"}},
		{"192.0.2.0", "192.0.3.255", []string{"192.0.2.0/23"}},
		{"192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"2001:db8::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", []string{"2001:db8::/47"}},
	}
	for _, tt := range tests {
		f, l := netip.MustParseAddr(tt.first), netip.MustParseAddr(tt.last)
		var got []string
		for _, p := range spanPrefixes(nil, span{toU128(f), toU128(l)}, f.Is4()) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("spanPrefixes(%s-%s) = %v, want %v", tt.first, tt.last, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.9/24":         "192.0.2.0/24",
		"::ffff:192.0.2.0/120": "192.0.2.0/24",
		"2001:db8::1/128":      "2001:db8::1/128",
	} {
		got, ok := ipx.Normalize(netip.MustParsePrefix(in))
		if !ok || got.String() != want {
			t.Errorf("ipx.Normalize(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := ipx.Normalize(netip.Prefix{}); ok {
		t.Error("ipx.Normalize(zero Prefix) is valid")
	}
}
