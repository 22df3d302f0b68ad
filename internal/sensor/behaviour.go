package sensor

import (
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/sensor/flow"
	"github.com/herd-ips/herd/internal/sensor/packet"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

// The event reasons the sensor writes (rules/defaults/sensor.yaml).
const (
	reasonSYNProbe      = "syn_probe"
	reasonStealthProbe  = "stealth_probe"
	reasonUDPProbe      = "udp_probe"
	reasonHalfOpen      = "half_open"
	reasonSYNACK        = "synack_unsolicited"
	reasonFingerprint   = "bad_fingerprint"
	service             = "net"
	parserName          = "sensor"
	amplifiedBytes      = 8192 // answer bytes from which a reflector's flow counts as amplified
	amplificationFactor = 10
)

// connectReasons are the services whose connection rate is watched, by port.
var connectReasons = map[uint16]string{
	22: "connect_ssh", 3389: "connect_rdp", 25: "connect_smtp", 587: "connect_smtp", 465: "connect_smtp",
	23: "connect_telnet", 3306: "connect_mysql",
}

// reflector returns the event reason of a UDP port of a protocol abused
// for reflection, and false for other ports.
func reflector(port uint16) (string, bool) {
	switch port {
	case 53:
		return "reflection_dns", true
	case 123:
		return "reflection_ntp", true
	case 161:
		return "reflection_snmp", true
	case 11211:
		return "reflection_memcached", true
	case 1900:
		return "reflection_ssdp", true
	case 389:
		return "reflection_cldap", true
	case 500:
		return "reflection_ike", true
	case 47808:
		return "reflection_bacnet", true
	case 19:
		return "reflection_chargen", true
	}
	return "", false
}

// first looks at a flow's first packet.
func (w *worker) first(f *flow.Flow[state], dir int) {
	p := &w.p
	if p.Proto != packet.ProtoTCP {
		return
	}
	f.Data.flags0 = p.Flags
	switch p.Flags & (packet.SYN | packet.ACK) {
	case packet.SYN | packet.ACK:
		// A SYN-ACK opening a flow: an answer to a SYN this host never
		// saw sent. Its destination is the victim of SYN-ACK reflection.
		w.emit(event.KindAbuse, reasonSYNACK, p.Dst, p.DstPort, netip.Addr{})
	}
}

// established counts a connection whose handshake just completed against
// its service's connection rate. Only a completed handshake counts: it
// proves the client's address, which a SYN alone does not, so a forged
// flood cannot get its forged sources banned here.
func (w *worker) established(f *flow.Flow[state]) {
	if f.Proto != packet.ProtoTCP || f.Data.flags0&(packet.SYN|packet.ACK) != packet.SYN {
		return
	}
	if r, ok := connectReasons[f.Port[1]]; ok {
		w.emit(event.KindAbuse, r, f.AddrPort(0).Addr(), f.Port[1], f.AddrPort(1).Addr())
	}
}

// behaviourAtEnd writes the events a finished flow gives.
func (w *worker) behaviourAtEnd(f *flow.Flow[state], why flow.End) {
	st := &f.Data
	client, server := f.AddrPort(0), f.AddrPort(1)
	if server.Addr().IsMulticast() || server.Addr() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return
	}
	switch f.Proto {
	case packet.ProtoTCP:
		if st.est || st.id != 0 {
			return
		}
		fl := st.flags0
		switch {
		case fl&(packet.SYN|packet.ACK) == packet.SYN:
			w.emitAt(w.out.Last, event.KindScan, reasonSYNProbe, client.Addr(), server.Port(), server.Addr())
			if (f.Flags[0]|f.Flags[1])&packet.RST == 0 && f.Packets[1] > 0 || f.Packets[1] == 0 && why != flow.EndFlush {
				w.emitAt(w.out.Last, event.KindAbuse, reasonHalfOpen, server.Addr(), server.Port(), netip.Addr{})
			}
		case fl&(packet.SYN|packet.ACK|packet.RST) == 0:
			w.emitAt(w.out.Last, event.KindScan, reasonStealthProbe, client.Addr(), server.Port(), server.Addr())
		}
	case packet.ProtoUDP:
		if f.Packets[1] == 0 && f.Packets[0] <= 2 && (st.id == 0 || w.out.Query == "") {
			if _, refl := reflector(client.Port()); refl {
				return // a reflector's answer, not a probe
			}
			w.emitAt(w.out.Last, event.KindScan, reasonUDPProbe, client.Addr(), server.Port(), server.Addr())
		}
	}
}

// reflection checks a UDP packet from a reflector port: unsolicited, or
// part of an amplified exchange, it counts against its destination.
func (w *worker) reflection(f *flow.Flow[state]) {
	p := &w.p
	r, ok := reflector(p.SrcPort)
	if !ok {
		return
	}
	d := 0
	if f.Addr[1] == p.Src.As16() && f.Port[1] == p.SrcPort {
		d = 1
	}
	if f.Packets[1-d] == 0 || f.Bytes[d] > amplifiedBytes && f.Bytes[d] > amplificationFactor*f.Bytes[1-d] {
		w.emit(event.KindAbuse, r, p.Dst, p.DstPort, netip.Addr{})
	}
}

// fingerprint checks a named flow's client fingerprints against the list.
func (w *worker) fingerprint(f *flow.Flow[state], id *protoid.State) {
	fp := w.sh.o.Fingerprints
	if fp.Has(id.JA3) || fp.Has(id.JA4) || fp.Has(id.HASSH) {
		f.Data.handled |= sentFingerprint
		w.emit(event.KindAbuse, reasonFingerprint, f.AddrPort(0).Addr(), f.Port[1], f.AddrPort(1).Addr())
	}
}

// emit runs one event through the detector. target, when valid, is the
// address probed (event Host, for horizontal scans).
func (w *worker) emit(kind event.Kind, reason string, src netip.Addr, port uint16, target netip.Addr) {
	w.emitAt(w.pkt.Time, kind, reason, src, port, target)
}

// emitAt is emit for an event that happened at a given time (a flow's last
// packet, when the flow ends later).
func (w *worker) emitAt(at time.Time, kind event.Kind, reason string, src netip.Addr, port uint16, target netip.Addr) {
	d := w.sh.o.Detector
	if d == nil && w.sh.o.Emit == nil {
		return
	}
	w.local.Events++
	ev := &w.ev
	*ev = event.Event{Time: at, Source: src.Unmap(), Service: service, Kind: kind, Reason: reason, Parser: parserName, Port: port, Bytes: -1}
	if target.IsValid() {
		w.addr = target.AppendTo(w.addr[:0])
		ev.Host = w.addr
	}
	w.sh.mu.Lock()
	defer w.sh.mu.Unlock()
	if w.sh.o.Emit != nil {
		w.local.Alerts += uint64(w.sh.o.Emit(ev))
		return
	}
	r := d.Event(ev)
	for i := range r.Outcomes {
		w.local.Alerts++
		if w.sh.o.OnAlert != nil {
			w.sh.o.OnAlert(&r.Outcomes[i])
		}
	}
}
