// Package sensor composes herd's packet sensor: capture sources hand out
// frames, packet decodes them, flow keeps them as flows, protoid names each
// flow's protocol from its first payload bytes, and the flows' behaviour
// becomes events the scenario engine (through a detect.Detector) turns into
// alerts. One worker runs per source, each with its own decoder and flow
// table; a live source fans out in the kernel (PACKET_FANOUT), a file in
// Fanout. The sensor keeps metadata only: no payload byte leaves protoid
// except the fields it names (docs/sensor.md).
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/flow"
	"github.com/herd-ips/herd/internal/sensor/packet"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

// Flow is one finished flow as the sensor reports it.
type Flow struct {
	Transport uint8 // IP protocol number
	Client    netip.AddrPort
	Server    netip.AddrPort
	Packets   [2]uint64 // client to server, server to client
	Bytes     [2]uint64
	First     time.Time
	Last      time.Time
	State     flow.State
	End       flow.End
	VLAN      uint16
	protoid.Result
}

// Options configures Run.
type Options struct {
	// Detector receives the behaviour events; nil runs no scenarios.
	Detector *detect.Detector
	// Fingerprints lists known-bad client fingerprints; nil lists none.
	Fingerprints *Fingerprints
	// OnFlow is called for every flow that ends; nil reports none. Calls
	// are serialised across workers. It must not keep f.
	OnFlow func(f *Flow)
	// OnAlert is called for every alert; calls are serialised.
	OnAlert func(o *detect.Outcome)
	// Emit, when set, receives every behaviour event instead of Detector
	// (and OnAlert), and returns the number of alerts it gave: the agent
	// runs the events through its own pipeline, beside the logs' lines.
	// Calls are serialised; it must not keep ev.
	Emit func(ev *event.Event) int
	// Sweep, when not 0, is how often (on Clock) a worker sweeps its
	// whole flow table of expired flows and publishes its totals to Meter:
	// live capture sets it, and its sources return capture.ErrIdle when
	// quiet so that flows end without traffic. 0 = packet time only.
	Sweep time.Duration
	// Meter, when set, is where the totals can be read while Run runs
	// (they are published at each sweep).
	Meter *Meter
	// FlowCapacity bounds each worker's flow table; 0 = 65536.
	FlowCapacity int
	// SkipProbes leaves out of OnFlow the flows that carried no payload
	// and never completed a TCP handshake (scan probes, flood packets,
	// refused connections): they are still counted, and still events.
	SkipProbes bool
	// Deterministic hashes flows with a fixed seed, so that a capture
	// file read twice gives the same output; live capture leaves it off.
	Deterministic bool
	// Clock times the run (Stats.Elapsed); nil = clock.Real. Flows run on
	// the packets' own time.
	Clock clock.Clock
}

// Stats are the sensor's totals over every worker.
type Stats struct {
	Packets    uint64
	Bytes      uint64
	Received   uint64 // by the kernel or read from the file (the sources' own count)
	Dropped    uint64 // by the kernel or ring (live sources)
	Active     int    // flows in the tables now
	Decode     packet.Counters
	Flows      uint64
	Evicted    uint64
	FragOrphan uint64
	Protos     [protoid.NumProtos]uint64 // flows per protocol
	Events     uint64
	Alerts     uint64
	Elapsed    time.Duration
}

// shared is the state workers share under mu.
type shared struct {
	mu  sync.Mutex
	o   *Options
	per []Stats // each worker's totals, as last published
}

// sum adds up the workers' totals. sh.mu is held.
func (sh *shared) sum() Stats {
	var s Stats
	for i := range sh.per {
		w := &sh.per[i]
		s.Packets += w.Packets
		s.Bytes += w.Bytes
		s.Received += w.Received
		s.Dropped += w.Dropped
		s.Active += w.Active
		s.Flows += w.Flows
		s.Evicted += w.Evicted
		s.FragOrphan += w.FragOrphan
		s.Events += w.Events
		s.Alerts += w.Alerts
		for j := range s.Protos {
			s.Protos[j] += w.Protos[j]
		}
		d := &s.Decode
		d.Frames += w.Decode.Frames
		d.Decoded += w.Decode.Decoded
		d.Fragments += w.Decode.Fragments
		for j := range d.Bad {
			d.Bad[j] += w.Decode.Bad[j]
		}
	}
	return s
}

