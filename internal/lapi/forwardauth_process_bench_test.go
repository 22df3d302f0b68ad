package lapi

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkForwardAuthProcess serves forward-auth on loopback through the
// API's net/http server ("nethttp") and through the dedicated listener
// ("listener"), and drives each with tools/httpload, a separate process
// keeping -c keep-alive connections busy (one request in flight each).
// Build the generator first and name it in HTTPLOAD; HTTPLOAD_ARGS adds
// flags (default "-c 16 -d 3s"). It reports the generator's requests/s and
// latency percentiles, and the server process's CPU time per request
// (including the generator's warm-up, so a little high); generator and server
// share the machine's CPUs.
//
//	go build -o httpload ./tools/httpload
//	HTTPLOAD=$PWD/httpload go test -run '^$' -bench ForwardAuthProcess -benchtime 1x ./internal/lapi/
func BenchmarkForwardAuthProcess(b *testing.B) {
	bin := os.Getenv("HTTPLOAD")
	if bin == "" {
		b.Skip("HTTPLOAD names no load generator (go build ./tools/httpload)")
	}
	args := strings.Fields(os.Getenv("HTTPLOAD_ARGS"))
	if len(args) == 0 {
		args = []string{"-c", "16", "-d", "3s"}
	}
	f := benchFixture(b, Options{})
	base := f.serve() // keeps the mirror loaded
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeForwardAuth(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	targets := []struct{ name, addr string }{
		{"nethttp", strings.TrimPrefix(base, "http://")},
		{"listener", ln.Addr().String()},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			for range b.N {
				cmd := exec.Command(bin, append([]string{"-addr", tg.addr, "-H", "X-Api-Key: " + testKey,
					"-H", "X-Forwarded-For: 192.0.2.8"}, args...)...)
				cpu0 := cpuTime()
				out, err := cmd.Output()
				cpu := cpuTime() - cpu0
				if err != nil {
					b.Fatalf("%s: %v\n%s", bin, err, out)
				}
				kv := map[string]string{}
				for _, f := range strings.Fields(string(out)) {
					if k, v, ok := strings.Cut(f, "="); ok {
						kv[k] = v
					}
				}
				if kv["errors"] != "0" || !strings.HasPrefix(kv["statuses"], "200:") || strings.Contains(kv["statuses"], ",") {
					b.Fatalf("unexpected answers: %s", out)
				}
				b.Logf("%s", strings.TrimSpace(string(out)))
				rps, _ := strconv.ParseFloat(kv["rps"], 64)
				b.ReportMetric(rps, "req/s")
				if n, _ := strconv.Atoi(kv["requests"]); n > 0 && cpu > 0 {
					// The server's process only (warm-up included), per
					// measured request: what it costs herd.
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "server-cpu-ns/req")
				}
				for _, q := range []string{"p50", "p99"} {
					if d, err := time.ParseDuration(kv[q]); err == nil {
						b.ReportMetric(float64(d.Microseconds()), q+"-µs")
					}
				}
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}
