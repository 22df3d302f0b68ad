// Package packet decodes a captured frame's link, network and transport
// headers into a Packet: addresses as netip values, ports, TCP flags, the
// fragment state and a view of the payload. It never allocates and never
// fails loudly: a frame it cannot read is counted under the reason why.
package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/herd-ips/herd/internal/sensor/capture"
)

// IP protocol numbers the decoder knows.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flags (Packet.Flags).
const (
	FIN = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Fragment states (Packet.Frag).
const (
	NotFragment   = 0
	FirstFragment = 1 // offset 0, more fragments follow: the L4 header is here
	LaterFragment = 2 // offset > 0: no L4 header; the flow is found by FragID
)

// Packet is a decoded frame. Payload is a view into the frame.
type Packet struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // 0 for ICMP and later fragments
	Proto            uint8  // IP protocol (ProtoTCP, ...)
	Flags            uint8  // TCP flags
	Frag             uint8  // NotFragment, FirstFragment or LaterFragment
	ICMPType         uint8
	ICMPCode         uint8
	VLAN             uint16 // outermost VLAN id, 0 when untagged
	FragID           uint32 // IP identification of a fragment
	Seq, Ack         uint32 // TCP sequence and acknowledgement numbers
	IPLen            int    // bytes of the IP packet (header included) on the wire
	Payload          []byte // the transport payload captured
}

// Reason says why a frame was not decoded.
type Reason uint8

// The reasons, counted in Counters.Bad.
const (
	OK Reason = iota
	BadLink
	UnknownLink
	NotIP // ARP, LLDP and the like: not malformed, not decoded
	ShortIPv4
	BadIPv4
	ShortIPv6
	BadIPv6Ext
	ShortTCP
	BadTCP
	ShortUDP
	ShortICMP
	OtherTransport // GRE, ESP, SCTP, ...: counted, flows by address only
	NumReasons
)

var reasonNames = [NumReasons]string{"ok", "bad_link", "unknown_link", "not_ip", "short_ipv4", "bad_ipv4", "short_ipv6", "bad_ipv6_ext", "short_tcp", "bad_tcp", "short_udp", "short_icmp", "other_transport"}

// String names the reason as metrics spell it.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "invalid"
}

// Counters are a Decoder's totals.
type Counters struct {
	Frames    uint64
	Decoded   uint64
	Fragments uint64 // IP fragments (first and later)
	Bad       [NumReasons]uint64
}

// Decoder decodes frames and counts what it could not. Not safe for
// concurrent use.
type Decoder struct {
	C Counters
}

// Extra link types read beside the contract's four.
const (
	linkNull  = 0   // BSD loopback: 4-byte address family in host order
	linkRaw12 = 12  // raw IP on some systems
	linkRaw14 = 14  // raw IP on others
	linkIPv4  = 228 // raw IPv4
	linkIPv6  = 229 // raw IPv6
)

// Decode decodes frame, which starts with a link header of type link, into
// p. It returns the reason it stopped: OK when p holds a decoded packet
// (OtherTransport leaves addresses and Proto set).
func (d *Decoder) Decode(link capture.LinkType, frame []byte, p *Packet) Reason {
	d.C.Frames++
	*p = Packet{}
	r := decode(link, frame, p)
	if r == OK {
		d.C.Decoded++
	} else {
		d.C.Bad[r]++
	}
	if p.Frag != NotFragment {
		d.C.Fragments++
	}
	return r
}

