package xdp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/herd-ips/herd/internal/event"
)

// The program is run on frames through BPF_PROG_TEST_RUN, without an
// interface: the verdict for each frame is compared with a plain Go
// reference of what the program should do.

var banned = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.7/32"),
	netip.MustParsePrefix("2001:db8:bad::/48"),
	netip.MustParsePrefix("2001:db8::1/128"),
}

func loaded(t testing.TB) *Filter { return loadedN(t, 1024) }

func loadedN(t testing.TB, max uint32) *Filter {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading an eBPF program needs root")
	}
	f, err := load(max)
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("this kernel does not allow eBPF here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	var ds []event.Decision
	for _, p := range banned {
		ds = append(ds, event.Decision{Type: event.Ban, Scope: p})
	}
	if err := f.Reconcile(ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// wantDrop is the reference: the frame's IPv4 or IPv6 source, after at
// most one VLAN tag, is in a banned prefix, and the frame holds the whole
// fixed network header.
func wantDrop(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	typ, l3 := binary.BigEndian.Uint16(b[12:]), 14
	if typ == 0x8100 || typ == 0x88a8 {
		if len(b) < 18 {
			return false
		}
		typ, l3 = binary.BigEndian.Uint16(b[16:]), 18
	}
	var src netip.Addr
	switch {
	case typ == 0x0800 && len(b) >= l3+20:
		src = netip.AddrFrom4([4]byte(b[l3+12 : l3+16]))
	case typ == 0x86dd && len(b) >= l3+40:
		src = netip.AddrFrom16([16]byte(b[l3+8 : l3+24]))
	default:
		return false
	}
	for _, p := range banned {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func verdict(t testing.TB, f *Filter, frame []byte) (drop bool, ok bool) {
	ret, err := f.coll.Programs[progName].Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return false, false // the kernel refuses frames under 14 bytes
	}
	switch ret {
	case xdpDrop:
		return true, true
	case xdpPass:
		return false, true
	}
	t.Fatalf("program returned %d", ret)
	return false, false
}

// frame is an Ethernet frame with optional VLAN tag carrying an IP header
// whose source is src, padded to n bytes of network header.
func frame(vlan uint16, src netip.Addr, n int) []byte {
	b := make([]byte, 12, 64+n)
	if vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, vlan)
		b = binary.BigEndian.AppendUint16(b, 7)
	}
	ip := make([]byte, n)
	if src.Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ip[0] = 0x45
		a := src.As4()
		copy(ip[12:min(n, 16)], a[:])
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		ip[0] = 0x60
		a := src.As16()
		if n > 8 {
			copy(ip[8:min(n, 24)], a[:])
		}
	}
	return append(b, ip...)
}

func TestProgramVerdicts(t *testing.T) {
	f := loaded(t)
	for _, tc := range []struct {
		name  string
		frame []byte
		drop  bool
	}{
		{"v4 banned", frame(0, netip.MustParseAddr("192.0.2.9"), 20), true},
		{"v4 banned /32", frame(0, netip.MustParseAddr("198.51.100.7"), 40), true},
		{"v4 neighbour of /32", frame(0, netip.MustParseAddr("198.51.100.8"), 40), false},
		{"v4 other", frame(0, netip.MustParseAddr("203.0.113.1"), 20), false},
		{"v4 banned, 802.1Q", frame(0x8100, netip.MustParseAddr("192.0.2.1"), 20), true},
		{"v4 banned, 802.1ad", frame(0x88a8, netip.MustParseAddr("192.0.2.1"), 20), true},
		{"v4 banned, header cut", frame(0, netip.MustParseAddr("192.0.2.1"), 19), false},
		{"v6 banned /48", frame(0, netip.MustParseAddr("2001:db8:bad:1::5"), 40), true},
		{"v6 banned /128", frame(0x8100, netip.MustParseAddr("2001:db8::1"), 40), true},
		{"v6 other", frame(0, netip.MustParseAddr("2001:db8::2"), 40), false},
		{"v6 banned, header cut", frame(0, netip.MustParseAddr("2001:db8::1"), 39), false},
		{"arp", append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1), false},
	} {
		got, ok := verdict(t, f, tc.frame)
		if !ok {
			t.Fatalf("%s: the kernel refused the frame", tc.name)
		}
		if got != tc.drop || wantDrop(tc.frame) != tc.drop {
			t.Errorf("%s: program drops %v, reference %v, want %v", tc.name, got, wantDrop(tc.frame), tc.drop)
		}
	}
	s, err := f.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dropped4 != 4 || s.Dropped6 != 2 {
		t.Errorf("counted %d IPv4 and %d IPv6 drops, want 4 and 2", s.Dropped4, s.Dropped6)
	}
}

// FuzzProgram runs the program on attacker-chosen frames: the kernel's
// verifier has proved it cannot read out of bounds; this checks it drops
// exactly what the reference drops.
func FuzzProgram(f *testing.F) {
	f.Add(frame(0, netip.MustParseAddr("192.0.2.9"), 20))
	f.Add(frame(0x8100, netip.MustParseAddr("2001:db8::1"), 40))
	f.Add(frame(0x88a8, netip.MustParseAddr("203.0.113.1"), 20))
	f.Add(make([]byte, 14))
	x := loaded(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := verdict(t, x, b)
		if ok && got != wantDrop(b) {
			t.Errorf("% x: program drops %v, reference %v", b, got, wantDrop(b))
		}
	})
}

// BenchmarkProgram measures the program alone on one core (the kernel
// runs it b.N times on one frame): parsing, the trie lookup among 10,000
// /32 bans and the per-CPU count.
func BenchmarkProgram(b *testing.B) {
	f := loadedN(b, 1<<16)
	var ds []event.Decision
	for i := range 10_000 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 10<<24|99<<16|uint32(i))
		ds = append(ds, event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(netip.AddrFrom4(a), 32)})
	}
	if err := f.Apply(event.Change{Add: ds}, time.Time{}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  netip.Addr
	}{{"hit", netip.MustParseAddr("10.99.20.1")}, {"miss", netip.MustParseAddr("10.98.0.1")}} {
		b.Run(tc.name, func(b *testing.B) {
			fr := frame(0, tc.src, 46)
			_, d, err := f.coll.Programs[progName].Benchmark(fr, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/pkt")
			b.ReportMetric(1e9/float64(d.Nanoseconds()), "pkt/s")
		})
	}
}
