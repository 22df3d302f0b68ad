package afpacket_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/sensor/afpacket"
	"github.com/herd-ips/herd/internal/sensor/capture"
)

// link is two namespaces joined by a veth pair: a sender (10.78.0.1,
// fd78::1) and a capturer (10.78.0.2, fd78::2).
type link struct {
	nsA, nsB string
	fdA, fdB int
	dev      string // the capturer's veth end
}

func newLink(t *testing.T) link {
	t.Helper()
	var l link
	l.nsA, l.fdA = herdtest.NewNetns(t)
	l.nsB, l.fdB = herdtest.NewNetns(t)
	herdtest.Veth(t, l.nsA, l.nsB, netip.MustParsePrefix("10.78.0.1/24"), netip.MustParsePrefix("10.78.0.2/24"))
	l.dev = vethIn(t, l.fdB)
	herdtest.Exec(t, l.nsA, "ip", "addr", "add", "fd78::1/64", "dev", vethIn(t, l.fdA), "nodad")
	herdtest.Exec(t, l.nsB, "ip", "addr", "add", "fd78::2/64", "dev", l.dev, "nodad")
	// Static neighbours, so that no packet waits for ARP or NDP.
	mac := func(fd int, dev string) string {
		var hw string
		_ = herdtest.Do(fd, func() error {
			i, err := net.InterfaceByName(dev)
			if err == nil {
				hw = i.HardwareAddr.String()
			}
			return err
		})
		return hw
	}
	devA := vethIn(t, l.fdA)
	herdtest.Exec(t, l.nsA, "ip", "neigh", "replace", "10.78.0.2", "lladdr", mac(l.fdB, l.dev), "dev", devA)
	herdtest.Exec(t, l.nsA, "ip", "neigh", "replace", "fd78::2", "lladdr", mac(l.fdB, l.dev), "dev", devA)
	return l
}

func vethIn(t *testing.T, fd int) string {
	t.Helper()
	var name string
	err := herdtest.Do(fd, func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				name = i.Name
			}
		}
		return err
	})
	if err != nil || name == "" {
		t.Fatalf("no veth in namespace: %v", err)
	}
	return name
}

