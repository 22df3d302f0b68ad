package sensor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
)

// TestPacketPathDoesNotAllocate: once a flow is open and named, a packet
// of it (decode, flow lookup and counters, behaviour checks) allocates
// nothing; nor does a SYN flood's packet, which opens a flow without
// payload.
func TestPacketPathDoesNotAllocate(t *testing.T) {
	sh := &shared{o: &Options{FlowCapacity: 1 << 12}, per: make([]Stats, 1)}
	w := newWorker(sh, 0, nil)
	cli, srv := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	at := time.Unix(1_700_000_000, 0)
	feed := func(f packet.Frame) {
		at = at.Add(time.Microsecond)
		data := packet.Build(f)
		w.pkt = capture.Packet{Data: data, Time: at, Length: len(data), Link: capture.LinkEthernet}
		w.packet()
	}
	tcp := func(src, dst netip.Addr, sp, dp uint16, fl uint8, payload string) packet.Frame {
		return packet.Frame{Packet: packet.Packet{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: packet.ProtoTCP, Flags: fl, Payload: []byte(payload)}}
	}
	feed(tcp(cli, srv, 40000, 80, packet.SYN, ""))
	feed(tcp(srv, cli, 80, 40000, packet.SYN|packet.ACK, ""))
	feed(tcp(cli, srv, 40000, 80, packet.ACK, ""))
	feed(tcp(cli, srv, 40000, 80, packet.ACK|packet.PSH, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	data := packet.Build(tcp(srv, cli, 80, 40000, packet.ACK, "HTTP/1.1 200 OK\r\n\r\nbody"))
	if n := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Microsecond)
		w.pkt = capture.Packet{Data: data, Time: at, Length: len(data), Link: capture.LinkEthernet}
		w.packet()
	}); n != 0 {
		t.Errorf("%v allocations per packet of a named flow", n)
	}
	frames := make([][]byte, 5000)
	for i := range frames {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		frames[i] = packet.Build(tcp(src, srv, uint16(i), 443, packet.SYN, ""))
	}
	k := 0
	if n := testing.AllocsPerRun(4000, func() {
		at = at.Add(time.Microsecond)
		w.pkt = capture.Packet{Data: frames[k%len(frames)], Time: at, Length: 54, Link: capture.LinkEthernet}
		k++
		w.packet()
	}); n != 0 {
		t.Errorf("%v allocations per SYN of a flood", n)
	}
}
