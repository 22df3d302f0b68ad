package store

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// benchDecisions returns n distinct live decisions starting at number from:
// one in eight an IPv6 /64, the rest IPv4 /32, over five scenarios.
func benchDecisions(from, n int) []DecisionRecord {
	scenarios := [...]string{"ssh-bf", "ssh-slow-bf", "http-probing", "http-crawl", "port-scan"}
	ds := make([]DecisionRecord, n)
	for i := range ds {
		k := uint32(from + i)
		var scope netip.Prefix
		if k%8 == 7 {
			scope = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}), 64)
		} else {
			scope = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + k>>24), byte(k >> 16), byte(k >> 8), byte(k)}), 32)
		}
		ds[i] = DecisionRecord{Decision: event.Decision{
			Type: event.Ban, Scope: scope, Duration: 4 * time.Hour, Until: t0.Add(4 * time.Hour),
			Scenario: scenarios[k%5], Origin: "herd",
		}, AlertID: int64(k)}
	}
	return ds
}

// cpuTime returns the user and system CPU time this process has used. On a
// shared machine the benchmarks report it beside wall time: it does not grow
// when other processes take the cores (PostgreSQL's own work is not in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func eachBenchBackend(b *testing.B, f func(b *testing.B, be backend)) {
	b.Run("sqlite", func(b *testing.B) { f(b, sqliteBackend) })
	b.Run("postgres", func(b *testing.B) { f(b, needPostgres(b)) })
}

// BenchmarkAddDecisions stores batches of 1,000 new decisions, one
// transaction each, into a growing table.
func BenchmarkAddDecisions(b *testing.B) {
	const batch = 1000
	eachBenchBackend(b, func(b *testing.B, be backend) {
		s := be.open(b, nil)
		b.ReportAllocs()
		cpu := cpuTime()
		n := 0
		for b.Loop() {
			// Fresh addresses each batch, as in production; making them
			// costs about 1% of the time measured.
			if _, err := s.AddDecisions(ctx, benchDecisions(n, batch)); err != nil {
				b.Fatal(err)
			}
			n += batch
		}
		cpu = cpuTime() - cpu
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "decisions/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkLiveDecisions1M loads all live decisions from a table of
// 1,000,000, as the agent does at start before it reads any line.
func BenchmarkLiveDecisions1M(b *testing.B) {
	const rows, batch = 1_000_000, 10_000
	eachBenchBackend(b, func(b *testing.B, be backend) {
		s := be.open(b, nil)
		start := time.Now()
		for i := 0; i < rows; i += batch {
			if _, err := s.AddDecisions(ctx, benchDecisions(i, batch)); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("%s: loaded %d decisions in %v (%.0f/s)", be.name, rows, time.Since(start), rows/time.Since(start).Seconds())
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for b.Loop() {
			ds, err := s.LiveDecisions(ctx, t0)
			if err != nil {
				b.Fatal(err)
			}
			if len(ds) != rows {
				b.Fatalf("%d live decisions, want %d", len(ds), rows)
			}
		}
		cpu = cpuTime() - cpu
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "decisions/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}
