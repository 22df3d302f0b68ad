package xdp_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/enforce/xdp"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// Flood shape: floodSources listed sources (of bannedN bans, 10.99.0.0
// onwards) sending 64-byte UDP frames to the receiver.
const (
	bannedN      = 10_000
	floodSources = 256
	floodCPU     = 0
)

// BenchmarkFloodDrop floods a veth pair from listed sources, with one
// sender pinned to one CPU, and measures the packets dropped per second
// by each enforcer on the receiving end: XDP in generic and native mode,
// and herd's nftables table (input hook). On a veth pair the receive path
// runs on the sending CPU (the backlog, or the veth NAPI, of that CPU), so
// one core does everything. The "-conntrack" modes add a table with a
// connection-tracking rule to the receiver, as on most hosts (a stateful
// firewall, containers), so that every packet the stack sees is tracked: drops/s is the rate of sending plus dropping,
// on a machine whose other processes share that core. "send-only" sends
// the same frames into a dummy interface, which frees them at once: the
// sender's own cost, to subtract.
//
// Besides wall time (ns/op is per packet) it reports CPU time per packet:
// the sending thread's (user+system, where the receive runs as softirq in
// the write's context) plus the flood CPU's softirq time (work deferred to
// ksoftirqd), which other processes on the machine hardly touch.
//
//	go test -run '^$' -bench FloodDrop -benchtime 2000000x ./internal/enforce/xdp/
func BenchmarkFloodDrop(b *testing.B) {
	for _, mode := range []string{"nftables", "nftables-conntrack", "xdp-generic", "xdp-generic-conntrack", "xdp-native"} {
		b.Run(mode, func(b *testing.B) { floodDrop(b, mode) })
	}
}

func floodDrop(b *testing.B, mode string) {
	p := newPair(b)
	live := make([]event.Decision, bannedN)
	for i := range live {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 10<<24|99<<16|uint32(i))
		live[i] = event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(netip.AddrFrom4(a), 32), Until: time.Now().Add(time.Hour)}
	}
	if strings.HasSuffix(mode, "-conntrack") {
		conntrack(b, p.fdB)
	}
	var dropped func() uint64
	switch strings.TrimSuffix(mode, "-conntrack") {
	case "xdp-generic", "xdp-native":
		f, err := xdp.New(xdp.Options{Interfaces: []string{p.dev}, NetNS: p.fdB, Native: strings.HasPrefix(mode, "xdp-native")})
		if err != nil {
			b.Skipf("XDP: %v", err)
		}
		b.Cleanup(func() { _ = f.Close() })
		if err := f.Reconcile(live, time.Now()); err != nil {
			b.Fatal(err)
		}
		dropped = func() uint64 {
			s, err := f.Stats()
			if err != nil {
				b.Fatal(err)
			}
			return s.Dropped4
		}
	case "nftables":
		f, err := nft.New(nft.Options{NetNS: p.fdB})
		if err != nil {
			b.Skipf("nftables: %v", err)
		}
		b.Cleanup(func() { _ = f.Close() })
		if err := f.Reconcile(live, time.Now()); err != nil {
			b.Fatal(err)
		}
		dropped = func() uint64 { return nftDrops(b, p.fdB) }
	default:
		dropped = func() uint64 { return 0 }
	}
	frames := floodFrames(b, p)
	dev := vethIn(b, p.fdA)
	tx := txRing(b, p, dev)
	var cpuNs int64
	before := dropped()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(floodCPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- err
			return
		}
		t0, s0 := threadCPU(), softirq(b, floodCPU)
		defer func() { cpuNs = threadCPU() - t0 + softirq(b, floodCPU) - s0 }()
		errc <- tx.send(b.N, frames)
	}()
	err := <-errc
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the last backlog drain
	n := dropped() - before
	if n < uint64(b.N)*9/10 {
		b.Fatalf("%s dropped %d of %d packets", mode, n, b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "drops/s")
	b.ReportMetric(float64(cpuNs)/float64(b.N), "cpu-ns/pkt")
}

// threadCPU is the calling thread's user and system time, in nanoseconds.
func threadCPU() int64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// softirq is CPU cpu's softirq time from /proc/stat, in nanoseconds.
func softirq(b *testing.B, cpu int) int64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, prefix) && len(f) > 7 {
			v, _ := strconv.ParseInt(f[7], 10, 64) // user nice system idle iowait irq softirq
			return v * int64(time.Second) / 100    // USER_HZ
		}
	}
	b.Fatalf("/proc/stat has no %s line", prefix)
	return 0
}

