// Package geoip tells the country and the autonomous system of an address
// from databases on disk, without allocating: at load it turns a
// MaxMind-format country database and an ASN database (MaxMind format or
// ip-location-db's CSV) into compact sorted range tables, and a lookup is a
// binary search in them. It never touches the network; Update (a separate
// command) fetches the files.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// The files Open reads from a database directory, as Update writes them.
const (
	CountryFile = "country.mmdb"
	ASNFile     = "asn.mmdb"     // an ASN database in MaxMind's format, if present
	ASNv4File   = "asn-ipv4.csv" // else ip-location-db's CSV, one file per family
	ASNv6File   = "asn-ipv6.csv"
	SourceFile  = "SOURCE" // what Update fetched: package, version, licence
)

// attribution is what the licences of the databases Update fetches ask to
// show wherever their results are shown (CC BY 4.0).
const attribution = "Country data: ip-location-db geo-whois-asn-country (CC0; built from NRO data, CC BY 4.0, https://www.nro.net). " +
	"ASN data: ip-location-db asn (CC BY 4.0) from RouteViews (https://www.routeviews.org) and the IP to ASN Lite database by DB-IP (https://db-ip.com)."

// Attribution returns the attribution the databases' licences require,
// to be shown where their results are (herd geoip status, the console).
func Attribution() string { return attribution }

// span is one range of addresses and the index of its value. Addresses are
// 128-bit keys: an IPv4 address is its IPv4-mapped IPv6 form.
type span struct {
	startHi, startLo uint64
	endHi, endLo     uint64
	val              uint32
}

// table is a sorted list of disjoint spans. IPv4 spans are kept apart as
// parallel 32-bit arrays: the binary search over their starts touches a
// quarter of the memory the 128-bit spans would, most lookups being IPv4.
type table struct {
	spans []span // IPv6 spans (and any IPv4-mapped ones kept as such)

	v4start, v4end, v4val []uint32
}

// len returns the number of spans.
func (t *table) len() int { return len(t.spans) + len(t.v4start) }

func key(a netip.Addr) (hi, lo uint64) {
	b := a.Unmap().As16() // As16 of an IPv4 address is its mapped form
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// next returns the key after (hi, lo), wrapping at the end of the space.
func next(hi, lo uint64) (uint64, uint64) {
	if lo++; lo == 0 {
		hi++
	}
	return hi, lo
}

func less(ah, al, bh, bl uint64) bool { return ah < bh || ah == bh && al < bl }

// find returns the value index of the span holding a, and false if none
// does. It does not allocate.
func (t *table) find(a netip.Addr) (uint32, bool) {
	if t == nil || !a.IsValid() {
		return 0, false
	}
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		k := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		i, j := 0, len(t.v4start)
		for i < j {
			m := int(uint(i+j) >> 1)
			if k < t.v4start[m] {
				j = m
			} else {
				i = m + 1
			}
		}
		if i == 0 || t.v4end[i-1] < k {
			return 0, false
		}
		return t.v4val[i-1], true
	}
	if len(t.spans) == 0 {
		return 0, false
	}
	hi, lo := key(a)
	// The first span starting after a; the one before it may hold a.
	i, j := 0, len(t.spans)
	for i < j {
		m := int(uint(i+j) >> 1)
		s := &t.spans[m]
		if less(hi, lo, s.startHi, s.startLo) {
			j = m
		} else {
			i = m + 1
		}
	}
	if i == 0 {
		return 0, false
	}
	s := &t.spans[i-1]
	if less(s.endHi, s.endLo, hi, lo) {
		return 0, false
	}
	return s.val, true
}

// builder collects spans in any order.
type builder struct {
	spans []span
}

func (b *builder) add(first, last netip.Addr, val uint32) error {
	if !first.IsValid() || !last.IsValid() || first.Unmap().Is4() != last.Unmap().Is4() {
		return fmt.Errorf("range %v-%v: not one family", first, last)
	}
	sh, sl := key(first)
	eh, el := key(last)
	if less(eh, el, sh, sl) {
		return fmt.Errorf("range %v-%v: ends before it starts", first, last)
	}
	b.spans = append(b.spans, span{startHi: sh, startLo: sl, endHi: eh, endLo: el, val: val})
	return nil
}

