package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/herd-ips/herd/internal/event"
)

// writeTestDB writes a country mmdb and ASN CSV files into dir.
func writeTestDB(t testing.TB, dir string) {
	t.Helper()
	w := newMMDB("herd-test-country")
	w.insert(netip.MustParsePrefix("192.0.2.0/24"), map[string]any{"country_code": "FR"})
	w.insert(netip.MustParsePrefix("198.51.100.0/25"), map[string]any{"country_code": "DE"})
	w.insert(netip.MustParsePrefix("2001:db8::/32"), map[string]any{"country_code": "JP"})
	w.insert(netip.MustParsePrefix("203.0.113.0/24"), map[string]any{"country": map[string]any{"iso_code": "BR"}})
	if err := os.WriteFile(filepath.Join(dir, CountryFile), w.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	v4 := "192.0.2.0,192.0.2.127,64500,\"Example, \"\"Net\"\" Ltd\"\n" +
		"198.51.100.0,198.51.100.255,64501,Docs AS\r\n"
	v6 := "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64502,Six AS\n"
	if err := os.WriteFile(filepath.Join(dir, ASNv4File), []byte(v4), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ASNv6File), []byte(v6), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	writeTestDB(t, dir)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want event.Geo
	}{
		{"192.0.2.1", event.Geo{Country: "FR", ASN: 64500, ASOrg: `Example, "Net" Ltd`}},
		{"192.0.2.127", event.Geo{Country: "FR", ASN: 64500, ASOrg: `Example, "Net" Ltd`}},
		{"192.0.2.128", event.Geo{Country: "FR"}},
		{"::ffff:192.0.2.1", event.Geo{Country: "FR", ASN: 64500, ASOrg: `Example, "Net" Ltd`}},
		{"198.51.100.0", event.Geo{Country: "DE", ASN: 64501, ASOrg: "Docs AS"}},
		{"198.51.100.200", event.Geo{ASN: 64501, ASOrg: "Docs AS"}},
		{"203.0.113.9", event.Geo{Country: "BR"}},
		{"2001:db8:1::1", event.Geo{Country: "JP", ASN: 64502, ASOrg: "Six AS"}},
		{"2001:db9::1", event.Geo{}},
		{"10.0.0.1", event.Geo{}},
		{"0.0.0.0", event.Geo{}},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", event.Geo{}},
	} {
		if got := db.Lookup(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", c.addr, got, c.want)
		}
	}
	if got := db.Lookup(netip.Addr{}); got.Known() {
		t.Errorf("Lookup(invalid) = %+v", got)
	}
	tb := db.Tables()
	if tb.CountryRanges != 4 || tb.ASNRanges != 3 {
		t.Errorf("ranges: country %d asn %d, want 4 and 3", tb.CountryRanges, tb.ASNRanges)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	writeTestDB(t, dir)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.1.2.3")}
	var g event.Geo
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			g = db.Lookup(a)
		}
	}); n != 0 {
		t.Errorf("Lookup allocates %v times per run", n)
	}
	_ = g
}

func TestReloadWhenReplaced(t *testing.T) {
	dir := t.TempDir()
	writeTestDB(t, dir)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := db.Reload(); again || err != nil {
		t.Fatalf("Reload with unchanged files = %v, %v", again, err)
	}
	// Replace the country database atomically, as Update does.
	w := newMMDB("herd-test-country")
	w.insert(netip.MustParsePrefix("192.0.2.0/24"), map[string]any{"country_code": "NL"})
	tmp := filepath.Join(dir, ".country.tmp")
	if err := os.WriteFile(tmp, w.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, CountryFile)); err != nil {
		t.Fatal(err)
	}
	if again, err := db.Reload(); !again || err != nil {
		t.Fatalf("Reload after replacement = %v, %v", again, err)
	}
	if got := db.Lookup(netip.MustParseAddr("192.0.2.1")).Country; got != "NL" {
		t.Errorf("country after reload = %q, want NL", got)
	}
	// A broken replacement keeps the tables in use.
	if err := os.WriteFile(filepath.Join(dir, CountryFile), []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Reload(); err == nil || !strings.Contains(err.Error(), CountryFile) {
		t.Errorf("Reload of a broken file: err = %v, want one naming %s", err, CountryFile)
	}
	if got := db.Lookup(netip.MustParseAddr("192.0.2.1")).Country; got != "NL" {
		t.Errorf("country after a failed reload = %q, want NL still", got)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no geoip database") {
		t.Errorf("empty dir: err = %v", err)
	}
	for _, c := range []struct{ csv, want string }{
		{"1.2.3.4,1.2.3.5\n", ":1: want first,last,asn,organisation"},
		{"1.2.3.4,1.2.3.5,64500,ok\nx,1.2.3.5,1,a\n", ":2: "},
		{"1.2.3.9,1.2.3.5,1,a\n", "ends before it starts"},
		{"1.2.3.4,::1,1,a\n", "not one family"},
		{"1.2.3.4,1.2.3.5,1,\"open\n", "unterminated quote"},
		{"1.2.3.4,1.2.3.5,1,a\"b\n", "quote inside"},
		{"1.2.3.4,1.2.3.5,99999999999,a\n", "out of range"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ASNv4File), []byte(c.csv), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), ASNv4File) {
			t.Errorf("%q: err = %v, want one naming the file and %q", c.csv, err, c.want)
		}
	}
}

