package sensor_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/capture"
)

// memSource replays packets held in memory.
type memSource struct {
	pkts []capture.Packet
	i    int
	n    uint64
}

func (m *memSource) Next(p *capture.Packet) error {
	if m.i >= len(m.pkts) {
		return io.EOF
	}
	*p = m.pkts[m.i]
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
// held in memory, on one core: packets/s is reported as pps.
func BenchmarkSensorNDPI(b *testing.B) {
	pkts := loadNDPI(b)
	d := newDetector(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	var total uint64
	for range b.N {
		st, err := sensor.Run(context.Background(), []capture.Source{&memSource{pkts: pkts}}, sensor.Options{Detector: d, FlowCapacity: 1 << 16})
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
