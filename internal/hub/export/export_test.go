package export

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"
)

// sample is the list every golden file in testdata was written by hand
// from: a duplicate, a prefix inside another, three adjacent addresses
// that merge into a range that is no prefix, an IPv4-mapped address and
// IPv6 entries.
var sample = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.7/32"),
	netip.MustParsePrefix("192.0.2.6/32"),
	netip.MustParsePrefix("192.0.2.7/32"),
	netip.MustParsePrefix("192.0.2.8/32"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("198.51.100.128/25"),
	netip.MustParsePrefix("203.0.113.10/32"),
	netip.MustParsePrefix("2001:db8::/48"),
	netip.MustParsePrefix("2001:db8:0:1::/64"),
	netip.MustParsePrefix("::ffff:10.0.0.1/128"),
	netip.MustParsePrefix("2001:db8:ffff::1/128"),
}

func sampleOptions() Options {
	return Options{
		Label: "test list",
		Now:   func() time.Time { return time.Date(2026, 11, 23, 13, 0, 0, 0, time.FixedZone("CET", 3600)) },
	}
}

func TestWriteMatchesGoldenFiles(t *testing.T) {
	for _, f := range Formats() {
		t.Run(f.String(), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "golden."+f.String()))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, f, sample, sampleOptions()); err != nil {
				t.Fatal(err)
			}
			if buf.String() != string(want) {
				t.Errorf("Write(%s):\n%s\nwant:\n%s", f, buf.String(), want)
			}
		})
	}
}

