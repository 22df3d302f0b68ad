package sensor_test

import (
	"context"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
)

// idleSource hands out its frames, then says it is idle (as a quiet live
// interface does) until stopped, then ends.
type idleSource struct {
	frames [][]byte
	at     time.Time
	i      int
	idle   atomic.Int64
	stop   atomic.Bool
}

func (s *idleSource) Next(p *capture.Packet) error {
	if s.i < len(s.frames) {
		*p = capture.Packet{Data: s.frames[s.i], Time: s.at, Length: len(s.frames[s.i]), Link: capture.LinkEthernet}
		s.i++
		return nil
	}
	if s.stop.Load() {
		return io.EOF
	}
	s.idle.Add(1)
	time.Sleep(time.Millisecond)
	return capture.ErrIdle
}
func (s *idleSource) Stats() (uint64, uint64) { return uint64(s.i), 0 }
func (s *idleSource) Close() error            { return nil }

// TestLiveSweepEndsFlowsWithoutTraffic: on a live source, refused probes
// become events once their linger has passed on the clock, while the
// source is idle and before it ends; the Meter shows the running totals.
func TestLiveSweepEndsFlowsWithoutTraffic(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	now := t0
	clk := clock.Func(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	cli, srv := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("198.51.100.1")
	src := &idleSource{at: t0}
	for port := uint16(1); port <= 20; port++ {
		src.frames = append(src.frames,
			packet.Build(packet.Frame{Packet: packet.Packet{Src: cli, Dst: srv, SrcPort: 40000 + port, DstPort: port, Proto: packet.ProtoTCP, Flags: packet.SYN}}),
			packet.Build(packet.Frame{Packet: packet.Packet{Src: srv, Dst: cli, SrcPort: port, DstPort: 40000 + port, Proto: packet.ProtoTCP, Flags: packet.RST | packet.ACK}}))
	}
	var events atomic.Int64
	meter := new(sensor.Meter)
	done := make(chan sensor.Stats)
	go func() {
		st, err := sensor.Run(context.Background(), []capture.Source{src}, sensor.Options{
			Clock: clk, Sweep: time.Second, Meter: meter,
			Emit: func(ev *event.Event) int {
				if ev.Reason == "syn_probe" && ev.Source == cli {
					events.Add(1)
				}
				return 0
			},
		})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	waitIdle := func() {
		for n := src.idle.Load(); src.idle.Load() < n+3; {
			time.Sleep(time.Millisecond)
		}
	}
	waitIdle()
	if n := events.Load(); n != 0 {
		t.Fatalf("%d probes reported before their linger", n)
	}
	mu.Lock()
	now = t0.Add(12 * time.Second)
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for meter.Stats().Events < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := events.Load(); n != 20 {
		t.Fatalf("%d of 20 probes reported while the source was idle", n)
	}
	if st := meter.Stats(); st.Packets != 40 || st.Received != 40 || st.Flows != 20 || st.Active != 0 || st.Events != 20 {
		t.Errorf("running totals %+v", st)
	}
	src.stop.Store(true)
	if st := <-done; st.Packets != 40 || st.Events != 20 {
		t.Errorf("final totals %+v", st)
	}
}
