package evidence

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var all = netip.Prefix{} // no scope: the source's own lines

func addrN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
}

// Interleaved lines of several sources: each source gets back its own
// lines, in order, and nothing else.
func TestLinesOfEachSourceInOrder(t *testing.T) {
	r := New(Options{})
	srcs := []netip.Addr{addrN(1), addrN(2), addrN(3)}
	want := map[netip.Addr][]string{}
	for i := range 30 {
		src := srcs[i%len(srcs)]
		line := fmt.Sprintf("line %d from %s", i, src)
		r.Add(src, int64(i), 1, []byte(line))
		want[src] = append(want[src], line)
	}
	for _, src := range srcs {
		got := r.Lines(src, netip.PrefixFrom(src, 32), 1, 0, math.MaxInt64, nil)
		if !slices.Equal(got, want[src]) {
			t.Errorf("%s: got %q, want %q", src, got, want[src])
		}
	}
	if got := r.Lines(addrN(4), all, 1, 0, math.MaxInt64, nil); len(got) != 0 {
		t.Errorf("a source never seen has lines: %q", got)
	}
}

// Lines filters by time and scenario mask, and returns the newest MaxLines.
func TestLinesFilters(t *testing.T) {
	r := New(Options{})
	src := addrN(9)
	for i := range 100 {
		r.Add(src, int64(i), 1<<(i%3), fmt.Appendf(nil, "l%d", i))
	}
	got := r.Lines(src, all, 1<<1, 10, 20, nil) // i%3 == 1 within [10, 20]
	if want := []string{"l10", "l13", "l16", "l19"}; !slices.Equal(got, want) {
		t.Errorf("time and mask: got %q, want %q", got, want)
	}
	got = r.Lines(src, all, 7, 0, math.MaxInt64, []string{"kept"})
	if len(got) != 1+MaxLines || got[0] != "kept" || got[1] != "l68" || got[len(got)-1] != "l99" {
		t.Errorf("newest %d: got %q", MaxLines, got)
	}
}

// An IPv6 source shares its /64's chain; the scope picks the addresses.
func TestLinesIPv6Scope(t *testing.T) {
	r := New(Options{})
	a := netip.MustParseAddr("2001:db8:1:2::a")
	b := netip.MustParseAddr("2001:db8:1:2::b")
	c := netip.MustParseAddr("2001:db8:1:3::a")
	for i, src := range []netip.Addr{a, b, c, a, b} {
		r.Add(src, int64(i), 1, []byte(src.String()))
	}
	if got, want := r.Lines(a, netip.MustParsePrefix("2001:db8:1:2::/64"), 1, 0, 10, nil), []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2::a", "2001:db8:1:2::b"}; !slices.Equal(got, want) {
		t.Errorf("/64: got %q, want %q", got, want)
	}
	if got, want := r.Lines(b, netip.PrefixFrom(b, 128), 1, 0, 10, nil), []string{"2001:db8:1:2::b", "2001:db8:1:2::b"}; !slices.Equal(got, want) {
		t.Errorf("/128: got %q, want %q", got, want)
	}
	// A v4-mapped source is its IPv4 address.
	r.Add(netip.MustParseAddr("::ffff:192.0.2.1"), 1, 1, []byte("mapped"))
	if got := r.Lines(netip.MustParseAddr("192.0.2.1"), netip.MustParsePrefix("192.0.2.1/32"), 1, 0, 10, nil); !slices.Equal(got, []string{"mapped"}) {
		t.Errorf("v4-mapped: got %q", got)
	}
}

// Lines are cut to MaxLineBytes; old lines are overwritten, never returned
// garbled.
func TestRingBounds(t *testing.T) {
	r := New(Options{Bytes: MinBytes})
	src := addrN(1)
	long := strings.Repeat("x", 5000)
	r.Add(src, 0, 1, []byte(long))
	if got := r.Lines(src, all, 1, 0, 0, nil); len(got) != 1 || got[0] != long[:MaxLineBytes] {
		t.Fatalf("long line: got %d lines, first %d bytes", len(got), len(got[0]))
	}
	// Fill the ring many times over with lines of varied lengths.
	rng := rand.New(rand.NewPCG(1, 2))
	var written []string
	for i := range 20000 {
		l := fmt.Sprintf("%06d %s", i, strings.Repeat("y", rng.IntN(300)))
		r.Add(src, int64(i), 1, []byte(l))
		written = append(written, l)
	}
	got := r.Lines(src, all, 1, 0, math.MaxInt64, nil)
	if want := written[len(written)-MaxLines:]; !slices.Equal(got, want) {
		t.Errorf("after wrapping: got %d lines, want the newest %d", len(got), MaxLines)
	}
	// The first lines were overwritten: none comes back.
	got = r.Lines(src, all, 1, 0, 100, nil)
	if len(got) != 0 {
		t.Errorf("overwritten lines returned: %q", got)
	}
}

