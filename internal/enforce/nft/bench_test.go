package nft

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

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

// BenchmarkLoad1M measures one Apply of 1,000,000 IPv4 bans with timeouts
// into a fresh namespace's empty table: the agent's worst start. Besides
// wall time it reports the process's CPU time (user-s/op, sys-s/op; the
// kernel's work on the batch is system time), which does not depend on the machine's load.
func BenchmarkLoad1M(b *testing.B) {
	const n = 1_000_000
	now := time.Now()
	ds := decisions(n, now)
	var used cpu
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		_, fd := herdtest.NewNetns(b)
		f := newFirewall(b, fd, Options{})
		b.StartTimer()
		cpu0 := cpuTime()
		if err := f.Apply(event.Change{Add: ds}, now); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		used = used.add(cpuTime().sub(cpu0))
		// Not List: dumping a set costs the kernel time quadratic in its
		// size. Ask for the first and last elements instead.
		for _, i := range []int{0, n - 1} {
			a := ds[i].Scope.Addr().As4()
			got, err := f.conn.FindSetElements(f.ban4, []nftables.SetElement{{Key: a[:]}})
			if err != nil || len(got) != 1 {
				b.Fatalf("kernel lacks %s: %v", ds[i].Scope, err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "elems/s")
	b.ReportMetric(used.user.Seconds()/float64(b.N), "user-s/op")
	b.ReportMetric(used.sys.Seconds()/float64(b.N), "sys-s/op")
}

// BenchmarkReconcile1M measures the agent's start with 1,000,000 live bans:
// Reconcile into an empty table ("empty") and into a table already holding
// them ("full", a restart).
func BenchmarkReconcile1M(b *testing.B) {
	const n = 1_000_000
	for _, full := range []bool{false, true} {
		name := "empty"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			now := time.Now()
			ds := decisions(n, now)
			var used cpu
			for range b.N {
				b.StopTimer()
				_, fd := herdtest.NewNetns(b)
				f := newFirewall(b, fd, Options{})
				if full {
					if err := f.Apply(event.Change{Add: ds}, now); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				cpu0 := cpuTime()
				if err := f.Reconcile(ds, now); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				used = used.add(cpuTime().sub(cpu0))
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "elems/s")
			b.ReportMetric(used.user.Seconds()/float64(b.N), "user-s/op")
			b.ReportMetric(used.sys.Seconds()/float64(b.N), "sys-s/op")
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system: the
// kernel applies a netlink batch in the sender's system time, so this is the
// cost of a load even when other work on the machine stretches wall time.
func cpuTime() cpu {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return cpu{}
	}
	return cpu{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// cpu is user and system CPU time.
type cpu struct{ user, sys time.Duration }

func (c cpu) sub(d cpu) cpu { return cpu{c.user - d.user, c.sys - d.sys} }
func (c cpu) add(d cpu) cpu { return cpu{c.user + d.user, c.sys + d.sys} }

// BenchmarkApplyOne measures the latency of Apply with a single new ban, as
// the agent sends one when a scenario fires: p50 and p99 over 1,000 adds,
// into an empty table and into one holding 1,000,000 bans.
func BenchmarkApplyOne(b *testing.B) {
	for _, pre := range []int{0, 1_000_000} {
		name := "empty"
		if pre > 0 {
			name = "1M"
		}
		b.Run(name, func(b *testing.B) {
			now := time.Now()
			var all []time.Duration
			for range b.N {
				b.StopTimer()
				_, fd := herdtest.NewNetns(b)
				f := newFirewall(b, fd, Options{})
				if pre > 0 {
					if err := f.Apply(event.Change{Add: decisions(pre, now)}, now); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for i := range 1000 {
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
		})
	}
}