func TestOverlappingRangesKeepTheFirstTouchingOnesMerge(t *testing.T) {
	dir := t.TempDir()
	// The last line touches the one before it with the same AS: merged.
	csv := "10.0.0.0,10.0.0.255,1,one\n10.0.0.128,10.0.1.255,2,two\n10.0.2.0,10.0.2.0,3,three\n10.0.2.1,10.0.2.9,3,three\n"
	if err := os.WriteFile(filepath.Join(dir, ASNv4File), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Dropped != 1 || tb.ASNRanges != 2 {
		t.Errorf("dropped %d kept %d, want 1 and 2", tb.Dropped, tb.ASNRanges)
	}
	if g := tb.Lookup(netip.MustParseAddr("10.0.1.1")); g.ASN != 0 {
		t.Errorf("10.0.1.1 in a dropped range: %+v", g)
	}
	for _, a := range []string{"10.0.2.0", "10.0.2.9"} {
		if g := tb.Lookup(netip.MustParseAddr(a)); g.ASN != 3 {
			t.Errorf("%s: %+v, want AS3", a, g)
		}
	}
}

func FuzzASNCSV(f *testing.F) {
	f.Add([]byte("192.0.2.0,192.0.2.127,64500,\"Example, \"\"Net\"\" Ltd\"\n"))
	f.Add([]byte("2001:db8::,2001:db8::ff,1,x\r\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := &Tables{}
		var b builder
		if err := tb.parseASNCSV(data, &b, map[uint32]uint32{}); err != nil {
			return
		}
		tab, _ := b.table()
		tb.asn = tab
		for i := range tab.v4start {
			if tab.v4end[i] < tab.v4start[i] || int(tab.v4val[i]) >= len(tb.ases) || i > 0 && tab.v4start[i] <= tab.v4end[i-1] {
				t.Fatalf("v4 span %d: %d-%d", i, tab.v4start[i], tab.v4end[i])
			}
		}
		for _, s := range tab.spans {
			if less(s.endHi, s.endLo, s.startHi, s.startLo) {
				t.Fatalf("span ends before it starts: %+v", s)
			}
			if int(s.val) >= len(tb.ases) {
				t.Fatalf("span value %d out of %d", s.val, len(tb.ases))
			}
		}
		tb.Lookup(netip.MustParseAddr("192.0.2.1"))
	})
}

// FuzzCountryMMDB feeds arbitrary bytes as a country database: a broken
// file is an error, never a crash or an endless walk.
func FuzzCountryMMDB(f *testing.F) {
	w := newMMDB("x")
	w.insert(netip.MustParsePrefix("192.0.2.0/24"), map[string]any{"country_code": "FR"})
	w.insert(netip.MustParsePrefix("2001:db8::/32"), map[string]any{"country": map[string]any{"iso_code": "JP"}})
	f.Add(w.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := maxminddb.OpenBytes(data)
		if err != nil {
			return
		}
		tb := &Tables{}
		if err := tb.countriesFrom(r); err == nil {
			tb.Lookup(netip.MustParseAddr("192.0.2.1"))
		}
	})
}

// TestRealDatabase checks the databases herd geoip update installs, where
// they are: $HERD_GEOIP_DIR, else /var/lib/herd/geoip.
func TestRealDatabase(t *testing.T) {
	dir := os.Getenv("HERD_GEOIP_DIR")
	if dir == "" {
		dir = "/var/lib/herd/geoip"
	}
	if _, err := os.Stat(filepath.Join(dir, CountryFile)); err != nil {
		t.Skipf("no real database in %s (run herd geoip update --dir %s): %v", dir, dir, err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tb := db.Tables()
	t.Logf("country ranges %d, ASN ranges %d, dropped %d", tb.CountryRanges, tb.ASNRanges, tb.Dropped)
	if tb.CountryRanges < 100_000 {
		t.Errorf("only %d country ranges", tb.CountryRanges)
	}
	// Well-known anycast resolvers: their operators' ASNs have been stable
	// for a decade (Google AS15169, Cloudflare AS13335, Quad9 AS19281).
	for _, c := range []struct {
		addr string
		asn  uint32
	}{{"8.8.8.8", 15169}, {"1.1.1.1", 13335}, {"2606:4700:4700::1111", 13335}, {"9.9.9.9", 19281}} {
		g := db.Lookup(netip.MustParseAddr(c.addr))
		if g.Country == "" {
			t.Errorf("%s: no country", c.addr)
		}
		if tb.ASNRanges > 0 && g.ASN != c.asn {
			t.Errorf("%s: AS%d %q, want AS%d", c.addr, g.ASN, g.ASOrg, c.asn)
		}
	}
	a := netip.MustParseAddr("8.8.8.8")
	if n := testing.AllocsPerRun(100, func() { db.Lookup(a) }); n != 0 {
		t.Errorf("Lookup on the real database allocates %v times", n)
	}
}

func BenchmarkLookupReal(b *testing.B) {
	dir := os.Getenv("HERD_GEOIP_DIR")
	if dir == "" {
		dir = "/var/lib/herd/geoip"
	}
	db, err := Open(dir)
	if err != nil {
		b.Skipf("no real database: %v", err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("185.220.101.1"), netip.MustParseAddr("2a01:4f8::1"), netip.MustParseAddr("45.33.32.156")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		db.Lookup(addrs[i&3])
	}
}

func BenchmarkLoadReal(b *testing.B) {
	dir := os.Getenv("HERD_GEOIP_DIR")
	if dir == "" {
		dir = "/var/lib/herd/geoip"
	}
	if _, err := Load(dir); err != nil {
		b.Skipf("no real database: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
