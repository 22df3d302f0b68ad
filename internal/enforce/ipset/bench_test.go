package ipset

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// decisions returns n one-hour bans of distinct IPv4 addresses from 10.0.0.0.
func decisions(n int, now time.Time) []event.Decision {
	ds := make([]event.Decision, n)
	for i := range ds {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 10<<24+uint32(i))
		ds[i] = event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(netip.AddrFrom4(b), 32), Until: now.Add(time.Hour)}
	}
	return ds
}

// BenchmarkReconcile1M measures the agent's worst start with this backend:
// one Reconcile of 1,000,000 IPv4 bans with timeouts (one ipset process fed
// a 40 MB script, filling a new set and swapping it in).
func BenchmarkReconcile1M(b *testing.B) {
	const n = 1_000_000
	now := time.Now()
	ds := decisions(n, now)
	_, fd := herdtest.NewNetns(b)
	f := newFirewall(b, fd, Options{})
	b.ResetTimer()
	for range b.N {
		if err := f.Reconcile(ds, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "elems/s")
}

// BenchmarkApplyOne measures the latency of Apply with a single new ban, as
// the agent sends one when a scenario fires: p50 and p99 over 200 adds into
// a set holding 100,000 bans. Each is one ipset process.
func BenchmarkApplyOne(b *testing.B) {
	now := time.Now()
	_, fd := herdtest.NewNetns(b)
	f := newFirewall(b, fd, Options{})
	if err := f.Reconcile(decisions(100_000, now), now); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	b.ResetTimer()
	for range b.N {
		for i := range 200 {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], 172<<24|16<<16+uint32(i))
			d := []event.Decision{{Type: event.Ban, Scope: netip.PrefixFrom(netip.AddrFrom4(a), 32), Until: now.Add(time.Hour)}}
			start := time.Now()
			if err := f.Apply(event.Change{Add: d}, now); err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(start))
		}
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(0, "ns/op")
}
