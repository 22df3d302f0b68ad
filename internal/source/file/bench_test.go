package file

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFollow measures lines per second followed from a file that a
// writer appends ~100-byte lines to and rotates (rename, then delete) every
// 100,000 lines. One op is one line; allocations are the follower's and the
// writer's together. It reports the heap in use at the end, which stays flat
// whatever b.N (live-heap-growth-KiB, measured after a GC while Run still
// runs): the follower holds one read buffer, not the backlog.
func BenchmarkFollow(b *testing.B) {
	const rotateEvery = 100_000
	dir := b.TempDir()
	p := filepath.Join(dir, "app.log")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := New(Options{Globs: []string{p}, FromStart: true, Poll: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	done := make(chan struct{})
	total := int64(b.N)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		runErr <- f.Run(ctx, func(l Line) error {
			if seen.Add(1) == total {
				close(done)
			}
			return nil
		})
	}()

	writeErr := make(chan error, 1)
	go func() { writeErr <- writeRotating(p, b.N, rotateEvery, &seen) }()
	select {
	case <-done:
	case err := <-writeErr:
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("followed %d of %d lines", seen.Load(), total)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC() // while Run still holds its state
	runtime.ReadMemStats(&after)
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "live-heap-MiB")
	b.ReportMetric(float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))/(1<<10), "live-heap-growth-KiB")
	if st := f.Stats(); st.Lines != uint64(b.N) {
		b.Fatalf("stats %+v, want %d lines", st, b.N)
	}
}

// writeRotating writes n numbered lines to p, renaming p away and deleting
// it every rotateEvery lines once the follower has read a line of the
// current file.
func writeRotating(p string, n, rotateEvery int, seen *atomic.Int64) error {
	open := func() (*os.File, *bufio.Writer, error) {
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		return w, bufio.NewWriterSize(w, 64<<10), nil
	}
	w, bw, err := open()
	if err != nil {
		return err
	}
	line := []byte("Nov 23 08:25:28 host sshd[1234]: Failed password for invalid user admin from 192.0.2.7 port ")
	prefix := len(line)
	for i := 0; i < n; i++ {
		if i > 0 && i%rotateEvery == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			for seen.Load() <= int64(i-rotateEvery) { // the follower has this file open
				time.Sleep(100 * time.Microsecond)
			}
			w.Close()
			old := fmt.Sprintf("%s.%d", p, i)
			if err := os.Rename(p, old); err != nil {
				return err
			}
			if err := os.Remove(old); err != nil { // read on through the follower's descriptor
				return err
			}
			if w, bw, err = open(); err != nil {
				return err
			}
		}
		line = strconv.AppendInt(line[:prefix], int64(i), 10)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return w.Close()
}
