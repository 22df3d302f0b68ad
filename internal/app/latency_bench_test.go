package app_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/store"
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

// BenchmarkAgentFollow measures the agent's throughput on a followed file:
// b.N sshd lines (one in 20 a failed password from one of 4,096 sources,
// the rest accepted logins), written in 64 KiB appends to a file renamed
// away and replaced every 100,000 lines, read by the real agent (dry run:
// no firewall, so it needs no root) that parses, detects and commits alerts
// and offsets to SQLite (and bans sources that fail six times within ten
// seconds, reported as bans). The clock stops when the store holds the offset of
// the last byte. It reports lines/s and the growth of the heap in use
// between the agent's start and the end (after a GC), which stays flat
// whatever b.N.
func BenchmarkAgentFollow(b *testing.B) {
	const rotateEvery = 100_000
	dir := b.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(b, logPath, "")
	cfg := testConfig(dir, logPath)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	logs := &syncBuffer{}
	go func() {
		done <- app.RunAgent(ctx, app.AgentOptions{
			Config: cfg, DryRun: true, FromStart: true,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
	}
	st, err := store.Open(context.Background(), store.Options{Driver: "sqlite", DSN: cfg.Database.DSN})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	heap0 := heapInUse()

	b.ResetTimer()
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64<<10)
	var size int64
	stamp := time.Now().UTC().Format(time.Stamp)
	for i := range b.N {
		if i%rotateEvery == 0 && i > 0 {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
			f.Close()
			if err := os.Rename(logPath, logPath+".1"); err != nil {
				b.Fatal(err)
			}
			if f, err = os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
				b.Fatal(err)
			}
			size = 0
			stamp = time.Now().UTC().Format(time.Stamp)
		}
		n := len(buf)
		buf = append(buf, stamp...)
		if i%20 == 0 {
			src := uint32(i/20) % (1 << 12)
			buf = fmt.Appendf(buf, " victim sshd[%d]: Failed password for invalid user admin from 10.%d.%d.%d port %d ssh2\n",
				1000+i%30000, src>>16, src>>8&255, src&255, 1024+i%60000)
		} else {
			buf = fmt.Appendf(buf, " victim sshd[%d]: Accepted publickey for alice from 192.0.2.%d port %d ssh2: ED25519 SHA256:abc\n",
				1000+i%30000, i%250+1, 1024+i%60000)
		}
		size += int64(len(buf) - n)
		if len(buf) > cap(buf)-256 {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		b.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	f.Close()
	for {
		offs, err := st.Offsets(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if slices.ContainsFunc(offs, func(o store.Offset) bool { return o.Source == logPath && o.Inode == ino && o.Offset == size }) {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("agent stopped: %v\n%s", err, logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(live)), "bans")
	heap := heapInUse()
	b.ReportMetric(float64(heap-heap0)/(1<<20), "heap-growth-MiB")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}

// heapInUse is the heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