func TestWriteLeavesInputAlone(t *testing.T) {
	in := slices.Clone(sample)
	for _, f := range Formats() {
		if err := Write(&bytes.Buffer{}, f, in, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(in, sample) {
		t.Errorf("Write reordered or changed its input: %v", in)
	}
}

func TestCrowdSecBodyIsJSONWithTheStreamFields(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, CrowdSec, sample, Options{Origin: "hub", Scenario: "x/y", Duration: 90 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		New []struct {
			ID                                             int64
			Origin, Type, Scope, Value, Duration, Scenario string
		}
		Deleted []json.RawMessage
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.New) != 7 || body.Deleted == nil || len(body.Deleted) != 0 {
		t.Fatalf("new %d, deleted %v; want 7 new and an empty deleted list", len(body.New), body.Deleted)
	}
	d := body.New[1]
	if d.ID != 2 || d.Origin != "hub" || d.Type != "ban" || d.Scope != "Range" || d.Value != "192.0.2.6/31" || d.Duration != "1h30m0s" || d.Scenario != "x/y" {
		t.Errorf("decision 2 = %+v", d)
	}
	if err := Write(&bytes.Buffer{}, CrowdSec, nil, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteEmptyList(t *testing.T) {
	for _, f := range Formats() {
		var buf bytes.Buffer
		if err := Write(&buf, f, nil, Options{}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch f {
		case P2P, Dat:
			if buf.Len() != 0 {
				t.Errorf("%s of nothing = %q, want empty", f, buf.String())
			}
		case Nft:
			if strings.Contains(buf.String(), "add element") {
				t.Errorf("nft of nothing adds elements:\n%s", buf.String())
			}
		case CrowdSec:
			if buf.String() != "{\"new\":[],\"deleted\":[]}\n" {
				t.Errorf("crowdsec of nothing = %q", buf.String())
			}
		}
	}
}

func TestIpsetSplitsTheWholeSpace(t *testing.T) {
	// hash:net cannot hold a /0, so the whole space is written as two /1.
	var buf bytes.Buffer
	all := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	if err := Write(&buf, Ipset, all, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"add herd-v4-tmp 0.0.0.0/1\n", "add herd-v4-tmp 128.0.0.0/1\n", "add herd-v6-tmp ::/1\n", "add herd-v6-tmp 8000::/1\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("ipset output lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "/0") {
		t.Errorf("ipset output holds a /0:\n%s", buf.String())
	}
}

func TestWriteRejects(t *testing.T) {
	for _, c := range []struct {
		name   string
		f      Format
		listed []netip.Prefix
		o      Options
		want   string
	}{
		{"zero prefix", Text, []netip.Prefix{{}}, Options{}, "entry 0: invalid prefix"},
		{"zero prefix aggregated", Nft, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}, Options{}, "entry 1: invalid prefix"},
		{"unknown format", Format(99), nil, Options{}, "unknown format"},
		{"label with colon", P2P, nil, Options{Label: "a:b"}, "label"},
		{"label with newline", Dat, nil, Options{Label: "a\nb"}, "label"},
		{"ipset name too long", Ipset, nil, Options{IpsetV4: strings.Repeat("a", 28)}, "ipset name"},
		{"ipset name with space", Ipset, nil, Options{IpsetV6: "a b"}, "ipset name"},
		{"same ipset names", Ipset, nil, Options{IpsetV4: "x", IpsetV6: "x"}, "both"},
		{"nft name with dash", Nft, nil, Options{NftTable: "a-b"}, "nftables name"},
		{"same nft sets", Nft, nil, Options{NftSetV4: "s", NftSetV6: "s"}, "both"},
		{"origin with quote", CrowdSec, nil, Options{Origin: `a"b`}, "origin"},
		{"duration in ms", CrowdSec, nil, Options{Duration: 1500 * time.Millisecond}, "whole seconds"},
		{"over maxelem", Ipset, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.3/32")}, Options{IpsetMaxElem: 1}, "maxelem 1"},
	} {
		var buf bytes.Buffer
		err := Write(&buf, c.f, c.listed, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %q before failing", c.name, buf.String())
		}
	}
}

func TestParseFormatNamesEveryFormat(t *testing.T) {
	for _, f := range Formats() {
		g, err := ParseFormat(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
	}
	if _, err := ParseFormat("TEXT"); err == nil || !strings.Contains(err.Error(), "p2p") {
		t.Errorf("ParseFormat(TEXT) err = %v, want an error listing the formats", err)
	}
}

func TestAggregateKnownAnswers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"10.0.0.0/32 10.0.0.1/32", "10.0.0.0/31"},
		{"10.0.0.1/32 10.0.0.2/32", "10.0.0.1/32 10.0.0.2/32"},
		{"10.0.0.1/32 10.0.0.2/31", "10.0.0.1/32 10.0.0.2/31"},
		{"10.0.0.0/25 10.0.0.128/25 10.0.1.0/24", "10.0.0.0/23"},
		{"10.0.0.0/8 10.1.2.3/32 10.255.0.0/16", "10.0.0.0/8"},
		{"192.0.2.0/32 192.0.2.1/32 192.0.2.2/32 192.0.2.3/32 192.0.2.4/32", "192.0.2.0/30 192.0.2.4/32"},
		{"0.0.0.0/1 128.0.0.0/1", "0.0.0.0/0"},
		{"2001:db8::/33 2001:db8:8000::/33", "2001:db8::/32"},
		{"::ffff:192.0.2.1/128 192.0.2.0/32", "192.0.2.0/31"},
		{"10.0.0.200/24", "10.0.0.0/24"},
		{"2001:db8::1/128 10.0.0.0/8", "10.0.0.0/8 2001:db8::1/128"},
	} {
		var in []netip.Prefix
		for _, s := range strings.Fields(c.in) {
			in = append(in, netip.MustParsePrefix(s))
		}
		out, err := Aggregate(in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range out {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Aggregate(%s) = %s, want %s", c.in, strings.Join(got, " "), c.want)
		}
	}
}

// TestAggregateProperty checks the CIDR output against a naive walk over
// every address of a small space: it covers what the input covers and
// nothing else, its prefixes are disjoint, and no two are the halves of a
// larger prefix (which, for a disjoint exact cover, means it is minimal).
func TestAggregateProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bases := []netip.Addr{netip.MustParseAddr("10.9.8.0"), netip.MustParseAddr("2001:db8::100")}
	for round := 0; round < 300; round++ {
		var in []netip.Prefix
		for range rng.IntN(12) {
			base := bases[rng.IntN(2)]
			off := rng.IntN(256)
			a := addOffset(base, off)
			bits := a.BitLen() - rng.IntN(6)
			in = append(in, netip.PrefixFrom(a, bits).Masked())
		}
		var buf bytes.Buffer
		if err := Write(&buf, CIDR, in, Options{}); err != nil {
			t.Fatal(err)
		}
		out, err := Read(&buf, CIDR, "out")
		if err != nil {
			t.Fatal(err)
		}
		for _, base := range bases {
			for off := -64; off < 320; off++ {
				a := addOffset(base, off)
				if naive(in, a) != naive(out, a) {
					t.Fatalf("round %d: %s in input %v, in output %v (in %v, out %v)", round, a, naive(in, a), naive(out, a), in, out)
				}
			}
		}
		for i, p := range out {
			for j, q := range out {
				if i == j {
					continue
				}
				if p.Overlaps(q) {
					t.Fatalf("round %d: output %s and %s overlap", round, p, q)
				}
				if p.Bits() == q.Bits() && p.Bits() > 0 {
					pp, _ := p.Addr().Prefix(p.Bits() - 1)
					qp, _ := q.Addr().Prefix(q.Bits() - 1)
					if pp == qp {
						t.Fatalf("round %d: output %s and %s should have merged into %s", round, p, q, pp)
					}
				}
			}
		}
	}
}

func naive(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addOffset(a netip.Addr, off int) netip.Addr {
	for ; off > 0; off-- {
		a = a.Next()
	}
	for ; off < 0; off++ {
		a = a.Prev()
	}
	return a
}

// setOf returns the addresses list covers, restricted to IPv4 when v4only.
func setOf(t testing.TB, list []netip.Prefix, v4only bool) *netipx.IPSet {
	t.Helper()
	var b netipx.IPSetBuilder
	for _, p := range list {
		p, _ = normalize(p)
		if !v4only || p.Addr().Is4() {
			b.AddPrefix(p)
		}
	}
	s, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 50; round++ {
		list := randomList(rng, 200)
		for _, f := range []Format{Text, CIDR, P2P, Dat} {
			var buf bytes.Buffer
			if err := Write(&buf, f, list, sampleOptions()); err != nil {
				t.Fatal(err)
			}
			back, err := Read(&buf, f, f.String())
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			v4only := f == P2P || f == Dat
			if !setOf(t, back, false).Equal(setOf(t, list, v4only)) {
				t.Fatalf("%s: read back %v, wrote %v", f, back, list)
			}
			if f == Text {
				want, _ := canonical(list)
				if !slices.Equal(back, want) {
					t.Fatalf("text: read back %v, want every entry %v", back, want)
				}
			}
		}
	}
}

func randomList(rng *rand.Rand, n int) []netip.Prefix {
	list := make([]netip.Prefix, 0, n)
	for range n {
		if rng.IntN(4) == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			b[15] = byte(rng.IntN(256))
			b[14] = byte(rng.IntN(4))
			a := netip.AddrFrom16(b)
			list = append(list, netip.PrefixFrom(a, 120+rng.IntN(9)).Masked())
			continue
		}
		a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), 2, byte(rng.IntN(4)), byte(rng.IntN(256))})
		list = append(list, netip.PrefixFrom(a, 24+rng.IntN(9)).Masked())
	}
	return list
}

