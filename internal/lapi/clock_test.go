package lapi

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// readLines returns the raw lines of the push stream at url, comments
// (keep-alives) included, until it ends.
func readLines(t *testing.T, ctx context.Context, url string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push stream: %d", resp.StatusCode)
	}
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// lineWith waits (10 s at most, on the system clock) for a line starting
// with prefix and returns the lines seen before it.
func lineWith(t *testing.T, ch <-chan string, prefix string) []string {
	t.Helper()
	var skipped []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return skipped
			}
			skipped = append(skipped, l)
		case <-timeout:
			t.Fatalf("no line %q within 10s", prefix)
		}
	}
}

// noLineWith fails when a line starting with prefix arrives within d.
func noLineWith(t *testing.T, ch <-chan string, prefix string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l := <-ch:
			if strings.HasPrefix(l, prefix) {
				t.Fatalf("unexpected line %q", l)
			}
		case <-timeout:
			return
		}
	}
}

func waitWaits(t *testing.T, clk *clock.Fake, ok func([]time.Duration) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(clk.Waits()); {
		if time.Now().After(deadline) {
			t.Fatalf("fake clock waits %v: not the expected wait", clk.Waits())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRefreshAndKeepAliveOnTheClock: a change made in the store without a
// Notify (by another process) reaches the push stream at the next Refresh
// of the server's clock, not before; a quiet stream gets a keep-alive
// every KeepAlive of that clock.
func TestRefreshAndKeepAliveOnTheClock(t *testing.T) {
	clk := clock.NewFake(t0)
	f := newFixture(t, Options{Time: clk, Refresh: time.Minute, KeyRefresh: time.Hour, KeepAlive: 25 * time.Second})
	base := f.serve()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := readLines(t, ctx, base+"/v1/herd/stream")
	lineWith(t, lines, "event: ready")
	// The refresh and key tickers of Run, and the stream's keep-alive.
	waitWaits(t, clk, func(w []time.Duration) bool {
		return slices.Equal(w, []time.Duration{25 * time.Second, time.Minute, time.Hour})
	})
	f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd") // no Notify

	clk.Advance(25*time.Second - time.Nanosecond)
	noLineWith(t, lines, ":", 20*time.Millisecond)
	clk.Advance(time.Nanosecond)
	if skipped := lineWith(t, lines, ": keep-alive"); len(slices.DeleteFunc(skipped, func(s string) bool { return s == "" })) != 0 {
		t.Fatalf("before the keep-alive: %q", skipped)
	}
	clk.Advance(35*time.Second - time.Nanosecond) // one more keep-alive, at 50 s
	noLineWith(t, lines, "event:", 20*time.Millisecond)
	clk.Advance(time.Nanosecond)
	lineWith(t, lines, "event: delta")
}