// floodFrames returns one 60-byte Ethernet frame per flood source, UDP to
// the receiver's port 9, with valid IPv4 checksums (the stack checks them
// before nftables sees the packet).
func floodFrames(b *testing.B, p pair) [][]byte {
	dst := mac(b, p.fdB, p.dev)
	src := mac(b, p.fdA, vethIn(b, p.fdA))
	frames := make([][]byte, floodSources)
	for i := range frames {
		f := make([]byte, 60)
		copy(f[0:], dst)
		copy(f[6:], src)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], 46)
		binary.BigEndian.PutUint32(ip[12:], 10<<24|99<<16|uint32(i*(bannedN/floodSources)))
		copy(ip[16:], []byte{10, 77, 0, 2})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := f[34:]
		binary.BigEndian.PutUint16(udp[0:], uint16(1024+i))
		binary.BigEndian.PutUint16(udp[2:], 9)
		binary.BigEndian.PutUint16(udp[4:], 26)
		frames[i] = f
	}
	return frames
}

func mac(b *testing.B, fd int, dev string) net.HardwareAddr {
	var hw net.HardwareAddr
	err := herdtest.Do(fd, func() error {
		i, err := net.InterfaceByName(dev)
		if err == nil {
			hw = i.HardwareAddr
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return hw
}

// ring is a packet socket with a TPACKET_V2 transmit ring.
type ring struct {
	fd  int
	mem []byte
}

const (
	txFrame  = 2048
	txFrames = 256
	txData   = 32 // TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
)

// txRing opens a packet socket on interface dev of the sender's namespace,
// with a transmit ring and the qdisc bypassed, so that frames go straight
// to the device.
func txRing(b *testing.B, p pair, dev string) *ring {
	r := &ring{fd: -1}
	err := herdtest.Do(p.fdA, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return err
		}
		req := unix.TpacketReq{Block_size: txFrame * txFrames, Block_nr: 1, Frame_size: txFrame, Frame_nr: txFrames}
		if err := unix.SetsockoptTpacketReq(r.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
			return err
		}
		r.mem, err = unix.Mmap(r.fd, 0, txFrame*txFrames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return err
		}
		return unix.Bind(r.fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = unix.Munmap(r.mem)
		_ = unix.Close(r.fd)
	})
	return r
}

// send transmits n frames, cycling through frames, txFrames per sendto.
func (r *ring) send(n int, frames [][]byte) error {
	for sent := 0; sent < n; {
		batch := min(txFrames, n-sent)
		for i := range batch {
			h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&r.mem[i*txFrame]))
			// Wait while the kernel still holds the frame. A frame left
			// in SEND_REQUEST was refused by the device (its queue
			// full): the next sendto sends it again.
			for st := atomic.LoadUint32(&h.Status); st&unix.TP_STATUS_SENDING != 0; st = atomic.LoadUint32(&h.Status) {
				runtime.Gosched()
			}
			if st := atomic.LoadUint32(&h.Status); st&unix.TP_STATUS_WRONG_FORMAT != 0 {
				return fmt.Errorf("the kernel refused frame %d", i)
			}
			f := frames[(sent+i)%len(frames)]
			copy(r.mem[i*txFrame+txData:], f)
			h.Len = uint32(len(f))
			atomic.StoreUint32(&h.Status, unix.TP_STATUS_SEND_REQUEST)
		}
		if err := unix.Sendto(r.fd, nil, 0, nil); err != nil && err != unix.ENOBUFS {
			return err
		}
		sent += batch
	}
	return nil
}

// conntrack adds to namespace fd a table whose prerouting chain matches
// on connection state, which turns connection tracking on there.
func conntrack(b *testing.B, fd int) {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		b.Fatal(err)
	}
	t := c.AddTable(&nftables.Table{Name: "stateful", Family: nftables.TableFamilyINet})
	ch := c.AddChain(&nftables.Chain{Name: "pre", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Counter{},
	}})
	if err := c.Flush(); err != nil {
		b.Fatalf("conntrack table: %v", err)
	}
}

// nftDrops sums the packet counters of herd's input chain in namespace fd.
func nftDrops(b *testing.B, fd int) uint64 {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		b.Fatal(err)
	}
	rules, err := c.GetRules(&nftables.Table{Name: nft.DefaultTable, Family: nftables.TableFamilyINet}, &nftables.Chain{Name: "input"})
	if err != nil {
		b.Fatal(err)
	}
	var n uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				n += ctr.Packets
			}
		}
	}
	return n
}