// Meter reads a running sensor's totals (Options.Meter).
type Meter struct {
	mu sync.Mutex
	sh *shared
}

// Stats returns the totals the workers published last; zero before Run.
func (m *Meter) Stats() Stats {
	m.mu.Lock()
	sh := m.sh
	m.mu.Unlock()
	if sh == nil {
		return Stats{}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.sum()
}

// Run reads every source until it ends (io.EOF) or ctx is cancelled, one
// worker goroutine per source, and returns the totals.
func Run(ctx context.Context, srcs []capture.Source, o Options) (Stats, error) {
	if len(srcs) == 0 {
		return Stats{}, errors.New("sensor: no capture source")
	}
	if o.FlowCapacity <= 0 {
		o.FlowCapacity = 1 << 16
	}
	clk := clock.Or(o.Clock)
	start := clk.Now()
	sh := &shared{o: &o, per: make([]Stats, len(srcs))}
	if o.Meter != nil {
		o.Meter.mu.Lock()
		o.Meter.sh = sh
		o.Meter.mu.Unlock()
	}
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(sh, i, src)
			errs[i] = w.run(ctx, src)
			w.finish()
		}()
	}
	wg.Wait()
	sh.mu.Lock()
	st := sh.sum()
	sh.mu.Unlock()
	st.Elapsed = clock.Since(clk, start)
	return st, errors.Join(errs...)
}

// state is what a worker keeps per flow beside the table's counters.
type state struct {
	id      uint32 // 1 + index of its protoid state in worker.ids; 0 until the flow carries payload
	flags0  uint8  // TCP flags of the flow's first packet
	handled uint8  // events already emitted for this flow (bits)
	est     bool   // the TCP handshake completed at some point
}

const (
	sentConnect uint8 = 1 << iota
	sentFingerprint
)

type worker struct {
	sh    *shared
	i     int            // index in sh.per
	src   capture.Source // for its Stats
	clk   clock.Clock
	swept time.Time // last full sweep (Options.Sweep)
	dec   packet.Decoder
	tab   *flow.Table[state]
	pkt   capture.Packet
	p     packet.Packet
	ids   []*protoid.State // protocol states of flows with payload; the table itself holds no pointer, so the collector never scans it
	free  []uint32         // indices of ids free for reuse
	local Stats
	ev    event.Event
	addr  []byte // scratch for event.Host
	out   Flow
}

func newWorker(sh *shared, i int, src capture.Source) *worker {
	w := &worker{sh: sh, i: i, src: src, clk: clock.Or(sh.o.Clock), addr: make([]byte, 0, 64)}
	if sh.o.Sweep > 0 {
		w.swept = w.clk.Now()
	}
	fo := flow.Options{Capacity: sh.o.FlowCapacity}
	if sh.o.Deterministic {
		fo.FixedSeed = 0x6865726473656e73 // "herdsens"
	}
	w.tab = flow.New(fo, w.ended)
	return w
}

func (w *worker) run(ctx context.Context, src capture.Source) error {
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if ctx.Err() != nil {
				return nil
			}
			w.tick()
		}
		err := src.Next(&w.pkt)
		if err == io.EOF {
			break
		}
		if err == capture.ErrIdle {
			w.tick()
			continue
		}
		if err != nil {
			return fmt.Errorf("sensor: %w", err)
		}
		w.packet()
	}
	return nil
}

