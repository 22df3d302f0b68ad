package flow

import (
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/sensor/packet"
)

var (
	cli = netip.MustParseAddr("192.0.2.10")
	srv = netip.MustParseAddr("198.51.100.20")
	t0  = time.Unix(1_700_000_000, 0)
)

func tcp(src, dst netip.Addr, sp, dp uint16, fl uint8, n int) *packet.Packet {
	return &packet.Packet{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: packet.ProtoTCP, Flags: fl, IPLen: 40 + n, Payload: make([]byte, n)}
}

type ended struct {
	key  Key
	why  End
	st   State
	pkts [2]uint64
}

func collect(out *[]ended) func(*Flow[int], End) {
	return func(f *Flow[int], why End) {
		*out = append(*out, ended{f.Key, why, f.State, f.Packets})
	}
}

func TestHandshakeAndCounters(t *testing.T) {
	var out []ended
	tb := New(Options{Capacity: 16}, collect(&out))
	seq := []*packet.Packet{
		tcp(cli, srv, 40000, 22, packet.SYN, 0),
		tcp(srv, cli, 22, 40000, packet.SYN|packet.ACK, 0),
		tcp(cli, srv, 40000, 22, packet.ACK, 0),
		tcp(srv, cli, 22, 40000, packet.ACK|packet.PSH, 21),
	}
	var f *Flow[int]
	for i, p := range seq {
		var dir int
		f, dir = tb.Packet(p, t0.Add(time.Duration(i)*time.Millisecond))
		if want := i % 2; i < 3 && dir != want {
			t.Errorf("packet %d: direction %d", i, dir)
		}
	}
	if f.State != StateEstablished || f.Packets != [2]uint64{2, 2} || f.Bytes != [2]uint64{80, 101} {
		t.Fatalf("%v %v %v", f.State, f.Packets, f.Bytes)
	}
	if f.AddrPort(0).String() != "192.0.2.10:40000" || f.AddrPort(1).String() != "198.51.100.20:22" {
		t.Errorf("endpoints %v %v", f.AddrPort(0), f.AddrPort(1))
	}
	tb.Packet(tcp(cli, srv, 40000, 22, packet.FIN|packet.ACK, 0), t0.Add(time.Second))
	tb.Packet(tcp(srv, cli, 22, 40000, packet.FIN|packet.ACK, 0), t0.Add(time.Second))
	if f.State != StateClosed {
		t.Errorf("state %v after both FINs", f.State)
	}
	if c := tb.Counters(); c.Flows != 1 || c.Live != 1 {
		t.Errorf("%+v", c)
	}
	// Packet time moves on: the closed flow leaves after its linger.
	tb.Packet(tcp(cli, srv, 40001, 80, packet.SYN, 0), t0.Add(time.Minute))
	for s := range 70 {
		tb.Packet(tcp(cli, srv, 40001, 80, packet.SYN, 0), t0.Add(time.Minute+time.Duration(s)*time.Second))
	}
	if len(out) < 1 || out[0].why != EndClosed || out[0].pkts != [2]uint64{3, 3} {
		t.Fatalf("ended %+v", out)
	}
}

func TestFirstPacketSynAckMakesTheSenderTheServer(t *testing.T) {
	tb := New(Options{Capacity: 16}, func(*Flow[int], End) {})
	f, dir := tb.Packet(tcp(srv, cli, 443, 5555, packet.SYN|packet.ACK, 0), t0)
	if dir != 1 || f.AddrPort(1).Port() != 443 {
		t.Fatalf("dir %d server %v", dir, f.AddrPort(1))
	}
}

func TestSpoofedFloodEvictsWithinCapacity(t *testing.T) {
	evicted := 0
	tb := New(Options{Capacity: 1000}, func(_ *Flow[int], why End) {
		if why == EndEvicted {
			evicted++
		}
	})
	// An established flow first, then 100,000 SYNs from random sources.
	tb.Packet(tcp(cli, srv, 1, 22, packet.SYN, 0), t0)
	tb.Packet(tcp(srv, cli, 22, 1, packet.SYN|packet.ACK, 0), t0)
	tb.Packet(tcp(cli, srv, 1, 22, packet.ACK, 0), t0)
	for i := range 100000 {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tb.Packet(tcp(src, srv, uint16(i), 22, packet.SYN, 0), t0.Add(time.Duration(i)*time.Microsecond))
	}
	c := tb.Counters()
	if c.Live > 1000 || c.Evicted < 99000 || uint64(evicted) != c.Evicted {
		t.Fatalf("%+v evicted %d", c, evicted)
	}
	f, _ := tb.Packet(tcp(cli, srv, 1, 22, packet.ACK, 0), t0.Add(time.Second))
	if f.State != StateEstablished || f.Packets[0] != 3 {
		t.Errorf("the established flow was evicted by spoofed SYNs: %v %v", f.State, f.Packets)
	}
	checkIndex(t, tb, tb.Counters().Live)
	if tb.top > 1000 {
		t.Errorf("%d flow ids used for a capacity of 1000", tb.top)
	}
}

