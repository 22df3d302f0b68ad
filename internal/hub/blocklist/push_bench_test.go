package blocklist

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPush measures the push half of the community blocklist: N
// followers (HERD_PUSH_AGENTS, default 10,000), each with its own loopback
// TCP connection to the handler, verify every delta; each iteration lists
// one address on the hub (with Notify, as the hub does) and waits until
// every follower has verified and applied it. It reports the distribution
// of the time from listing to a follower's Apply over all followers and
// iterations (p50, p99, max) and the time to every agent per change (p50,
// max). Run it with a fixed count of changes:
//
//	go test -run '^$' -bench Push -benchtime 20x ./internal/hub/blocklist/
func BenchmarkPush(b *testing.B) {
	n := 10_000
	if v := os.Getenv("HERD_PUSH_AGENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("HERD_PUSH_AGENTS=%q", v)
		}
	}
	// The hub runs in a child process (TestPushHubChild), as it would on
	// its own machine: each process then holds one descriptor per follower.
	raiseNoFile(b, uint64(n+1024))
	hubURL, list := startPushHub(b, n)
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: n,
		DisableCompression:  true,
		ReadBufferSize:      4096,
		WriteBufferSize:     1024,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	var (
		target  atomic.Uint64
		t0      atomic.Int64
		done    atomic.Int64
		allDone = make(chan struct{}, 1)
		lat     = make([]time.Duration, n)
		ver     = make([]uint64, n)
		started atomic.Int64
	)
	apply := func(i int) func(context.Context, Update) error {
		return func(_ context.Context, u Update) error {
			old := ver[i]
			ver[i] = u.Version
			if old == 0 {
				started.Add(1)
			}
			if tg := target.Load(); tg != 0 && old < tg && u.Version >= tg {
				lat[i] = time.Duration(time.Now().UnixNano() - t0.Load())
				if done.Add(1) == int64(n) {
					allDone <- struct{}{}
				}
			}
			return nil
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256) // connects in flight, to spare the accept queue
	for i := range n {
		var once sync.Once
		f, err := NewFollower(FollowerOptions{URL: hubURL, PublicKey: pub, Client: client, Apply: apply(i),
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			Connected: func(error) { once.Do(func() { <-sem }) }})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			_ = f.Run(ctx)
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for started.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("after 5 min, %d of %d followers started", started.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var all, every []time.Duration
	b.ResetTimer()
	for i := range b.N {
		done.Store(0)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)
		target.Store(uint64(i) + 2) // the hub's log starts at version 1
		t0.Store(time.Now().UnixNano())
		list(p)
		select {
		case <-allDone:
		case <-time.After(time.Minute):
			b.Fatalf("change %d: %d of %d followers after 1 min", i, done.Load(), n)
		}
		every = append(every, time.Duration(time.Now().UnixNano()-t0.Load()))
		all = append(all, lat...)
	}
	b.StopTimer()
	slices.Sort(all)
	slices.Sort(every)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(pct(all, 50)), "p50-ms")
	b.ReportMetric(ms(pct(all, 99)), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "max-ms")
	b.ReportMetric(ms(pct(every, 50)), "every-p50-ms")
	b.ReportMetric(ms(every[len(every)-1]), "every-max-ms")
	b.ReportMetric(float64(n), "agents")
	cancel()
	wg.Wait()
}

// startPushHub starts the hub of BenchmarkPush in a child process and
// returns its URL and a function that lists one address on it.
func startPushHub(b *testing.B, n int) (string, func(netip.Prefix)) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPushHubChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HERD_PUSH_HUB=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("push hub: %v", err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "hub "))
	ctl := &http.Client{Transport: &http.Transport{}}
	return base, func(p netip.Prefix) {
		resp, err := ctl.Post(base+"/list?p="+p.String(), "", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("push hub: list: %s", resp.Status)
		}
	}
}

// TestPushHubChild is BenchmarkPush's hub: it runs only in the child
// process the benchmark starts, serves the blocklist over a MemLog on
// loopback, lists what POST /list?p= names, and stops when stdin closes.
func TestPushHubChild(t *testing.T) {
	if os.Getenv("HERD_PUSH_HUB") != "1" {
		t.Skip("the hub of BenchmarkPush; runs only in its child process")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	log := NewMemLog()
	log.List(netip.MustParsePrefix("192.0.2.0/32"))
	srv, err := NewServer(ServerOptions{Log: log, Key: testKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("/v1/blocklist/", srv)
	mux.HandleFunc("POST /list", func(w http.ResponseWriter, r *http.Request) {
		p, err := netip.ParsePrefix(r.URL.Query().Get("p"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.List(p)
		srv.Notify()
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("hub http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintf(os.Stderr, "push hub: %d subscribers dropped for falling behind\n", srv.Dropped())
	cancel()
	_ = hs.Close()
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// raiseNoFile raises this process's open-file limit to at least want
// (the hard limit too, which needs root); the benchmark holds two
// descriptors per follower.
func raiseNoFile(b *testing.B, want uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skip(fmt.Sprintf("open-file limit below %d and cannot be raised: %v", want, err))
	}
}