func open(t testing.TB, l link, o afpacket.Options) *afpacket.Source {
	t.Helper()
	o.Interface, o.NetNS = l.dev, l.fdB
	s, err := afpacket.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sender returns a UDP socket of the sender's namespace sending from
// local port lport (0: any) to addr. It is not connected, so that the
// receiver's port unreachable errors do not fail its writes.
func sender(t testing.TB, l link, lport int, addr string) udpSender {
	t.Helper()
	var c *net.UDPConn
	raddr := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	err := herdtest.Do(l.fdA, func() (err error) {
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: lport})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return udpSender{c, raddr}
}

type udpSender struct {
	c  *net.UDPConn
	to *net.UDPAddr
}

func (u udpSender) Write(b []byte) (int, error) { return u.c.WriteToUDP(b, u.to) }

// collect reads packets until n carrying marker arrived or the deadline,
// and returns copies of their UDP payloads.
func collect(t *testing.T, s capture.Source, marker []byte, n int, d time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		var p capture.Packet
		for len(got) < n {
			if err := s.Next(&p); err != nil {
				return
			}
			if i := bytes.Index(p.Data, marker); i >= 0 {
				if p.Link != capture.LinkEthernet || p.Length != len(p.Data) || p.Time.IsZero() || p.Ifindex == 0 {
					t.Errorf("packet %+v: want Ethernet, whole, stamped, with an interface", p)
				}
				got = append(got, bytes.Clone(p.Data[i:]))
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(d):
		_ = s.Close()
		<-done
	}
	return got
}

func TestReceivesPacketsIntact(t *testing.T) {
	l := newLink(t)
	s := open(t, l, afpacket.Options{Timeout: 10 * time.Millisecond})
	// A socket on the port, so that no ICMP error quotes the payloads back.
	for _, a := range []string{"10.78.0.2:7000", "[fd78::2]:7000"} {
		err := herdtest.Do(l.fdB, func() error {
			c, err := net.ListenPacket("udp", a)
			if err == nil {
				t.Cleanup(func() { _ = c.Close() })
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, dst := range []string{"10.78.0.2:7000", "[fd78::2]:7000"} {
		c := sender(t, l, 0, dst)
		var want [][]byte
		for i := range 50 {
			msg := fmt.Appendf(nil, "herd-intact-%s-%03d-", dst, i)
			msg = append(msg, bytes.Repeat([]byte{byte(i)}, 10*i)...)
			want = append(want, msg)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		got := collect(t, s, []byte("herd-intact-"+dst), len(want), 5*time.Second)
		if len(got) != len(want) {
			t.Fatalf("%s: received %d of %d packets", dst, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: packet %d is %.40q… (%d bytes), want %.40q… (%d bytes)", dst, i, got[i], len(got[i]), want[i], len(want[i]))
			}
		}
	}
	rx, drops := s.Stats()
	if rx < 100 || drops != 0 {
		t.Errorf("stats: received %d dropped %d, want ≥ 100 and 0", rx, drops)
	}
}

func TestFilterDropsWhatItShould(t *testing.T) {
	l := newLink(t)
	s := open(t, l, afpacket.Options{Expr: "udp and dst port 7001,7003 and not host 10.78.0.9", Timeout: 10 * time.Millisecond})
	for port := 7000; port < 7004; port++ {
		c := sender(t, l, 0, fmt.Sprintf("10.78.0.2:%d", port))
		for range 5 {
			if _, err := c.Write(fmt.Appendf(nil, "herd-filter-%d", port)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The last packet's marker: once it is in, everything before is.
	got := collect(t, s, []byte("herd-filter-"), 10, 3*time.Second)
	count := map[string]int{}
	for _, g := range got {
		count[string(g)]++
	}
	if count["herd-filter-7001"] != 5 || count["herd-filter-7003"] != 5 || len(count) != 2 {
		t.Errorf("received %v, want 5 each of ports 7001 and 7003 only", count)
	}
	rx, _ := s.Stats()
	if rx != 10 {
		t.Errorf("the kernel passed %d packets to the ring, want the 10 the filter accepts", rx)
	}
}

func TestFanoutSpreadsFlows(t *testing.T) {
	l := newLink(t)
	const workers, flows, per = 4, 64, 4
	srcs, err := afpacket.OpenGroup(afpacket.Options{Interface: l.dev, NetNS: l.fdB, FanoutGroup: 4242, Expr: "udp and dst port 7100", Timeout: 10 * time.Millisecond}, workers)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		t.Cleanup(func() { _ = s.Close() })
	}
	for f := range flows {
		c := sender(t, l, 20000+f, "10.78.0.2:7100")
		for range per {
			if _, err := c.Write(fmt.Appendf(nil, "herd-fanout-%05d", 20000+f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := map[string]int{}
	total := 0
	got := make([][][]byte, workers)
	var wg sync.WaitGroup
	for w, s := range srcs {
		wg.Go(func() { got[w] = collect(t, s, []byte("herd-fanout-"), flows*per, time.Second) })
	}
	wg.Wait()
	for w, got := range got {
		total += len(got)
		seen := map[string]bool{}
		for _, g := range got {
			flow := string(g)
			if o, ok := owner[flow]; ok && o != w {
				t.Errorf("flow %s reached workers %d and %d", flow, o, w)
			}
			owner[flow] = w
			seen[flow] = true
		}
		if len(seen) == 0 {
			t.Errorf("worker %d received no flow of %d", w, flows)
		}
		t.Logf("worker %d: %d flows, %d packets", w, len(seen), len(got))
	}
	if total != flows*per {
		t.Errorf("received %d packets in all, want %d", total, flows*per)
	}
}

func TestDropsCountedUnderFlood(t *testing.T) {
	l := newLink(t)
	// One small block, never read: the ring fills at once.
	s := open(t, l, afpacket.Options{Expr: "udp", SnapLen: 1500, BlockSize: 1 << 16, Blocks: 1})
	c := sender(t, l, 0, "10.78.0.2:7200")
	msg := make([]byte, 1000)
	for range 2000 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	rx, drops := s.Stats()
	if drops == 0 || rx+drops < 1500 {
		t.Errorf("received %d, dropped %d of 2000 into a 64 KiB ring: want drops counted", rx, drops)
	}
	t.Logf("received %d, dropped %d", rx, drops)
}

func TestCloseEndsNext(t *testing.T) {
	l := newLink(t)
	s := open(t, l, afpacket.Options{Expr: "udp and port 9"})
	errc := make(chan error, 1)
	go func() {
		var p capture.Packet
		errc <- s.Next(&p)
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Next after Close returned %v, want io.EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next still waits after Close")
	}
}

// TestIdleReturnsErrIdle: with Idle set, a Next that waits that long for
// a packet returns capture.ErrIdle, and the next Next still receives.
func TestIdleReturnsErrIdle(t *testing.T) {
	l := newLink(t)
	s := open(t, l, afpacket.Options{Expr: "udp and port 7001", Idle: 20 * time.Millisecond, Timeout: 5 * time.Millisecond})
	var p capture.Packet
	if err := s.Next(&p); !errors.Is(err, capture.ErrIdle) {
		t.Fatalf("Next on a quiet interface returned %v, want capture.ErrIdle", err)
	}
	u := sender(t, l, 0, "10.78.0.2:7001")
	for range 5 {
		if _, err := u.Write([]byte("herd-idle")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		err := s.Next(&p)
		if err == nil {
			break
		}
		if !errors.Is(err, capture.ErrIdle) || i > 100 {
			t.Fatalf("Next after traffic: %v", err)
		}
	}
}

func TestOpenGroupErrors(t *testing.T) {
	if _, err := afpacket.OpenGroup(afpacket.Options{Interface: "lo"}, 2); err == nil {
		t.Error("a group without an id opened")
	}
}

func TestOpenErrors(t *testing.T) {
	for _, o := range []afpacket.Options{
		{},
		{Interface: "lo", Expr: "bogus"},
		{Interface: "lo", BlockSize: 1000},
		{Interface: "lo", SnapLen: 1 << 20},
	} {
		if s, err := afpacket.Open(o); err == nil {
			_ = s.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	l := newLink(t)
	s := open(t, l, afpacket.Options{Expr: "udp and dst port 7300", Timeout: 5 * time.Millisecond})
	c := sender(t, l, 0, "10.78.0.2:7300")
	const n = 400
	for i := range n {
		var b [64]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		if _, err := c.Write(b[:]); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // all of them in the ring
	var p capture.Packet
	allocs := testing.AllocsPerRun(n-1, func() {
		if err := s.Next(&p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %.1f times per packet, want 0", allocs)
	}
}