func TestLaterFragmentsJoinTheirFlow(t *testing.T) {
	tb := New(Options{Capacity: 16}, func(*Flow[int], End) {})
	first := &packet.Packet{Src: cli, Dst: srv, SrcPort: 53, DstPort: 5353, Proto: packet.ProtoUDP, Frag: packet.FirstFragment, FragID: 9, IPLen: 1500}
	later := &packet.Packet{Src: cli, Dst: srv, Proto: packet.ProtoUDP, Frag: packet.LaterFragment, FragID: 9, IPLen: 300}
	tb.Packet(first, t0)
	f, _ := tb.Packet(later, t0)
	if f == nil || f.Bytes[0]+f.Bytes[1] != 1800 {
		t.Fatalf("%+v", f)
	}
	later.FragID = 10
	if f, _ := tb.Packet(later, t0); f != nil || tb.Counters().FragOrphans != 1 {
		t.Fatalf("orphan attached: %+v", tb.Counters())
	}
}

func TestShardIsSymmetric(t *testing.T) {
	var seed = New(Options{Capacity: 1}, func(*Flow[int], End) {}).o.Seed
	for i := range 1000 {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		a := tcp(src, srv, uint16(i), 443, packet.SYN, 0)
		b := tcp(srv, src, 443, uint16(i), packet.ACK, 0)
		if Shard(Hash(seed, a), 7) != Shard(Hash(seed, b), 7) {
			t.Fatalf("flow %d sharded apart", i)
		}
	}
}

func TestPacketDoesNotAllocate(t *testing.T) {
	tb := New(Options{Capacity: 4096}, func(*Flow[int], End) {})
	ps := make([]*packet.Packet, 5000)
	for i := range ps {
		src := netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)})
		ps[i] = tcp(src, srv, uint16(i), 443, packet.SYN, 0)
	}
	k := 0
	n := testing.AllocsPerRun(20000, func() {
		tb.Packet(ps[k%len(ps)], t0.Add(time.Duration(k)*time.Millisecond))
		k++
	})
	if n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

// BenchmarkMillionFlows holds 1,000,000 concurrent flows: the heap after
// is reported, and stays that of the table made at New.
func BenchmarkMillionFlows(b *testing.B) {
	const n = 1_000_000
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	tb := New(Options{Capacity: n}, func(*Flow[struct{}], End) {})
	p := tcp(cli, srv, 0, 443, packet.SYN, 0)
	b.ResetTimer()
	c0 := cpuTime()
	for i := range b.N {
		k := i % (2 * n)
		p.Src = netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
		p.SrcPort = uint16(k)
		tb.Packet(p, t0)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/(1<<20), "heapMiB")
	b.ReportMetric(float64(tb.Counters().Live), "live")
}

