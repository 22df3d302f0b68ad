// Command httpload drives an HTTP/1.1 server with keep-alive requests from N
// connections, one request in flight on each (no pipelining), and reports
// requests per second and latency percentiles. It is herd's load generator
// for the forward-auth endpoint: a separate process, so that the server's
// figures are not measured from inside the server's own runtime.
//
//	httpload -addr 127.0.0.1:8080 -path /v1/forward-auth -c 16 -d 5s \
//		-H 'X-Api-Key: KEY' -H 'X-Forwarded-For: 192.0.2.8'
//
// Requests are prepared once and written as bytes; a response is read up to
// the end of its head, and its body by Content-Length (chunked bodies are
// not supported: forward-auth answers have none). The first -warmup of the
// run is not counted. The output is one line of key=value pairs.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address, host:port")
	path := flag.String("path", "/v1/forward-auth", "request path")
	method := flag.String("method", "GET", "request method")
	conns := flag.Int("c", 16, "connections, each with one request in flight")
	dur := flag.Duration("d", 5*time.Second, "measured duration")
	warm := flag.Duration("warmup", 500*time.Millisecond, "time before measuring")
	var hs headers
	flag.Var(&hs, "H", "request header 'Name: value' (repeatable)")
	flag.Parse()
	if *conns < 1 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "httpload: -c must be ≥ 1 and -d > 0")
		os.Exit(2)
	}
	req := request(*method, *path, *addr, hs)
	r, err := run(*addr, req, *conns, *warm, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
	fmt.Println(r)
}

// request is the bytes of one request.
func request(method, path, host string, hs []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for _, h := range hs {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// result is what a run measured.
type result struct {
	conns    int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	statuses map[int]int
	errs     int
}

func (r result) String() string {
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	var st []string
	for _, code := range slices.Sorted(func(yield func(int) bool) {
		for c := range r.statuses {
			if !yield(c) {
				return
			}
		}
	}) {
		st = append(st, fmt.Sprintf("%d:%d", code, r.statuses[code]))
	}
	n := len(r.lat)
	return fmt.Sprintf("conns=%d requests=%d seconds=%.2f rps=%.0f p50=%v p90=%v p99=%v max=%v statuses=%s errors=%d",
		r.conns, n, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds(),
		q(0.5), q(0.9), q(0.99), q(1), strings.Join(st, ","), r.errs)
}

// run opens conns connections and sends req on each until warm+dur has
// passed, counting the requests that complete within the measured window.
func run(addr string, req []byte, conns int, warm, dur time.Duration) (result, error) {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return result{}, err
		}
		cs[i] = c
	}
	var measuring, stop atomic.Bool
	type worker struct {
		lat      []time.Duration
		statuses map[int]int
		errs     int
	}
	ws := make([]worker, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			w := &ws[i]
			w.statuses = map[int]int{}
			br := bufio.NewReaderSize(c, 4096)
			for !stop.Load() {
				t0 := time.Now()
				if _, err := c.Write(req); err != nil {
					w.errs++
					return
				}
				code, err := readResponse(br)
				if err != nil {
					w.errs++
					return
				}
				if measuring.Load() {
					w.lat = append(w.lat, time.Since(t0))
					w.statuses[code]++
				}
			}
		}()
	}
	time.Sleep(warm)
	start := time.Now()
	measuring.Store(true)
	time.Sleep(dur)
	measuring.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	r := result{conns: conns, elapsed: elapsed, statuses: map[int]int{}}
	for _, w := range ws {
		r.lat = append(r.lat, w.lat...)
		for c, n := range w.statuses {
			r.statuses[c] += n
		}
		r.errs += w.errs
	}
	slices.Sort(r.lat)
	return r, nil
}

// readResponse reads one response head and its Content-Length body, and
// returns the status code.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad status line %q", line)
		}
		code = code*10 + int(c-'0')
	}
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 { // the empty line ending the head
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil || length < 0 {
				return 0, errors.New("bad Content-Length")
			}
		}
	}
	if _, err := br.Discard(length); err != nil {
		return 0, fmt.Errorf("body: %w", err)
	}
	return code, nil
}