func (b *builder) addPrefix(p netip.Prefix, val uint32) error {
	p = p.Masked()
	first := p.Addr()
	last := lastOf(p)
	return b.add(first, last, val)
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		n := bits - 8*i
		switch {
		case n <= 0:
			b[i] = 0xff
		case n < 8:
			b[i] |= 0xff >> n
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// table sorts the spans, drops any that overlaps the one before it (a
// database whose ranges overlap is malformed; the first range wins) and
// merges touching spans of one value; it reports how many were dropped.
func (b *builder) table() (*table, int) {
	slices.SortFunc(b.spans, func(x, y span) int {
		switch {
		case less(x.startHi, x.startLo, y.startHi, y.startLo):
			return -1
		case less(y.startHi, y.startLo, x.startHi, x.startLo):
			return 1
		}
		return 0
	})
	out := b.spans[:0]
	dropped := 0
	for _, s := range b.spans {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if !less(p.endHi, p.endLo, s.startHi, s.startLo) {
				dropped++
				continue
			}
			// Merge a span into the one before it when they touch and
			// say the same: the country table shrinks by about half.
			if nh, nl := next(p.endHi, p.endLo); p.val == s.val && nh == s.startHi && nl == s.startLo {
				p.endHi, p.endLo = s.endHi, s.endLo
				continue
			}
		}
		out = append(out, s)
	}
	t := &table{}
	for _, s := range out {
		// IPv4 keys are ::ffff:a.b.c.d; a span stays in one family.
		if s.startHi == 0 && s.startLo>>32 == 0xffff {
			t.v4start = append(t.v4start, uint32(s.startLo))
			t.v4end = append(t.v4end, uint32(s.endLo))
			t.v4val = append(t.v4val, s.val)
			continue
		}
		t.spans = append(t.spans, s)
	}
	t.spans = slices.Clip(t.spans)
	return t, dropped
}

// asRecord is one autonomous system.
type asRecord struct {
	num uint32
	org string
}

// Tables are loaded databases. They are immutable, so safe for concurrent
// use.
type Tables struct {
	country   *table
	countries []string // value index → ISO code
	asn       *table
	ases      []asRecord // value index → AS

	// Stats of the load.
	CountryRanges, ASNRanges int
	Dropped                  int // overlapping ranges ignored
}

// Lookup returns what the tables know of a. It does not allocate: the
// returned strings belong to t.
func (t *Tables) Lookup(a netip.Addr) event.Geo {
	var g event.Geo
	if t == nil {
		return g
	}
	if v, ok := t.country.find(a); ok {
		g.Country = t.countries[v]
	}
	if v, ok := t.asn.find(a); ok {
		g.ASN, g.ASOrg = t.ases[v].num, t.ases[v].org
	}
	return g
}

// ErrNoDatabase means a directory holds neither a country nor an ASN
// database.
var ErrNoDatabase = errors.New("no geoip database")

// Load reads the databases of dir (the files CountryFile, ASNFile or
// ASNv4File and ASNv6File; each is optional) into Tables. It fails with
// ErrNoDatabase when there is none, and with the file's name when one is
// malformed.
func Load(dir string) (*Tables, error) {
	t := &Tables{}
	found := false
	if p := filepath.Join(dir, CountryFile); exists(p) {
		found = true
		if err := t.loadCountryMMDB(p); err != nil {
			return nil, err
		}
	}
	if p := filepath.Join(dir, ASNFile); exists(p) {
		found = true
		if err := t.loadASNMMDB(p); err != nil {
			return nil, err
		}
	} else {
		var b builder
		intern := map[uint32]uint32{}
		for _, name := range []string{ASNv4File, ASNv6File} {
			p := filepath.Join(dir, name)
			if !exists(p) {
				continue
			}
			found = true
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("geoip: %w", err)
			}
			if err := t.parseASNCSV(data, &b, intern); err != nil {
				return nil, fmt.Errorf("geoip: %s%w", p, err)
			}
		}
		if len(b.spans) > 0 {
			var d int
			t.asn, d = b.table()
			t.Dropped += d
			t.ASNRanges = t.asn.len()
		}
	}
	if !found {
		return nil, fmt.Errorf("geoip: %s: %w", dir, ErrNoDatabase)
	}
	return t, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Status says what a directory's databases are.
type Status struct {
	Dir     string
	Files   []FileStatus
	Source  string // the SOURCE file Update wrote: packages, versions, licences
	Country int    // ranges loaded
	ASN     int
	Err     error // the load error, if any
}

// FileStatus is one database file.
type FileStatus struct {
	Name     string
	Size     int64
	Modified time.Time
}

// Stat loads dir's databases to report on them.
func Stat(dir string) Status {
	st := Status{Dir: dir}
	for _, n := range []string{CountryFile, ASNFile, ASNv4File, ASNv6File} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
			st.Files = append(st.Files, FileStatus{Name: n, Size: fi.Size(), Modified: fi.ModTime()})
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, SourceFile)); err == nil {
		st.Source = string(b)
	}
	t, err := Load(dir)
	if err != nil {
		st.Err = err
		return st
	}
	st.Country, st.ASN = t.CountryRanges, t.ASNRanges
	return st
}

// DB is the databases of one directory, reloaded when their files are
// replaced. It is safe for concurrent use.
type DB struct {
	dir   string
	cur   atomic.Pointer[Tables]
	stamp string // what the files looked like at the last load; guarded by Reload's caller
}

// Open loads the databases of dir. See Load for its errors.
func Open(dir string) (*DB, error) {
	db := &DB{dir: dir}
	if _, err := db.Reload(); err != nil {
		return nil, err
	}
	return db, nil
}

// Lookup returns what the current tables know of a. It does not allocate.
func (db *DB) Lookup(a netip.Addr) event.Geo {
	if db == nil {
		return event.Geo{}
	}
	return db.cur.Load().Lookup(a)
}

// Tables returns the current tables.
func (db *DB) Tables() *Tables { return db.cur.Load() }

// Reload loads the databases again if their files changed (size,
// modification time or inode, as an atomic rename makes) since the last
// load, and reports whether it did. On error the current tables stay. It
// must not be called concurrently with itself.
func (db *DB) Reload() (bool, error) {
	s := stamp(db.dir)
	if s == db.stamp && db.cur.Load() != nil {
		return false, nil
	}
	t, err := Load(db.dir)
	if err != nil {
		return false, err
	}
	db.cur.Store(t)
	db.stamp = s
	return true, nil
}

func stamp(dir string) string {
	var out []byte
	for _, n := range []string{CountryFile, ASNFile, ASNv4File, ASNv6File} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		out = fmt.Appendf(out, "%s %d %d %v;", n, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	}
	return string(out)
}
