package afpacket

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// frame builds an Ethernet frame carrying IPv4 or IPv6 (by src's family)
// with protocol proto and, for TCP/UDP/SCTP, the ports.
func frame(src, dst netip.Addr, proto uint8, sport, dport uint16) []byte {
	b := make([]byte, 14, 128)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	if src.Is4() {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		ip[8] = 64
		ip[9] = proto
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		b = append(b, ip...)
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		ip[6] = proto
		ip[7] = 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		b = append(b, ip...)
	}
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	b = append(b, l4...)
	return append(b, make([]byte, minFull-len(b))...)
}

// minFull is a frame length at which every field a compiled filter reads
// is present. A shorter frame is rejected by any filter that reads beyond
// it, whatever the expression says (classic BPF, as in pcap), so the
// reference is compared only on frames at least this long.
const minFull = 14 + 60 + 4

// decoded is the reference decoder's view of a frame: slow and plain,
// independent of the compiled code.
type decoded struct {
	etype      uint16
	v4, v6     bool
	proto      uint8
	src, dst   netip.Addr
	ports      bool
	sport, dpt uint16
}

func decode(b []byte) decoded {
	var d decoded
	if len(b) < 14 {
		return d
	}
	d.etype = binary.BigEndian.Uint16(b[12:])
	ip := b[14:]
	switch d.etype {
	case 0x0800:
		if len(ip) < 20 {
			return d
		}
		d.v4, d.proto = true, ip[9]
		d.src = netip.AddrFrom4([4]byte(ip[12:16]))
		d.dst = netip.AddrFrom4([4]byte(ip[16:20]))
		hl := int(ip[0]&0xf) * 4
		frag := binary.BigEndian.Uint16(ip[6:]) & 0x1fff
		if frag == 0 && (d.proto == 6 || d.proto == 17 || d.proto == 132) && len(ip) >= hl+4 {
			d.ports = true
			d.sport, d.dpt = binary.BigEndian.Uint16(ip[hl:]), binary.BigEndian.Uint16(ip[hl+2:])
		}
	case 0x86dd:
		if len(ip) < 40 {
			return d
		}
		d.v6, d.proto = true, ip[6]
		d.src = netip.AddrFrom16([16]byte(ip[8:24]))
		d.dst = netip.AddrFrom16([16]byte(ip[24:40]))
		if (d.proto == 6 || d.proto == 17 || d.proto == 132) && len(ip) >= 44 {
			d.ports = true
			d.sport, d.dpt = binary.BigEndian.Uint16(ip[40:]), binary.BigEndian.Uint16(ip[42:])
		}
	}
	return d
}

// references are expressions with what they mean, in plain Go.
var references = []struct {
	expr string
	want func(d decoded) bool
}{
	{"", func(decoded) bool { return true }},
	{"ip", func(d decoded) bool { return d.etype == 0x0800 }},
	{"ip6", func(d decoded) bool { return d.etype == 0x86dd }},
	{"arp", func(d decoded) bool { return d.etype == 0x0806 }},
	{"tcp or udp", func(d decoded) bool { return (d.v4 || d.v6) && (d.proto == 6 || d.proto == 17) }},
	{"icmp", func(d decoded) bool { return d.v4 && d.proto == 1 || d.v6 && d.proto == 58 }},
	{"port 22,80,443", func(d decoded) bool {
		in := func(p uint16) bool { return p == 22 || p == 80 || p == 443 }
		return d.ports && (in(d.sport) || in(d.dpt))
	}},
	{"dst port 53", func(d decoded) bool { return d.ports && d.dpt == 53 }},
	{"src portrange 1000-2000", func(d decoded) bool { return d.ports && d.sport >= 1000 && d.sport <= 2000 }},
	{"not host 10.0.0.1", func(d decoded) bool {
		a := netip.MustParseAddr("10.0.0.1")
		return !(d.v4 && (d.src == a || d.dst == a))
	}},
	{"src net 10.0.0.0/8 and tcp", func(d decoded) bool {
		return d.v4 && netip.MustParsePrefix("10.0.0.0/8").Contains(d.src) && d.proto == 6
	}},
	{"net 2001:db8::/33 && !(udp)", func(d decoded) bool {
		p := netip.MustParsePrefix("2001:db8::/33")
		return d.v6 && (p.Contains(d.src) || p.Contains(d.dst)) && !(d.proto == 17)
	}},
	{"host 2001:db8::1 or (tcp and not port 22)", func(d decoded) bool {
		a := netip.MustParseAddr("2001:db8::1")
		return d.v6 && (d.src == a || d.dst == a) ||
			(d.v4 || d.v6) && d.proto == 6 && !(d.ports && (d.sport == 22 || d.dpt == 22))
	}},
	{"dst net 0.0.0.0/0", func(d decoded) bool { return d.v4 }},
}