// BenchmarkMillionFlowsLookup counts packets into 1,000,000 live flows (no
// new flow, no eviction): the cost of a lookup in a table far beyond the
// CPU caches.
func BenchmarkMillionFlowsLookup(b *testing.B) {
	const n = 1_000_000
	tb := New(Options{Capacity: n}, func(*Flow[struct{}], End) {})
	p := tcp(cli, srv, 0, 443, packet.ACK, 0)
	set := func(k int) {
		p.Src = netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
		p.SrcPort = uint16(k)
	}
	for k := range n {
		set(k)
		tb.Packet(p, t0)
	}
	var ms runtime.MemStats
	b.ResetTimer()
	c0 := cpuTime()
	for i := range b.N {
		set(int(uint32(i) * 2654435761 % n))
		tb.Packet(p, t0)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heapMiB")
	b.ReportMetric(float64(tb.Counters().Live), "live")
}

// cpuTime is the process's CPU time: on a machine shared with other work,
// CPU nanoseconds per packet mean something beside wall-clock ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSweepReachesEveryIdleFlow fills small and larger tables sparsely,
// then lets packet time pass on one flow only: the incremental sweep over
// the dense flow array must end every other flow as idle, and leave the
// index and the flows agreeing (each live flow indexed once, findable).
func TestSweepReachesEveryIdleFlow(t *testing.T) {
	for _, capacity := range []int{16, 40, 5000} {
		var out []ended
		tb := New(Options{Capacity: capacity, FixedSeed: 7}, collect(&out))
		n := capacity / 3
		for i := range n {
			c := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			tb.Packet(tcp(c, srv, 40000, 443, packet.SYN, 0), t0)
		}
		at := t0.Add(time.Hour)
		for k := 0; len(out) < n && k < 4*len(tb.index); k++ {
			tb.Packet(tcp(cli, srv, 50000, 80, packet.ACK, 0), at.Add(time.Duration(k)*100*time.Millisecond))
		}
		if len(out) != n {
			t.Fatalf("capacity %d: %d of %d idle flows ended", capacity, len(out), n)
		}
		for _, e := range out {
			if e.why != EndIdle {
				t.Errorf("capacity %d: flow ended %v", capacity, e.why)
			}
		}
		checkIndex(t, tb, 1)
	}
}

// checkIndex checks that the index and the flows agree and live flows
// are held.
func checkIndex[T any](t *testing.T, tb *Table[T], live int) {
	t.Helper()
	seen := map[uint32]bool{}
	for i, e := range tb.index {
		if e.id == 0 {
			continue
		}
		f := &tb.flows[e.id-1]
		if !f.used || seen[e.id] || e.tag != uint32(f.hash) {
			t.Fatalf("index slot %d: id %d used=%v seen=%v", i, e.id, f.used, seen[e.id])
		}
		seen[e.id] = true
		src, dst := f.Addr[0], f.Addr[1]
		if j, _, ok := tb.find(f.hash, &src, &dst, f.Port[0], f.Port[1], f.Proto); !ok || j != i {
			t.Fatalf("flow %d not found at its slot %d (%d %v)", e.id-1, i, j, ok)
		}
	}
	used := 0
	for i := range tb.flows {
		if tb.flows[i].used {
			used++
		}
	}
	if len(seen) != live || used != live || tb.Counters().Live != live {
		t.Errorf("%d indexed, %d used, %d live; want %d", len(seen), used, tb.Counters().Live, live)
	}
}

// TestAdvanceExpiresWithoutPackets: a live capture's quiet interface still
// ends its flows: Advance sweeps every expired flow of the table, and only
// those, and does not allocate.
func TestAdvanceExpiresWithoutPackets(t *testing.T) {
	var out []ended
	tb := New(Options{Capacity: 1024}, collect(&out))
	for i := range 200 {
		tb.Packet(tcp(cli, srv, uint16(40000+i), uint16(1+i), packet.SYN, 0), t0)
		tb.Packet(tcp(srv, cli, uint16(1+i), uint16(40000+i), packet.RST|packet.ACK, 0), t0)
	}
	tb.Packet(tcp(cli, srv, 50000, 22, packet.SYN, 0), t0)
	tb.Packet(tcp(srv, cli, 22, 50000, packet.SYN|packet.ACK, 0), t0)
	tb.Packet(tcp(cli, srv, 50000, 22, packet.ACK, 0), t0)
	tb.Advance(t0.Add(time.Second))
	if len(out) != 0 {
		t.Fatalf("%d flows ended before their linger", len(out))
	}
	if n := testing.AllocsPerRun(10, func() { tb.Advance(t0.Add(2 * time.Second)) }); n != 0 {
		t.Errorf("%v allocations per Advance", n)
	}
	tb.Advance(t0.Add(tb.o.Linger + time.Second))
	if len(out) != 200 || tb.Counters().Live != 1 {
		t.Fatalf("%d flows ended, %d live; want the 200 reset ones ended, the established one live", len(out), tb.Counters().Live)
	}
	for _, e := range out {
		if e.why != EndClosed {
			t.Fatalf("ended %v, want closed", e.why)
		}
	}
}

// BenchmarkAdvance is the live sensor's once-a-second sweep of a table of
// 65,536 flows, 32,768 of them live and none expired.
func BenchmarkAdvance(b *testing.B) {
	tb := New(Options{Capacity: 1 << 16}, func(*Flow[struct{}], End) {})
	for i := range 1 << 15 {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		tb.Packet(tcp(src, srv, 40000, 443, packet.SYN, 0), t0)
	}
	for i := 0; b.Loop(); i++ {
		tb.Advance(t0.Add(time.Duration(i%10) * time.Millisecond))
	}
}
