package lapi

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// benchFixture holds 10,000 address bans and 16 range bans, as a busy
// host's local decisions plus part of a community list.
func benchFixture(b *testing.B, o Options) *fixture {
	f := newFixture(b, o)
	var ds []storeDecision
	for i := range 10000 {
		ds = append(ds, banRecord(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)))
	}
	for i := range 16 {
		ds = append(ds, banRecord(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 0}), 24)))
	}
	if _, err := f.st.AddDecisions(f.ctx, ds); err != nil {
		b.Fatal(err)
	}
	return f
}

// clients are the forwarded addresses the benchmarks ask about: one banned
// address, one in a banned range, two clean.
var benchClients = []string{"10.0.1.1", "198.51.3.77", "192.0.2.8", "203.0.113.200"}

// BenchmarkForwardAuthHandler measures the handler alone: a request from a
// loopback proxy with X-Forwarded-For, answered from the mirror.
func BenchmarkForwardAuthHandler(b *testing.B) {
	f := benchFixture(b, Options{})
	f.sync()
	h := f.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() {
		if cpu := cpuTime() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		rec := newRecorder()
		var reqs []*http.Request
		for _, c := range benchClients {
			req := newRequest("/v1/forward-auth", "127.0.0.1:4444")
			req.Header.Set("X-Api-Key", testKey)
			req.Header.Set("X-Forwarded-For", c)
			reqs = append(reqs, req)
		}
		i := 0
		for pb.Next() {
			rec.reset()
			h.ServeHTTP(rec, reqs[i%len(reqs)])
			i++
		}
	})
}

// BenchmarkForwardAuthLoopback measures whole requests through a real
// loopback listener: Go clients with keep-alive, 4 goroutines per CPU
// (GOMAXPROCS), each on its own connection. It reports requests/s; client
// and server share the machine's CPUs.
func BenchmarkForwardAuthLoopback(b *testing.B) {
	f := benchFixture(b, Options{})
	base := f.serve()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := base + "/v1/forward-auth"
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		var reqs []*http.Request
		for _, cl := range benchClients {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-Api-Key", testKey)
			req.Header.Set("X-Forwarded-For", cl)
			reqs = append(reqs, req)
		}
		i := 0
		for pb.Next() {
			resp, err := c.Do(reqs[i%len(reqs)])
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if want := []int{403, 403, 200, 200}[i%len(reqs)]; resp.StatusCode != want {
				b.Errorf("client %s: %d, want %d", benchClients[i%len(reqs)], resp.StatusCode, want)
				return
			}
			i++
		}
	})
	wall, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(b.N)/wall.Seconds(), "req/s")
	if cpu > 0 {
		// Client and server together: what one idle core would serve
		// while also running the client.
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "req/cpu-s")
	}
}

// BenchmarkForwardAuthLoopbackRaw is BenchmarkForwardAuthLoopback with a
// minimal client: each goroutine keeps one TCP connection, writes a
// prepared HTTP/1.1 request and reads the response head, so that the figure
// is mostly the server's (net/http and the handler).
func BenchmarkForwardAuthLoopbackRaw(b *testing.B) {
	f := benchFixture(b, Options{})
	base := f.serve()
	benchRaw(b, strings.TrimPrefix(base, "http://"), []string{"HTTP/1.1 403", "HTTP/1.1 403", "HTTP/1.1 200", "HTTP/1.1 200"})
}

// BenchmarkLoopbackBaseline is BenchmarkForwardAuthLoopbackRaw against a
// net/http server whose handler only answers 200: the floor that net/http
// and the loopback device set on this machine.
func BenchmarkLoopbackBaseline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go hs.Serve(ln)
	defer hs.Close()
	benchRaw(b, ln.Addr().String(), []string{"HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200"})
}

// benchRaw drives the server at addr with the forward-auth requests of
// benchClients, expecting the status lines want.
func benchRaw(b *testing.B, addr string, want []string) {
	var reqs [][]byte
	for _, cl := range benchClients {
		reqs = append(reqs, []byte("GET /v1/forward-auth HTTP/1.1\r\nHost: herd\r\nX-Api-Key: "+testKey+
			"\r\nX-Forwarded-For: "+cl+"\r\n\r\n"))
	}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		i := 0
		for pb.Next() {
			k := i % len(reqs)
			if _, err := conn.Write(reqs[k]); err != nil {
				b.Error(err)
				return
			}
			status, err := br.ReadSlice('\n')
			if err != nil || !bytes.HasPrefix(status, []byte(want[k])) {
				b.Errorf("client %s: %q %v, want %s", benchClients[k], status, err, want[k])
				return
			}
			for { // the head ends with an empty line; there is no body
				line, err := br.ReadSlice('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			i++
		}
	})
	wall, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(b.N)/wall.Seconds(), "req/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "req/cpu-s")
	}
}
