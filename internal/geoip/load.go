package geoip

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/oschwald/maxminddb-golang/v2"
)

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// maxStrings bounds the distinct country codes and AS organisations kept,
// against a hostile or broken database.
const maxStrings = 1 << 20

// loadCountryMMDB reads a MaxMind-format database whose records carry a
// country code: ip-location-db's {"country_code": "FR"} or MaxMind's
// {"country": {"iso_code": "FR"}}.
func (t *Tables) loadCountryMMDB(path string) error {
	r, err := maxminddb.Open(path)
	if err != nil {
		return fmt.Errorf("geoip: %s: %w", path, err)
	}
	defer r.Close()
	if err := t.countriesFrom(r); err != nil {
		return fmt.Errorf("geoip: %s: %w", path, err)
	}
	return nil
}

// maxNetworks bounds the networks read from one database: a corrupt tree
// must not keep the loader walking for ever.
const maxNetworks = 1 << 24

var errTooMany = errors.New("more networks than its search tree can hold: the tree is corrupt")

// networkLimit is how many networks r's search tree can hold: a binary
// tree of n nodes has at most n+1 leaves; more means a corrupt tree (nodes
// shared or in a cycle, which a walk would follow for ever). The walks
// count the leaves without data too, so that such a tree is caught even
// when it yields no network.
func networkLimit(r *maxminddb.Reader) int {
	return int(min(r.Metadata.NodeCount+1, maxNetworks))
}

func (t *Tables) countriesFrom(r *maxminddb.Reader) error {
	var b builder
	codes := map[string]uint32{}
	n := 0
	limit := networkLimit(r)
	for res := range r.Networks(maxminddb.IncludeNetworksWithoutData()) {
		if n++; n > limit {
			return errTooMany
		}
		if !res.Found() {
			continue
		}
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
			Country     struct {
				ISOCode string `maxminddb:"iso_code"`
			} `maxminddb:"country"`
		}
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("network %v: %w", res.Prefix(), err)
		}
		code := rec.CountryCode
		if code == "" {
			code = rec.Country.ISOCode
		}
		if !validCountry(code) {
			continue
		}
		v, ok := codes[code]
		if !ok {
			if len(t.countries) >= maxStrings {
				return errors.New("too many country codes")
			}
			v = uint32(len(t.countries))
			codes[code] = v
			t.countries = append(t.countries, code)
		}
		if err := b.addPrefix(res.Prefix(), v); err != nil {
			return err
		}
	}
	var d int
	t.country, d = b.table()
	t.Dropped += d
	t.CountryRanges = t.country.len()
	return nil
}

// validCountry accepts two ASCII capital letters.
func validCountry(c string) bool {
	return len(c) == 2 && 'A' <= c[0] && c[0] <= 'Z' && 'A' <= c[1] && c[1] <= 'Z'
}

// loadASNMMDB reads a MaxMind-format ASN database (GeoLite2-ASN's layout).
func (t *Tables) loadASNMMDB(path string) error {
	r, err := maxminddb.Open(path)
	if err != nil {
		return fmt.Errorf("geoip: %s: %w", path, err)
	}
	defer r.Close()
	var b builder
	intern := map[uint32]uint32{}
	n := 0
	limit := networkLimit(r)
	for res := range r.Networks(maxminddb.IncludeNetworksWithoutData()) {
		if n++; n > limit {
			return fmt.Errorf("geoip: %s: %w", path, errTooMany)
		}
		if !res.Found() {
			continue
		}
		var rec struct {
			Num uint32 `maxminddb:"autonomous_system_number"`
			Org string `maxminddb:"autonomous_system_organization"`
		}
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("geoip: %s: network %v: %w", path, res.Prefix(), err)
		}
		if rec.Num == 0 {
			continue
		}
		v, err := t.internAS(intern, rec.Num, rec.Org)
		if err != nil {
			return fmt.Errorf("geoip: %s: %w", path, err)
		}
		if err := b.addPrefix(res.Prefix(), v); err != nil {
			return fmt.Errorf("geoip: %s: %w", path, err)
		}
	}
	var d int
	t.asn, d = b.table()
	t.Dropped += d
	t.ASNRanges = t.asn.len()
	return nil
}

// internAS returns the value index of AS num, adding it (with org) if new.
func (t *Tables) internAS(intern map[uint32]uint32, num uint32, org string) (uint32, error) {
	if v, ok := intern[num]; ok {
		return v, nil
	}
	if len(t.ases) >= maxStrings {
		return 0, errors.New("too many autonomous systems")
	}
	v := uint32(len(t.ases))
	intern[num] = v
	t.ases = append(t.ases, asRecord{num: num, org: org})
	return v, nil
}

// maxOrg bounds an organisation name's length.
const maxOrg = 128

// parseASNCSV reads ip-location-db's ASN CSV: one range a line,
// "first,last,asn,organisation", the organisation quoted when it holds a
// comma or a quote (a quote doubled). Errors carry ":line: reason" for the
// caller to prefix with the file name.
func (t *Tables) parseASNCSV(data []byte, b *builder, intern map[uint32]uint32) error {
	line := 0
	var org []byte
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			continue
		}
		first, rest, ok1 := bytes.Cut(l, []byte(","))
		last, rest, ok2 := bytes.Cut(rest, []byte(","))
		num, rest, ok3 := bytes.Cut(rest, []byte(","))
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf(":%d: want first,last,asn,organisation", line)
		}
		a, err1 := netip.ParseAddr(string(first))
		z, err2 := netip.ParseAddr(string(last))
		n, err3 := strconv.ParseUint(string(num), 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			return fmt.Errorf(":%d: %w", line, errors.Join(err1, err2, err3))
		}
		org, err := unquote(org[:0], rest)
		if err != nil {
			return fmt.Errorf(":%d: organisation: %w", line, err)
		}
		if n == 0 {
			continue
		}
		if len(org) > maxOrg {
			org = org[:maxOrg]
		}
		v, err := t.internAS(intern, uint32(n), string(bytes.ToValidUTF8(org, []byte("\uFFFD"))))
		if err != nil {
			return fmt.Errorf(":%d: %w", line, err)
		}
		if err := b.add(a, z, v); err != nil {
			return fmt.Errorf(":%d: %w", line, err)
		}
	}
	return nil
}

// unquote appends the CSV field f to dst, undoing its quoting.
func unquote(dst, f []byte) ([]byte, error) {
	if len(f) == 0 || f[0] != '"' {
		if bytes.IndexByte(f, '"') >= 0 {
			return dst, errors.New("quote inside an unquoted field")
		}
		return append(dst, f...), nil
	}
	if len(f) < 2 || f[len(f)-1] != '"' {
		return dst, errors.New("unterminated quote")
	}
	f = f[1 : len(f)-1]
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			if i+1 >= len(f) || f[i+1] != '"' {
				return dst, errors.New("lone quote inside a quoted field")
			}
			i++
		}
		dst = append(dst, f[i])
	}
	return dst, nil
}
