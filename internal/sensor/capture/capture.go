// Package capture declares how the sensor receives packets: a Source hands
// out one packet at a time, from a capture file (pcap, pcapng) or a live
// interface (AF_PACKET). Every byte of a packet may be an attacker's.
package capture

import (
	"errors"
	"time"
)

// ErrIdle is returned by a live Source's Next when no packet came for its
// idle interval: the sensor uses the pause to expire its flows. Next may be
// called again.
var ErrIdle = errors.New("capture: idle")

// Packet is one captured frame. Data and its bytes are valid until the next
// call to Next on the same Source; a consumer that keeps them copies them.
type Packet struct {
	Data    []byte    // the captured bytes, starting at the link layer
	Time    time.Time // when it was captured
	Length  int       // the frame's length on the wire (≥ len(Data) when cut)
	Link    LinkType  // how Data starts
	Ifindex int       // the interface it came from; 0 for a file
}

// LinkType is the link-layer header type, with pcap's numbering.
type LinkType uint16

// The link types the sensor decodes.
const (
	LinkEthernet  LinkType = 1   // Ethernet II, possibly with 802.1Q/802.1ad tags
	LinkRaw       LinkType = 101 // raw IPv4 or IPv6, no link header
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture v1
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2
)

// Source is a stage that emits packets. Next fills p with the next packet
// and returns nil, io.EOF at the end of a file, or another error. It is not
// safe for concurrent use: a fan-out opens one Source per worker.
type Source interface {
	Next(p *Packet) error
	// Stats returns the packets received and dropped so far (dropped by the
	// kernel or the ring; a file drops none).
	Stats() (received, dropped uint64)
	Close() error
}
