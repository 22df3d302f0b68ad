package sensor_test

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
)

// memSource replays packets held in memory, rounds times over, each
// round shifted in time by shift so that its flows start afresh.
type memSource struct {
	pkts   []capture.Packet
	rounds int
	shift  time.Duration
	i, r   int
	n      uint64
}

func (m *memSource) Next(p *capture.Packet) error {
	if m.i >= len(m.pkts) {
		m.r++
		if m.r >= max(m.rounds, 1) {
			return io.EOF
		}
		m.i = 0
	}
	*p = m.pkts[m.i]
	p.Time = p.Time.Add(time.Duration(m.r) * m.shift)
	m.i++
	m.n++
	return nil
}
func (m *memSource) Stats() (uint64, uint64) { return m.n, 0 }
func (m *memSource) Close() error            { return nil }

// loadNDPI reads every nDPI capture into memory, shifting each file's
// packets in time after the previous file's so that flows of different
// files never meet.
func loadNDPI(b *testing.B) []capture.Packet {
	dir := os.Getenv("HERD_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data")
	}
	dir = filepath.Join(dir, "ndpi", "pcap")
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Skipf("no nDPI captures: %v", err)
	}
	var out []capture.Packet
	base := time.Unix(1_700_000_000, 0)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pcap") && !strings.HasSuffix(e.Name(), ".pcapng") {
			continue
		}
		r, err := capture.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var first time.Time
		var last time.Time
		for {
			var p capture.Packet
			if r.Next(&p) != nil {
				break
			}
			if first.IsZero() {
				first = p.Time
			}
			p.Data = append([]byte(nil), p.Data...)
			p.Time = base.Add(p.Time.Sub(first))
			last = p.Time
			out = append(out, p)
		}
		r.Close()
		base = last.Add(time.Hour)
	}
	return out
}

// BenchmarkSensorNDPI runs the whole sensor (decode, flows, protocol
// identity, behaviour through the scenario engine) over every nDPI capture
// held in memory, ten rounds per run, on one core: packets/s is reported
// as pps (wall) and pps/cpu-s (process CPU time).
func BenchmarkSensorNDPI(b *testing.B) {
	pkts := loadNDPI(b)
	d := newDetector(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	var total uint64
	for range b.N {
		src := &memSource{pkts: pkts, rounds: 10, shift: pkts[len(pkts)-1].Time.Sub(pkts[0].Time) + time.Hour}
		st, err := sensor.Run(context.Background(), []capture.Source{src}, sensor.Options{Detector: d, FlowCapacity: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		total += st.Packets
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(total)/(cpuTime()-cpu0).Seconds(), "pps/cpu-s")
}

// cpuTime is the process's CPU time (user and system): on a machine
// shared with other work, packets per CPU-second is the figure that
// means something, beside wall-clock packets/s.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSensorSteadyFlows is the hot path of established traffic: 1,000
// TCP flows already named, each sending data packets both ways.
func BenchmarkSensorSteadyFlows(b *testing.B) {
	var pkts []capture.Packet
	at := time.Unix(1_700_000_000, 0)
	frame := func(src, dst netip.Addr, sp, dp uint16, fl uint8, payload []byte) {
		at = at.Add(time.Microsecond)
		data := packet.Build(packet.Frame{Packet: packet.Packet{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: packet.ProtoTCP, Flags: fl, Payload: payload}})
		pkts = append(pkts, capture.Packet{Data: data, Time: at, Length: len(data), Link: capture.LinkEthernet})
	}
	srv := netip.MustParseAddr("198.51.100.1")
	body := make([]byte, 1200)
	for i := range 1000 {
		c := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		sp := uint16(30000 + i)
		frame(c, srv, sp, 80, packet.SYN, nil)
		frame(srv, c, 80, sp, packet.SYN|packet.ACK, nil)
		frame(c, srv, sp, 80, packet.ACK, nil)
		frame(c, srv, sp, 80, packet.ACK|packet.PSH, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	}
	for r := range 50 {
		for i := range 1000 {
			c := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			sp := uint16(30000 + i)
			if r%2 == 0 {
				frame(srv, c, 80, sp, packet.ACK, body)
			} else {
				frame(c, srv, sp, 80, packet.ACK, nil)
			}
		}
	}
	d := newDetector(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	var total uint64
	for range b.N {
		st, err := sensor.Run(context.Background(), []capture.Source{&memSource{pkts: pkts, rounds: 20}}, sensor.Options{Detector: d, FlowCapacity: 4096})
		if err != nil {
			b.Fatal(err)
		}
		total += st.Packets
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(total)/(cpuTime()-cpu0).Seconds(), "pps/cpu-s")
}