// A flood of distinct sources neither grows memory nor allocates, and a
// source that keeps talking keeps its lines while the ring holds them.
func TestFloodOfSources(t *testing.T) {
	r := New(Options{Bytes: MinBytes})
	bytes, slots := r.Size()
	victim := netip.MustParseAddr("198.51.100.7")
	victimLine := []byte("Failed password for root from 198.51.100.7 port 22 ssh2")
	i := 0
	allocs := testing.AllocsPerRun(200000, func() {
		i++
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.Add(src, int64(i), 1, []byte("Failed password for root from forged port 22 ssh2"))
		if i%50 == 0 {
			r.Add(victim, int64(i), 2, victimLine)
		}
	})
	if allocs != 0 {
		t.Errorf("Add: %.2f allocations per line", allocs)
	}
	if b, s := r.Size(); b != bytes || s != slots || cap(r.buf) != bytes || cap(r.slots) != slots {
		t.Errorf("memory grew: ring %d → %d bytes, table %d → %d slots", bytes, b, slots, s)
	}
	if st := r.Stats(); st.Lines < 200000 || st.Evicted == 0 {
		t.Errorf("stats %+v: expected lines and evictions", st)
	}
	got := r.Lines(victim, netip.PrefixFrom(victim, 32), 2, 0, math.MaxInt64, nil)
	if len(got) < 5 || got[0] != string(victimLine) {
		t.Errorf("the source that kept talking has %d lines left: %q", len(got), got)
	}
	for _, l := range r.Lines(victim, netip.PrefixFrom(victim, 32), 1, 0, math.MaxInt64, nil) {
		t.Errorf("a forged source's line is given as the victim's: %q", l)
	}
}

// TestAgainstModel replays random interleavings against a plain model (all
// lines kept in a slice) with a table large enough never to evict: Lines
// must return exactly the model's lines that are still in the ring.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		r := New(Options{Bytes: MinBytes, Sources: 4096})
		type rec struct {
			src  netip.Addr
			t    int64
			mask uint64
			line string
			pos  uint64 // r.head before the add
		}
		var model []rec
		for i := range 3000 {
			src := addrN(rng.IntN(40))
			l := fmt.Sprintf("%d %s %s", i, src, strings.Repeat("z", rng.IntN(400)))
			rc := rec{src, int64(rng.IntN(1000)), 1 << rng.IntN(4), l, r.head}
			r.Add(src, rc.t, rc.mask, []byte(l))
			model = append(model, rc)
		}
		if r.Stats().Evicted != 0 {
			t.Fatalf("seed %d: evictions with a large table", seed)
		}
		for q := range 200 {
			src := addrN(rng.IntN(40))
			mask := uint64(1+rng.IntN(15)) & 0xf
			first := int64(rng.IntN(1000))
			last := first + int64(rng.IntN(1000))
			// The oldest line still whole: everything after head - size,
			// where a line begins at its pos or after the padding.
			var want []string
			for _, m := range model {
				n := uint64(headerLen + len(m.line))
				start := m.pos
				if off := start % uint64(len(r.buf)); off+n > uint64(len(r.buf)) {
					start += uint64(len(r.buf)) - off
				}
				if start+uint64(len(r.buf)) >= r.head && m.src == src && m.mask&mask != 0 && m.t >= first && m.t <= last {
					want = append(want, m.line)
				}
			}
			if len(want) > MaxLines {
				want = want[len(want)-MaxLines:]
			}
			got := r.Lines(src, netip.PrefixFrom(src, 32), mask, first, last, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d query %d (%s mask %x [%d,%d]): got %d lines, want %d\n%q\n%q", seed, q, src, mask, first, last, len(got), len(want), got, want)
			}
		}
	}
}

// FuzzRing adds fuzzer-chosen lines for a few sources and checks that every
// line Lines returns was added for that source, in the order added.
func FuzzRing(f *testing.F) {
	f.Add([]byte("Failed password for root\x00\xffGET /.env\n"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		r := New(Options{Bytes: MinBytes, Sources: 8})
		added := map[netip.Addr][]string{}
		for i := 0; len(data) > 0; i++ {
			n := min(len(data), 1+int(step)%3000)
			src := addrN(int(data[0]) % 24)
			r.Add(src, int64(i), 1, data[:n])
			added[src] = append(added[src], string(data[:min(n, MaxLineBytes)]))
			data = data[n:]
		}
		for src, lines := range added {
			got := r.Lines(src, netip.PrefixFrom(src, 32), 1, 0, math.MaxInt64, nil)
			// got must be a subsequence of the source's lines (slots are
			// evicted and lines overwritten, so some may be missing).
			if len(got) > MaxLines {
				t.Fatalf("%s: %d lines", src, len(got))
			}
			j := 0
			for _, g := range got {
				for j < len(lines) && lines[j] != g {
					j++
				}
				if j == len(lines) {
					t.Fatalf("%s: line %q was not added for it, or out of order", src, g)
				}
				j++
			}
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	r := New(Options{})
	line := []byte("Nov 23 10:38:41 web sshd[4242]: Failed password for root from 203.0.113.7 port 40005 ssh2")
	srcs := make([]netip.Addr, 4096)
	for i := range srcs {
		srcs[i] = addrN(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Add(srcs[i&4095], int64(i), 1, line)
		i++
	}
}

// Lines walks back past lines written out of order by up to MaxSkew, and
// stops at the first one older than that.
func TestLinesStopAtOldLines(t *testing.T) {
	min := int64(time.Minute)
	for _, tc := range []struct {
		middle int64
		want   []string
	}{
		{10*min - 30*int64(time.Second), []string{"x", "z"}}, // 30 s out of order: skipped, walk goes on
		{5 * min, []string{"z"}},                             // 5 min older: the walk stops there
	} {
		r := New(Options{})
		src := addrN(1)
		r.Add(src, 10*min+int64(time.Second), 1, []byte("x"))
		r.Add(src, tc.middle, 1, []byte("y"))
		r.Add(src, 10*min+2*int64(time.Second), 1, []byte("z"))
		if got := r.Lines(src, all, 1, 10*min, 11*min, nil); !slices.Equal(got, tc.want) {
			t.Errorf("middle line at %v: got %q, want %q", time.Duration(tc.middle), got, tc.want)
		}
	}
}