func decode(link capture.LinkType, b []byte, p *Packet) Reason {
	var etype uint16
	switch link {
	case capture.LinkEthernet:
		if len(b) < 14 {
			return BadLink
		}
		etype = binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for i := 0; i < 4 && (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100); i++ {
			if len(b) < 4 {
				return BadLink
			}
			if p.VLAN == 0 {
				p.VLAN = binary.BigEndian.Uint16(b) & 0x0fff
			}
			etype = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
	case capture.LinkLinuxSLL:
		if len(b) < 16 {
			return BadLink
		}
		etype = binary.BigEndian.Uint16(b[14:])
		b = b[16:]
	case capture.LinkLinuxSLL2:
		if len(b) < 20 {
			return BadLink
		}
		etype = binary.BigEndian.Uint16(b)
		b = b[20:]
	case capture.LinkRaw, linkRaw12, linkRaw14, linkIPv4, linkIPv6:
		return ip(b, p)
	case linkNull:
		if len(b) < 4 {
			return BadLink
		}
		return ip(b[4:], p)
	default:
		return UnknownLink
	}
	switch etype {
	case 0x0800:
		return ipv4(b, p)
	case 0x86dd:
		return ipv6(b, p)
	}
	return NotIP
}

func ip(b []byte, p *Packet) Reason {
	if len(b) == 0 {
		return BadLink
	}
	switch b[0] >> 4 {
	case 4:
		return ipv4(b, p)
	case 6:
		return ipv6(b, p)
	}
	return NotIP
}

func ipv4(b []byte, p *Packet) Reason {
	if len(b) < 20 {
		return ShortIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if b[0]>>4 != 4 || ihl < 20 || total < ihl || len(b) < ihl {
		return BadIPv4
	}
	p.IPLen = total
	if total < len(b) {
		b = b[:total] // Ethernet padding
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Proto = b[9]
	ff := binary.BigEndian.Uint16(b[6:])
	if off := ff & 0x1fff; off != 0 {
		p.Frag, p.FragID = LaterFragment, uint32(binary.BigEndian.Uint16(b[4:]))
		return OK
	} else if ff&0x2000 != 0 {
		p.Frag, p.FragID = FirstFragment, uint32(binary.BigEndian.Uint16(b[4:]))
	}
	return transport(b[ihl:], p)
}

func ipv6(b []byte, p *Packet) Reason {
	if len(b) < 40 {
		return ShortIPv6
	}
	if b[0]>>4 != 6 {
		return ShortIPv6
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	p.IPLen = 40 + plen
	p.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	p.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	next := b[6]
	b = b[40:]
	if plen < len(b) {
		b = b[:plen]
	}
	for range 8 {
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
			if len(b) < 8 {
				return BadIPv6Ext
			}
			l := 8 + int(b[1])*8
			if len(b) < l {
				return BadIPv6Ext
			}
			next, b = b[0], b[l:]
		case 51: // AH: length in 4-byte units, minus 2
			if len(b) < 8 {
				return BadIPv6Ext
			}
			l := (int(b[1]) + 2) * 4
			if len(b) < l {
				return BadIPv6Ext
			}
			next, b = b[0], b[l:]
		case 44: // fragment
			if len(b) < 8 {
				return BadIPv6Ext
			}
			p.FragID = binary.BigEndian.Uint32(b[4:])
			off := binary.BigEndian.Uint16(b[2:]) >> 3
			p.Proto = b[0]
			if off != 0 {
				p.Frag = LaterFragment
				return OK
			}
			if b[3]&1 != 0 {
				p.Frag = FirstFragment
			}
			next, b = b[0], b[8:]
		default:
			p.Proto = next
			return transport(b, p)
		}
	}
	return BadIPv6Ext
}

func transport(b []byte, p *Packet) Reason {
	switch p.Proto {
	case ProtoTCP:
		if len(b) < 20 {
			return ShortTCP
		}
		off := int(b[12]>>4) * 4
		if off < 20 {
			return BadTCP
		}
		if len(b) < off {
			return ShortTCP
		}
		p.SrcPort = binary.BigEndian.Uint16(b)
		p.DstPort = binary.BigEndian.Uint16(b[2:])
		p.Seq = binary.BigEndian.Uint32(b[4:])
		p.Ack = binary.BigEndian.Uint32(b[8:])
		p.Flags = b[13]
		p.Payload = b[off:]
	case ProtoUDP:
		if len(b) < 8 {
			return ShortUDP
		}
		p.SrcPort = binary.BigEndian.Uint16(b)
		p.DstPort = binary.BigEndian.Uint16(b[2:])
		ul := int(binary.BigEndian.Uint16(b[4:]))
		b = b[8:]
		if ul >= 8 && ul-8 < len(b) && p.Frag == NotFragment {
			b = b[:ul-8]
		}
		p.Payload = b
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 4 {
			return ShortICMP
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.Payload = b[4:]
	default:
		return OtherTransport
	}
	return OK
}
