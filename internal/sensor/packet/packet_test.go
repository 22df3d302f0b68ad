package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/herd-ips/herd/internal/sensor/capture"
)

var (
	a4 = netip.MustParseAddr("192.0.2.1")
	b4 = netip.MustParseAddr("198.51.100.2")
	a6 = netip.MustParseAddr("2001:db8::1")
	b6 = netip.MustParseAddr("2001:db8::2")
)

func TestDecodeTCPv4WithVLAN(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a4, Dst: b4, SrcPort: 40000, DstPort: 443, Proto: ProtoTCP, Flags: SYN | ACK, VLAN: 42, Seq: 7, Payload: []byte("hi")}})
	var d Decoder
	var p Packet
	if r := d.Decode(capture.LinkEthernet, f, &p); r != OK {
		t.Fatalf("reason %v", r)
	}
	if p.Src != a4 || p.Dst != b4 || p.SrcPort != 40000 || p.DstPort != 443 || p.Flags != SYN|ACK || p.VLAN != 42 || p.Seq != 7 || string(p.Payload) != "hi" || p.IPLen != 42 {
		t.Fatalf("%+v", p)
	}
}

func TestDecodeQinQAndUDPv6(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a6, Dst: b6, SrcPort: 5353, DstPort: 53, Proto: ProtoUDP, Payload: []byte("q")}})
	// Wrap in an 802.1ad outer tag and an 802.1Q inner one.
	qinq := append([]byte{}, f[:12]...)
	qinq = append(qinq, 0x88, 0xa8, 0, 7, 0x81, 0, 0, 9)
	qinq = append(qinq, f[12:]...)
	var d Decoder
	var p Packet
	if r := d.Decode(capture.LinkEthernet, qinq, &p); r != OK {
		t.Fatalf("reason %v", r)
	}
	if p.VLAN != 7 || p.Src != a6 || p.DstPort != 53 || string(p.Payload) != "q" {
		t.Fatalf("%+v", p)
	}
}

func TestDecodeSLLAndRaw(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a4, Dst: b4, Proto: ProtoICMP, ICMPType: 8}})
	ipb := f[14:]
	sll := append(make([]byte, 14), 0x08, 0x00)
	sll = append(sll, ipb...)
	sll2 := append([]byte{0x08, 0x00}, make([]byte, 18)...)
	sll2 = append(sll2, ipb...)
	for _, c := range []struct {
		link capture.LinkType
		b    []byte
	}{{capture.LinkLinuxSLL, sll}, {capture.LinkLinuxSLL2, sll2}, {capture.LinkRaw, ipb}} {
		var d Decoder
		var p Packet
		if r := d.Decode(c.link, c.b, &p); r != OK || p.Proto != ProtoICMP || p.ICMPType != 8 || p.Dst != b4 {
			t.Errorf("link %d: %v %+v", c.link, r, p)
		}
	}
}

func TestIPv4Fragments(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a4, Dst: b4, SrcPort: 1, DstPort: 53, Proto: ProtoUDP, Payload: make([]byte, 32)}, IPID: 99})
	binary.BigEndian.PutUint16(f[14+6:], 0x2000) // MF, offset 0
	var d Decoder
	var p Packet
	if r := d.Decode(capture.LinkEthernet, f, &p); r != OK || p.Frag != FirstFragment || p.FragID != 99 || p.DstPort != 53 {
		t.Fatalf("first: %v %+v", r, p)
	}
	binary.BigEndian.PutUint16(f[14+6:], 5) // offset 40 bytes, last
	if r := d.Decode(capture.LinkEthernet, f, &p); r != OK || p.Frag != LaterFragment || p.DstPort != 0 || p.Proto != ProtoUDP {
		t.Fatalf("later: %v %+v", r, p)
	}
	if d.C.Fragments != 2 {
		t.Errorf("fragments %d", d.C.Fragments)
	}
}

func TestIPv6ExtensionAndFragmentHeaders(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a6, Dst: b6, SrcPort: 1000, DstPort: 80, Proto: ProtoTCP, Flags: SYN}})
	ip6 := f[14:]
	// Insert a hop-by-hop header (8 bytes) and a fragment header (offset
	// 0, M set) before TCP.
	hop := []byte{44, 0, 1, 4, 0, 0, 0, 0}
	frag := []byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 77}
	out := append([]byte{}, ip6[:40]...)
	out[6] = 0
	binary.BigEndian.PutUint16(out[4:], uint16(len(ip6)-40+16))
	out = append(out, hop...)
	out = append(out, frag...)
	out = append(out, ip6[40:]...)
	var d Decoder
	var p Packet
	if r := d.Decode(capture.LinkRaw, out, &p); r != OK || p.Frag != FirstFragment || p.FragID != 77 || p.DstPort != 80 || p.Flags != SYN {
		t.Fatalf("%v %+v", r, p)
	}
}

func TestMalformedCountedByReason(t *testing.T) {
	good := Build(Frame{Packet: Packet{Src: a4, Dst: b4, SrcPort: 1, DstPort: 2, Proto: ProtoTCP}})
	var d Decoder
	var p Packet
	for n := range len(good) {
		d.Decode(capture.LinkEthernet, good[:n], &p)
	}
	if d.C.Bad[BadLink] == 0 || d.C.Bad[ShortIPv4]+d.C.Bad[BadIPv4] == 0 || d.C.Bad[ShortTCP] == 0 {
		t.Fatalf("%+v", d.C)
	}
	if d.C.Decoded != 0 {
		t.Errorf("a truncated frame decoded: %+v", d.C)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	f := Build(Frame{Packet: Packet{Src: a6, Dst: b6, SrcPort: 1, DstPort: 2, Proto: ProtoTCP, Payload: []byte("x")}})
	var d Decoder
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { d.Decode(capture.LinkEthernet, f, &p) }); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint16(1), Build(Frame{Packet: Packet{Src: a4, Dst: b4, SrcPort: 1, DstPort: 2, Proto: ProtoTCP, Payload: []byte("x")}}))
	f.Add(uint16(1), Build(Frame{Packet: Packet{Src: a6, Dst: b6, SrcPort: 1, DstPort: 2, Proto: ProtoUDP, VLAN: 3}}))
	f.Add(uint16(101), Build(Frame{Packet: Packet{Src: a6, Dst: b6, Proto: ProtoICMPv6}})[14:])
	f.Fuzz(func(t *testing.T, link uint16, b []byte) {
		var d Decoder
		var p Packet
		if d.Decode(capture.LinkType(link), b, &p) == OK && len(p.Payload) > len(b) {
			t.Fatalf("payload beyond the frame")
		}
	})
}