// tick sweeps the flow table and publishes the worker's totals when
// Options.Sweep has passed since the last time.
func (w *worker) tick() {
	if w.sh.o.Sweep <= 0 {
		return
	}
	now := w.clk.Now()
	if now.Sub(w.swept) < w.sh.o.Sweep {
		return
	}
	w.swept = now
	w.tab.Advance(now)
	w.publish()
}

// packet handles one captured frame. It does not allocate unless a new
// flow carries payload (its protocol state) or an alert is raised.
func (w *worker) packet() {
	w.local.Packets++
	w.local.Bytes += uint64(w.pkt.Length)
	p := &w.p
	r := w.dec.Decode(w.pkt.Link, w.pkt.Data, p)
	if r != packet.OK && r != packet.OtherTransport {
		return
	}
	if !p.Src.IsValid() {
		return
	}
	f, dir := w.tab.Packet(p, w.pkt.Time)
	if f == nil {
		return
	}
	if f.Packets[0]+f.Packets[1] == 1 {
		w.first(f, dir)
	}
	if f.State == flow.StateEstablished && !f.Data.est {
		f.Data.est = true
		w.established(f)
	}
	if len(p.Payload) > 0 && (p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP) {
		st := &f.Data
		if st.id == 0 {
			st.id = w.newState()
		}
		if id := w.ids[st.id-1]; !id.Done() {
			id.Inspect(p.Proto, dir, f.Port[0], f.Port[1], p.Payload)
			if id.Done() && w.sh.o.Fingerprints != nil && st.handled&sentFingerprint == 0 {
				w.fingerprint(f, id)
			}
		}
	}
	if p.Proto == packet.ProtoUDP {
		w.reflection(f)
	}
}

// newState returns 1 + the index of a fresh protocol state.
func (w *worker) newState() uint32 {
	if n := len(w.free); n > 0 {
		i := w.free[n-1]
		w.free = w.free[:n-1]
		return i
	}
	w.ids = append(w.ids, new(protoid.State))
	return uint32(len(w.ids))
}

// protoState returns a flow's protocol state, nil when it has none.
func (w *worker) protoState(st *state) *protoid.State {
	if st.id == 0 {
		return nil
	}
	return w.ids[st.id-1]
}

// ended reports a flow leaving the table and emits its end events.
func (w *worker) ended(f *flow.Flow[state], why flow.End) {
	st := &f.Data
	w.fill(f, why)
	w.behaviourAtEnd(f, why)
	w.local.Protos[w.out.Proto]++
	probe := st.id == 0 && !st.est
	if st.id != 0 {
		*w.ids[st.id-1] = protoid.State{}
		w.free = append(w.free, st.id)
		st.id = 0
	}
	if o := w.sh.o; o.OnFlow != nil {
		if o.SkipProbes && probe {
			return
		}
		w.sh.mu.Lock()
		o.OnFlow(&w.out)
		w.sh.mu.Unlock()
	}
}

func (w *worker) fill(f *flow.Flow[state], why flow.End) {
	o := &w.out
	o.Transport = f.Proto
	o.Client, o.Server = f.AddrPort(0), f.AddrPort(1)
	o.Packets, o.Bytes = f.Packets, f.Bytes
	o.First, o.Last = time.Unix(0, f.First).UTC(), time.Unix(0, f.Last).UTC()
	o.State, o.End, o.VLAN = f.State, why, f.VLAN
	if id := w.protoState(&f.Data); id != nil {
		o.Result = id.Result
	} else {
		o.Result = protoid.Result{}
	}
}

// finish flushes the table and publishes the worker's final totals.
func (w *worker) finish() {
	w.tab.Flush()
	w.publish()
}

// publish copies the worker's totals into sh.per.
func (w *worker) publish() {
	w.local.Received, w.local.Dropped = w.src.Stats()
	c := w.tab.Counters()
	sh := w.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := &sh.per[w.i]
	*s = w.local
	s.Active = c.Live
	s.Flows = c.Flows
	s.Evicted = c.Evicted
	s.FragOrphan = c.FragOrphans
	s.Decode = w.dec.C
}
