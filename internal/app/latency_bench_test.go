package app_test

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/herdtest"
)

// BenchmarkLineToDrop measures the agent's whole live path: the time from
// the append of the line that overflows ssh-bruteforce for a new source to
// that source being an element of the kernel's ban set, over b.N distinct
// attackers (run it with -benchtime 1000x or more). The real agent follows a
// real file and programs nftables in a network namespace the benchmark
// creates; each attack writes the first five failures in one write, waits
// 2 ms, then, timed, writes the sixth.
//
// Two ways of seeing the element arrive: "notify" listens to the kernel's
// nftables notifications (a netlink multicast the kernel sends when the
// transaction adding the element commits), which costs no CPU while waiting;
// "poll" asks the kernel for the one element in a tight loop, which is exact
// but keeps a CPU busy that the agent would otherwise use. It reports the
// p50, p90, p99 and max latency.
//
// It needs root and nftables, and skips otherwise.
func BenchmarkLineToDrop(b *testing.B) {
	b.Run("notify", func(b *testing.B) { benchLineToDrop(b, false) })
	b.Run("poll", func(b *testing.B) { benchLineToDrop(b, true) })
}

func benchLineToDrop(b *testing.B, poll bool) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (nftables in a network namespace)")
	}
	dir := b.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(b, logPath, "")
	_, fd := herdtest.NewNetns(b)
	cfg := testConfig(dir, logPath)

	// The agent, in the background; ready once its table is programmed.
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- app.RunAgent(ctx, app.AgentOptions{
			Config: cfg, NetNS: fd, FromStart: true,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Getenv: func(string) string { return "" },
			Ready:  func() { close(ready) },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("agent: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("agent stopped before ready: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		b.Fatal("agent not ready after 30s")
	}
	if strings.Contains(logs.String(), "dry-run") {
		b.Skipf("the agent runs dry (no nftables here):\n%s", logs)
	}

	conn, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		b.Fatal(err)
	}
	set := &nftables.Set{Table: &nftables.Table{Name: cfg.Firewall.Table, Family: nftables.TableFamilyINet}, Name: "ban4", KeyType: nftables.TypeIPAddr}
	inSet := func(a netip.Addr) bool {
		k := a.As4()
		got, err := conn.FindSetElements(set, []nftables.SetElement{{Key: k[:]}})
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			b.Fatalf("looking up %s: %v", a, err)
		}
		return err == nil && len(got) == 1
	}

	// The kernel's notifications of new elements, with when they arrived.
	type seen struct {
		a  netip.Addr
		at time.Time
	}
	arrived := make(chan seen, 64)
	if !poll {
		mon := nftables.NewMonitor(nftables.WithMonitorObject(nftables.MonitorObjectElements), nftables.WithMonitorAction(nftables.MonitorActionNew))
		events, err := conn.AddMonitor(mon)
		if err != nil {
			b.Fatal(err)
		}
		defer mon.Close()
		go func() {
			for ev := range events {
				at := time.Now()
				if ev.Type != nftables.MonitorEventTypeNewSetElem {
					continue
				}
				elems, _ := ev.Data.([]nftables.SetElement)
				for _, e := range elems {
					if a, ok := netip.AddrFromSlice(e.Key); ok {
						arrived <- seen{a, at}
					}
				}
			}
		}()
	}

	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	lat := make([]time.Duration, 0, b.N)
	var burst []byte
	b.ResetTimer()
	for i := range b.N {
		// 198.19.0.0/16 and up: distinct, never a host address.
		var k [4]byte
		binary.BigEndian.PutUint32(k[:], 198<<24|19<<16+uint32(i)+1)
		src := netip.AddrFrom4(k)
		burst = burst[:0]
		for j := range 5 {
			burst = append(burst, sshdLine(src, 40000+j)...)
		}
		if _, err := f.Write(burst); err != nil {
			b.Fatal(err)
		}
		// Let the agent read the five before the sixth comes, as it
		// would when an attacker's attempts are seconds apart.
		time.Sleep(2 * time.Millisecond)
		last := []byte(sshdLine(src, 40005))
		start := time.Now()
		if _, err := f.Write(last); err != nil {
			b.Fatal(err)
		}
		deadline := start.Add(5 * time.Second)
		if poll {
			for !inSet(src) {
				if time.Now().After(deadline) {
					b.Fatalf("attack %d: %s not in the set after 5s\n%s", i, src, tail(logs.String(), 2000))
				}
			}
			lat = append(lat, time.Since(start))
			continue
		}
		timeout := time.After(5 * time.Second)
	wait:
		for {
			select {
			case s := <-arrived:
				if s.a == src {
					lat = append(lat, s.at.Sub(start))
					break wait
				}
			case <-timeout:
				b.Fatalf("attack %d: no notification of %s after 5s\n%s", i, src, tail(logs.String(), 2000))
			}
		}
		if !inSet(src) {
			b.Fatalf("attack %d: notified of %s, which is not in the set", i, src)
		}

	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.90), "p90-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1e3, "max-ms")
	b.ReportMetric(0, "ns/op")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
