package packet

import "encoding/binary"

// Frame describes a frame for Build: tests and the sensor's sample captures
// make their traffic with it.
type Frame struct {
	Packet        // Src, Dst, ports, Proto, Flags, VLAN, Seq, Ack, ICMPType/Code, Payload
	TTL    uint8  // 64 when 0
	IPID   uint16 // IPv4 identification
}

// Build returns an Ethernet frame carrying f (IPv4 or IPv6 by f.Src's
// family). Checksums are left zero: the decoder does not check them.
func Build(f Frame) []byte {
	var l4 []byte
	switch f.Proto {
	case ProtoTCP:
		l4 = make([]byte, 20, 20+len(f.Payload))
		binary.BigEndian.PutUint16(l4, f.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], f.DstPort)
		binary.BigEndian.PutUint32(l4[4:], f.Seq)
		binary.BigEndian.PutUint32(l4[8:], f.Ack)
		l4[12] = 5 << 4
		l4[13] = f.Flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
	case ProtoUDP:
		l4 = make([]byte, 8, 8+len(f.Payload))
		binary.BigEndian.PutUint16(l4, f.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], f.DstPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(f.Payload)))
	default:
		l4 = []byte{f.ICMPType, f.ICMPCode, 0, 0}
	}
	l4 = append(l4, f.Payload...)
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	var ipb []byte
	etype := uint16(0x0800)
	if f.Src.Is4() {
		ipb = make([]byte, 20, 20+len(l4))
		ipb[0] = 0x45
		binary.BigEndian.PutUint16(ipb[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ipb[4:], f.IPID)
		ipb[8] = ttl
		ipb[9] = f.Proto
		s, d := f.Src.As4(), f.Dst.As4()
		copy(ipb[12:], s[:])
		copy(ipb[16:], d[:])
	} else {
		etype = 0x86dd
		ipb = make([]byte, 40, 40+len(l4))
		ipb[0] = 0x60
		binary.BigEndian.PutUint16(ipb[4:], uint16(len(l4)))
		ipb[6] = f.Proto
		ipb[7] = ttl
		s, d := f.Src.As16(), f.Dst.As16()
		copy(ipb[8:], s[:])
		copy(ipb[24:], d[:])
	}
	ipb = append(ipb, l4...)
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	if f.VLAN != 0 {
		eth = binary.BigEndian.AppendUint16(eth, 0x8100)
		eth = binary.BigEndian.AppendUint16(eth, f.VLAN)
	}
	eth = binary.BigEndian.AppendUint16(eth, etype)
	return append(eth, ipb...)
}