func TestReadAcceptsWhatOthersWrite(t *testing.T) {
	for _, c := range []struct {
		f    Format
		in   string
		want string
	}{
		{Text, "# list\n\n192.0.2.1\n 2001:db8::/32  # note\r\n10.0.0.0/8\n", "192.0.2.1/32 2001:db8::/32 10.0.0.0/8"},
		{P2P, "# comment\nSome Org: Inc:1.2.3.0-1.2.3.255\n:10.0.0.1-10.0.0.2\nz:001.002.003.004 - 001.002.003.004\n", "1.2.3.0/24 10.0.0.1/32 10.0.0.2/32 1.2.3.4/32"},
		{Dat, "// eMule\n001.002.004.000 - 001.002.004.255 , 000 , China\n5.5.5.5-5.5.5.5,127,x\n6.6.6.6 - 6.6.6.6 , 200 , allowed\n2001:db8:: - 2001:db8::1 , 0 , six\n7.7.7.7 - 7.7.7.7 , 0\n", "1.2.4.0/24 5.5.5.5/32 2001:db8::/127 7.7.7.7/32"},
	} {
		got, err := Read(strings.NewReader(c.in), c.f, "in")
		if err != nil {
			t.Errorf("%s: %v", c.f, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != c.want {
			t.Errorf("Read(%s) = %s, want %s", c.f, strings.Join(s, " "), c.want)
		}
	}
}

func TestReadErrorsNameFileAndLine(t *testing.T) {
	for _, c := range []struct {
		f    Format
		in   string
		want string
	}{
		{Text, "10.0.0.1\n10.0.0.300\n", "list:2: "},
		{Text, "10.0.0.1/24\n", "list:1: prefix 10.0.0.1/24 has host bits set"},
		{Text, "fe80::1%eth0\n", "list:1: address fe80::1%eth0 has a zone"},
		{Text, "\n\n" + strings.Repeat("1", maxLine+1) + "\n", "list:3: line longer than"},
		{CIDR, "1.2.3.4 5.6.7.8\n", "list:1: "},
		{P2P, "x:1.2.3.4\n", "list:1: want label:first-last, found no '-'"},
		{P2P, "x:a.b.c.d-1.2.3.5\n", "list:1: IPv4 address"},
		{P2P, "no colon\n", "list:1: want label:first-last, found no ':'"},
		{P2P, "x:1.2.3.9-1.2.3.4\n", "list:1: range 1.2.3.9 - 1.2.3.4"},
		{P2P, "x:1.2.3.256-1.2.3.4\n", "octet out of range"},
		{P2P, "x:1.2.3-1.2.3.4\n", "want four octets"},
		{P2P, "x:0001.2.3.4-1.2.3.4\n", "octet out of range"},
		{P2P, "x:1..3.4-1.2.3.4\n", "unexpected"},
		{Dat, "1.2.3.4 - 1.2.3.5\n", "list:1: want first - last , level , label"},
		{Dat, "1.2.3.4 - 1.2.3.5 , abc , x\n", "access level \"abc\""},
		{Dat, "1.2.3.4 - 1.2.3.5 , 256 , x\n", "access level"},
		{Dat, "1.2.3.4 - 2001:db8::1 , 0 , x\n", "not first-last of one family"},
		{Dat, "1.2.3.5 - 1.2.3.4 , 200 , x\n", "not first-last"},
		{Dat, "1.2.3.4 , 0 , x\n", "found no '-'"},
		{Ipset, "", "cannot be read"},
	} {
		_, err := Read(strings.NewReader(c.in), c.f, "list")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%s, %q) err = %v, want one containing %q", c.f, c.in, err, c.want)
		}
	}
}