var samples = [][]byte{
	frame(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, 40000, 22),
	frame(netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1"), 6, 1500, 443),
	frame(netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("10.0.0.1"), 17, 53, 5353),
	frame(netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1"), 17, 999, 53),
	frame(netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1"), 1, 0, 0),
	frame(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:8000::2"), 6, 22, 50000),
	frame(netip.MustParseAddr("2001:db8:7fff::9"), netip.MustParseAddr("2001:db9::2"), 17, 1999, 80),
	frame(netip.MustParseAddr("2001:db9::1"), netip.MustParseAddr("2001:db9::2"), 58, 0, 0),
	frame(netip.MustParseAddr("2001:db9::1"), netip.MustParseAddr("2001:db9::2"), 6, 2000, 8080),
	append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1}, make([]byte, minFull)...),
	{1, 2, 3},
}

func vm(t testing.TB, expr string) *bpf.VM {
	t.Helper()
	raw, err := Compile(expr, 1500)
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("compile %q: output does not disassemble", expr)
	}
	v, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	return v
}

func agree(t testing.TB, v *bpf.VM, expr string, want func(decoded) bool, pkt []byte) {
	t.Helper()
	n, err := v.Run(pkt)
	if err != nil {
		t.Fatalf("%q on % x: %v", expr, pkt, err)
	}
	if len(pkt) < minFull {
		return
	}
	if got, w := n > 0, want(decode(pkt)); got != w {
		t.Errorf("%q on % x: filter says %v, reference %v", expr, pkt, got, w)
	}
}

func TestCompileAgreesWithReference(t *testing.T) {
	for _, r := range references {
		v := vm(t, r.expr)
		for _, pkt := range samples {
			agree(t, v, r.expr, r.want, pkt)
		}
	}
}

func TestCompileAcceptsSomething(t *testing.T) {
	// Every reference accepts a sample and rejects another, so that the
	// table tests both ways.
	for _, r := range references {
		var yes, no int
		for _, pkt := range samples[:len(samples)-1] {
			if r.want(decode(pkt)) {
				yes++
			} else {
				no++
			}
		}
		if yes == 0 {
			t.Errorf("%q accepts no sample: add one", r.expr)
		}
		if no == 0 && r.expr != "" {
			t.Errorf("%q rejects no sample: add one", r.expr)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{
		"tcp and", "port", "port 70000", "host 10.0.0.300", "net 10/8", "(tcp", "tcp)",
		"src tcp", "portrange 5-1", "portrange 5", "bogus", "not", strings.Repeat("(", 100) + "tcp" + strings.Repeat(")", 100),
	} {
		if _, err := Compile(expr, 0); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", expr)
		}
	}
}

func TestCompileSnapLen(t *testing.T) {
	v := vm(t, "")
	pkt := make([]byte, 3000)
	if n, _ := v.Run(pkt); n != 1500 {
		t.Errorf("kept %d bytes, want the snap length 1500", n)
	}
}

// FuzzFilterPacket runs every reference expression's compiled program on
// attacker-chosen bytes: it never fails to run and always agrees with the
// reference decoder.
func FuzzFilterPacket(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	vms := make([]*bpf.VM, len(references))
	for i, r := range references {
		vms[i] = vm(f, r.expr)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for i, r := range references {
			agree(t, vms[i], r.expr, r.want, pkt)
		}
	})
}

// FuzzCompile compiles any expression: an error or a program the kernel's
// rules accept (the VM checks them), never a crash.
func FuzzCompile(f *testing.F) {
	for _, r := range references {
		f.Add(r.expr)
	}
	f.Add("((tcp)) or !udp && port 1,2,3")
	f.Fuzz(func(t *testing.T, expr string) {
		raw, err := Compile(expr, 0)
		if err != nil {
			return
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%q: output does not disassemble", expr)
		}
		v, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for _, s := range samples {
			if _, err := v.Run(s); err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
		}
	})
}
