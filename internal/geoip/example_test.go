package geoip

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// exampleCountries are the made-up assignments of examples/geoip/country.mmdb,
// over the documentation ranges the examples' logs use (RFC 5737, RFC 3849).
var exampleCountries = []struct {
	prefix, country string
}{
	{"192.0.2.0/24", "FR"},
	{"198.51.100.0/24", "BR"},
	{"203.0.113.0/24", "NL"},
	{"2001:db8::/32", "JP"},
}

// TestExampleDatabase keeps examples/geoip/country.mmdb what this writer
// makes of exampleCountries; HERD_UPDATE_EXAMPLES=1 writes it.
func TestExampleDatabase(t *testing.T) {
	w := newMMDB("herd-example-country")
	for _, c := range exampleCountries {
		w.insert(netip.MustParsePrefix(c.prefix), map[string]any{"country_code": c.country})
	}
	want := w.bytes()
	path := filepath.Join("..", "..", "examples", "geoip", CountryFile)
	if os.Getenv("HERD_UPDATE_EXAMPLES") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (HERD_UPDATE_EXAMPLES=1 go test -run TestExampleDatabase ./internal/geoip writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the test writer makes; run HERD_UPDATE_EXAMPLES=1 go test -run TestExampleDatabase ./internal/geoip", path)
	}
	db, err := Open(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range exampleCountries {
		a := netip.MustParsePrefix(c.prefix).Addr().Next()
		if g := db.Lookup(a); g.Country != c.country || g.ASN == 0 {
			t.Errorf("%v: %+v, want %s and an ASN", a, g, c.country)
		}
	}
}