// fuzzRead checks that Read never panics and that whatever it accepts
// writes back to a list that reads as the same addresses.
func fuzzRead(f *testing.F, format Format, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := Read(bytes.NewReader(data), format, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "export fuzz") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, format, list, Options{}); err != nil {
			t.Fatal(err)
		}
		back, err := Read(&buf, format, "back")
		if err != nil {
			t.Fatalf("reading our own output: %v\n%s", err, buf.String())
		}
		v4only := format == P2P || format == Dat
		if !setOf(t, back, false).Equal(setOf(t, list, v4only)) {
			t.Fatalf("round trip changed the list: %v → %v", list, back)
		}
	})
}

func FuzzReadText(f *testing.F) {
	fuzzRead(f, Text, "192.0.2.1\n2001:db8::/32 # x\n", "10.0.0.0/8\n#c\n\n", "::ffff:1.2.3.4\n")
}

func FuzzReadP2P(f *testing.F) {
	fuzzRead(f, P2P, "a:1.2.3.0-1.2.3.255\n", "a:b:001.002.003.004-1.2.3.5\n# c\n")
}

func FuzzReadDat(f *testing.F) {
	fuzzRead(f, Dat, "001.002.004.000 - 001.002.004.255 , 000 , x\n", "2001:db8:: - 2001:db8::ff , 10 , y\n1.1.1.1-1.1.1.1,200,z\n")
}

// BenchmarkWrite100k writes 100,000 distinct entries (three in four IPv4
// addresses, the rest IPv6 /64s, none adjacent) in every format:
//
//	go test -run '^$' -bench BenchmarkWrite100k -benchmem ./internal/hub/export/
func BenchmarkWrite100k(b *testing.B) {
	list := make([]netip.Prefix, 0, 100_000)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100_000 {
		if i%4 == 3 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			a[4], a[5], a[6], a[7] = byte(i>>16), byte(i>>8), byte(i), byte(rng.IntN(256))
			list = append(list, netip.PrefixFrom(netip.AddrFrom16(a), 64))
			continue
		}
		v := uint32(i)*4 + 0x0b000000 // 11.0.0.0 on, every fourth address
		list = append(list, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32))
	}
	rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	for _, f := range Formats() {
		b.Run(f.String(), func(b *testing.B) {
			var n countWriter
			for b.Loop() {
				if err := Write(&n, f, list, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/float64(b.N)/1e6, "MB/op")
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// TestMergedRangesAgreesWithIPSetBuilder compares the one-pass merge with
// netipx's IPSetBuilder on random lists, including the ends of both
// address spaces.
func TestMergedRangesAgreesWithIPSetBuilder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	ends := []netip.Prefix{
		netip.MustParsePrefix("255.255.255.255/32"), netip.MustParsePrefix("255.255.255.254/31"),
		netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::/0"), netip.MustParsePrefix("128.0.0.0/1"),
	}
	for round := 0; round < 500; round++ {
		list := randomList(rng, rng.IntN(60))
		for range rng.IntN(3) {
			list = append(list, ends[rng.IntN(len(ends))])
		}
		got, err := mergedRanges(list)
		if err != nil {
			t.Fatal(err)
		}
		if want := setOf(t, list, false).Ranges(); !slices.Equal(got, want) {
			t.Fatalf("mergedRanges(%v)\n= %v\nwant %v", list, got, want)
		}
	}
}

// TestWritingAllocatesNothingPerEntry streams prepared lists of 200 and
// of 4,000 entries: the allocations (the buffer, a few per-file strings)
// must be the same, so no line allocates.
func TestWritingAllocatesNothingPerEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	small, large := randomList(rng, 200), randomList(rng, 4000)
	allocs := func(f Format, list []netip.Prefix) float64 {
		p, err := prepare(f, list, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(10, func() {
			if err := p.writeTo(io.Discard); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, f := range Formats() {
		a, b := allocs(f, small), allocs(f, large)
		if a != b {
			t.Errorf("%s: %.0f allocations for 200 entries, %.0f for 4,000", f, a, b)
		}
	}
}
