package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/hub/wire"
)

const benchBatch = 1000

func benchSignals(seed int, now time.Time) []wire.Signal {
	sigs := make([]wire.Signal, benchBatch)
	for i := range sigs {
		n := seed*benchBatch + i
		sigs[i] = wire.Signal{Source: netip.AddrFrom4([4]byte{81, byte(n >> 16), byte(n >> 8), byte(n)}), Class: wire.Class(1 + n%9), Minute: uint32(now.Unix()/60) - uint32(n%30)}
	}
	return sigs
}

// BenchmarkIngest measures signals per second through the HTTP handler:
// header parsing, timestamp and nonce checks, ed25519 verification, batch
// decoding, validation and the SQLite commit (one transaction per batch of
// 1,000 signals, as agents send them), from 64 reporters. Signing the
// requests (the agents' work) is outside the timer. "reputation" measures
// the engine's update alone (Observe) for the same signals.
func BenchmarkIngest(b *testing.B) {
	b.Run("http+sqlite", func(b *testing.B) {
		st, _ := openSQLite(b)
		benchHTTP(b, st)
	})
	b.Run("http+postgres", func(b *testing.B) {
		st, err := hubstore.Open(context.Background(), hubstore.Options{Driver: "postgres", DSN: pgDSN(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchHTTP(b, st)
	})
	b.Run("reputation", func(b *testing.B) {
		e := reputation.New(reputation.Rules{}, nil, nil)
		var rs []uint32
		for i := range 64 {
			rs = append(rs, e.AddReporter(reputation.Reporter{ID: wire.ReporterID{byte(i)}, Network: netip.MustParsePrefix(fmt.Sprintf("%d.2.3.0/24", 11+i))}))
		}
		batches := make([][]wire.Signal, 16)
		for i := range batches {
			batches[i] = benchSignals(i, time.Now())
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			r := rs[i%len(rs)]
			for _, sg := range batches[i%len(batches)] {
				e.Observe(r, sg)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "signals/s")
	})
	b.Run("recompute-catchup", func(b *testing.B) {
		// Reading committed signals into a node's engine (what every node
		// does after ingest on any node), per signal.
		clk := &fakeClock{t: time.Now()}
		st, _ := openSQLite(b)
		s := newServer(b, st, clk, func(o *Options) {
			o.SignalRate, o.SignalBurst, o.RequestRate, o.RequestBurst, o.Time = 1e9, 1e9, 1e9, 1e9, clock.Real{}
		})
		h := s.Handler()
		a := newAgent(b, "11.2.3.4", clk)
		a.enroll(b, h)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			if w := a.send(h, benchSignals(i%64, time.Now())...); w.Code != 200 {
				b.Fatalf("%d", w.Code)
			}
			b.StartTimer()
			if _, err := s.Recompute(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "signals/s")
	})
}

func benchHTTP(b *testing.B, st *hubstore.Store) {
	clk := &fakeClock{t: time.Now()}
	s := newServer(b, st, clk, func(o *Options) {
		o.SignalRate, o.SignalBurst, o.RequestRate, o.RequestBurst, o.Time = 1e9, 1e9, 1e9, 1e9, clock.Real{}
	})
	h := s.Handler()
	var agents []*agent
	for i := range 64 {
		a := newAgent(b, fmt.Sprintf("%d.2.3.4", 11+i), clk)
		a.enroll(b, h)
		agents = append(agents, a)
	}
	bodies := make([][]byte, 16)
	for i := range bodies {
		bodies[i] = wire.AppendBatch(nil, benchSignals(i, time.Now()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		a := agents[i%len(agents)]
		var nonce [16]byte
		rand.Read(nonce[:])
		r := a.request("/v1/signals", wire.ContentType, bodies[i%len(bodies)], &nonce, time.Now())
		b.StartTimer()
		if w := do(h, r); w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "signals/s")
}
