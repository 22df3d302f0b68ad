package textmatch

import (
	"net/netip"
	"testing"
)

func TestParseAddr(t *testing.T) {
	good := []string{
		"0.0.0.0", "1.2.3.4", "255.255.255.255", "192.0.2.10",
		"::", "::1", "1::", "2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6::", "::2:3:4:5:6:7:8", "::ffff:1.2.3.4",
		"1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "FE80::ABCD",
	}
	bad := []string{
		"", ".", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.256", "1..2.3",
		"1.2.3.4.", ".1.2.3.4", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1.2.3.-4",
		":", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", "12345::",
		"1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:", ":1", "1:2:3:4:5:6:7:1.2.3.4",
		"::1.2.3", "::01.2.3.4", "g::1", "fe80::1%eth0", "1.2.3.4%eth0", "%", "::%x",
		"1:2:3:4:5:1.2.3.4", "::ffff:1.2.3.4:5",
	}
	for _, s := range good {
		got, ok := ParseAddr([]byte(s))
		want := netip.MustParseAddr(s)
		if !ok || got != want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range bad {
		if got, ok := ParseAddr([]byte(s)); ok {
			t.Errorf("ParseAddr(%q) = %v, want failure", s, got)
		}
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		in, want string // want "" = invalid
	}{
		{"1.2.3.4", "1.2.3.4"},
		{"[1.2.3.4]", "1.2.3.4"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"::ffff:1.2.3.4", "1.2.3.4"},
		{"[::ffff:10.0.0.1]", "10.0.0.1"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%en0.5]", "fe80::1"},
		{"fe80::1%", ""},
		{"1.2.3.4%eth0", ""},
		{"fe80::1%et h0", ""},
		{"[1.2.3.4", ""},
		{"1.2.3.4]", ""},
		{"[]", ""},
		{"example.com", ""},
	}
	for _, tt := range tests {
		got, ok := ParseToken([]byte(tt.in))
		if tt.want == "" {
			if ok {
				t.Errorf("ParseToken(%q) = %v, want failure", tt.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("ParseToken(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
}

func TestParseAddrAllocs(t *testing.T) {
	for _, s := range []string{"192.0.2.10", "2001:db8::dead:beef", "[fe80::1%eth0]", "::ffff:1.2.3.4"} {
		b := []byte(s)
		if n := testing.AllocsPerRun(100, func() { ParseToken(b) }); n != 0 {
			t.Errorf("ParseToken(%q): %v allocs, want 0", s, n)
		}
	}
}

// FuzzParseAddr holds ParseAddr to netip.ParseAddr on zone-less input.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "01.2.3.4", "1::2::3", "abcd:ef01::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if err == nil && want.Zone() != "" {
			if ok {
				t.Fatalf("ParseAddr(%q) accepted a zone", s)
			}
			return
		}
		if ok != (err == nil) || got != want {
			t.Fatalf("ParseAddr(%q) = %v, %v; netip: %v, %v", s, got, ok, want, err)
		}
	})
}

func BenchmarkParseToken(b *testing.B) {
	for _, s := range []string{"192.0.2.10", "2001:db8::dead:beef"} {
		in := []byte(s)
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ParseToken(in)
			}
		})
	}
}

// BenchmarkNetipParseAddrBytes measures the conversion this package avoids.
func BenchmarkNetipParseAddrBytes(b *testing.B) {
	in := []byte("2001:db8::dead:beef")
	b.ReportAllocs()
	for b.Loop() {
		netip.ParseAddr(string(in))
	}
}
