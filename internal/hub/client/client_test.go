package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// rawHub is a listener that records every request's raw bytes and answers
// 200 (or code).
type rawHub struct {
	ln   net.Listener
	mu   sync.Mutex
	raw  [][]byte
	reqs []*http.Request
	body [][]byte
	code int
}

func startRawHub(t *testing.T) *rawHub {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rawHub{ln: ln, code: 200}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

// tee records what the request reader consumes.
type tee struct {
	r   io.Reader
	buf *bytes.Buffer
}

func (t tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (h *rawHub) serve(c net.Conn) {
	defer c.Close()
	var buf bytes.Buffer
	br := bufio.NewReader(tee{c, &buf})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		// What the reader buffered past this request belongs to the next.
		raw := buf.Bytes()[:buf.Len()-br.Buffered()]
		h.mu.Lock()
		h.raw = append(h.raw, bytes.Clone(raw))
		h.reqs = append(h.reqs, req)
		h.body = append(h.body, body)
		code := h.code
		h.mu.Unlock()
		rest := bytes.Clone(buf.Bytes()[len(raw):])
		buf.Reset()
		buf.Write(rest)
		io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(code)+" X\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
	}
}

func (h *rawHub) requests() ([][]byte, []*http.Request, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.raw), slices.Clone(h.reqs), slices.Clone(h.body)
}

// TestExactBytes captures what an agent sends to the hub and fails on any
// field beyond the specified ones: the request line, Host (the hub's own
// name), User-Agent "herd/<version>", Content-Length, Content-Type, Herd-Auth; the
// enrollment body is the 32-byte public key and the signal body holds
// exactly 1 + 10 bytes per IPv4 signal (source, class, minute).
func TestExactBytes(t *testing.T) {
	hub := startRawHub(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c, err := New(Options{URL: "http://" + hub.ln.Addr().String(), Key: key, FlushEvery: 20 * time.Millisecond,
		Version: "1.2.3-rc.1+dirty", Time: clock.Func(func() time.Time { return time.Unix(1_795_000_000, 0) })})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	c.Report(wire.Signal{Source: netip.MustParseAddr("81.2.69.160"), Class: wire.SSHBruteforce, Minute: 29_916_666})
	c.Report(wire.Signal{Source: netip.MustParseAddr("::ffff:81.2.69.161"), Class: wire.HTTPProbing, Minute: 29_916_667})
	c.Report(wire.Signal{Source: netip.MustParseAddr("81.2.69.160"), Class: wire.SSHBruteforce, Minute: 29_916_666}) // duplicate
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Sent < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("not sent: %+v", c.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	raws, reqs, bodies := hub.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	allowed := []string{"Host", "User-Agent", "Content-Length", "Content-Type", "Herd-Auth"}
	for i, raw := range raws {
		head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("request %d: no header end", i)
		}
		lines := strings.Split(string(head), "\r\n")
		wantLine := []string{"POST /v1/enroll HTTP/1.1", "POST /v1/signals HTTP/1.1"}[i]
		if lines[0] != wantLine {
			t.Errorf("request %d: %q", i, lines[0])
		}
		var names []string
		for _, l := range lines[1:] {
			name, val, _ := strings.Cut(l, ": ")
			names = append(names, name)
			switch name {
			case "Host":
				if val != hub.ln.Addr().String() {
					t.Errorf("Host %q", val)
				}
			case "User-Agent":
				if val != "herd/1.2.3-rc.1+dirty" {
					t.Errorf("User-Agent %q", val)
				}
			case "Content-Type":
				if want := []string{"application/octet-stream", wire.ContentType}[i]; val != want {
					t.Errorf("Content-Type %q", val)
				}
			case "Herd-Auth":
				a, err := wire.ParseAuth(val)
				if err != nil || !a.Verify(key.Public().(ed25519.PublicKey), "POST", reqs[i].URL.Path, bodies[i]) {
					t.Errorf("Herd-Auth %q: %v", val, err)
				}
			}
		}
		slices.Sort(names)
		want := slices.Clone(allowed)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("request %d headers %v, want exactly %v", i, names, want)
		}
		if !bytes.Equal(body, bodies[i]) {
			t.Errorf("request %d: chunked or altered body", i)
		}
	}
	if pub := key.Public().(ed25519.PublicKey); !bytes.Equal(bodies[0], pub) {
		t.Errorf("enroll body % x", bodies[0])
	}
	want := []byte{0x01,
		0x04, 81, 2, 69, 160, 1, 0x01, 0xc8, 0x7d, 0xfa,
		0x04, 81, 2, 69, 161, 2, 0x01, 0xc8, 0x7d, 0xfb,
	}
	if !bytes.Equal(bodies[1], want) {
		t.Errorf("signal body\n% x\nwant\n% x", bodies[1], want)
	}
}

// TestQueueBoundAndRetry: a hub that fails keeps the batch queued (nothing
// acknowledged is lost); a full queue drops and counts. It runs on a fake
// clock: each retry happens when the test moves the clock, not after a
// sleep.
func TestQueueBoundAndRetry(t *testing.T) {
	hub := startRawHub(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := clock.NewFake(epoch)
	c, err := New(Options{URL: "http://" + hub.ln.Addr().String(), Key: key, Queue: 3, FlushEvery: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.Report(wire.Signal{Source: netip.AddrFrom4([4]byte{81, 2, 69, byte(i)}), Class: wire.Portscan, Minute: 1})
	}
	if s := c.Stats(); s.Queued != 3 || s.Dropped != 2 {
		t.Fatalf("stats %+v", s)
	}
	hub.setCode(503)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Enroll fails, then a few sends: each waits its backoff on the clock.
	for range 4 {
		waitWaits(t, clk, func(w []time.Duration) bool { return len(w) > 0 && w[0] > 0 })
		clk.Advance(clk.Waits()[0])
	}
	waitWaits(t, clk, func(w []time.Duration) bool { return len(w) > 0 })
	if s := c.Stats(); s.Sent != 0 || s.Failures < 4 || s.Queued != 3 {
		t.Fatalf("with a failing hub: %+v", s)
	}
	hub.setCode(200)
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Sent < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("not sent after recovery: %+v", c.Stats())
		}
		if w := clk.Waits(); len(w) > 0 {
			clk.Advance(w[0])
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackoffDoublesOnTheClock: after each failure the client waits
// exactly its backoff, one second doubling up to MaxBackoff, and retries
// neither sooner nor later; a success starts the backoff over, and a
// failed send waits the same way with the flush ticker still running.
func TestBackoffDoublesOnTheClock(t *testing.T) {
	hub := startRawHub(t)
	hub.setCode(503)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := clock.NewFake(epoch)
	c, err := New(Options{URL: "http://" + hub.ln.Addr().String(), Key: key, FlushEvery: time.Minute, MaxBackoff: 8 * time.Second, Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		waitWaits(t, clk, func(w []time.Duration) bool { return slices.Equal(w, []time.Duration{d}) })
		if f := c.Stats().Failures; f != uint64(i+1) {
			t.Fatalf("enroll attempt %d: %d failures counted", i+1, f)
		}
		clk.Advance(d - time.Nanosecond)
		if w := clk.Waits(); !slices.Equal(w, []time.Duration{time.Nanosecond}) || c.Stats().Failures != uint64(i+1) {
			t.Fatalf("retried before its backoff: waits %v, %d failures", w, c.Stats().Failures)
		}
		if i == 4 {
			hub.setCode(200)
		}
		clk.Advance(time.Nanosecond)
	}
	// Enrolled: only the flush ticker waits.
	waitWaits(t, clk, func(w []time.Duration) bool { return slices.Equal(w, []time.Duration{time.Minute}) })
	hub.setCode(503)
	c.Report(wire.Signal{Source: netip.MustParseAddr("192.0.2.7"), Class: wire.Portscan, Minute: 1})
	clk.Advance(time.Minute)
	// The send failed: the backoff starts over at one second.
	waitWaits(t, clk, func(w []time.Duration) bool { return slices.Equal(w, []time.Duration{time.Second, time.Minute}) })
	hub.setCode(200)
	clk.Advance(time.Second)
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Sent != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("not sent after the backoff: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

var epoch = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

func (h *rawHub) setCode(code int) {
	h.mu.Lock()
	h.code = code
	h.mu.Unlock()
}

// waitWaits waits (on the system clock, 10 s at most) until the fake
// clock's pending waits satisfy ok: the goroutine under test has reached
// the wait the test means to end.
func waitWaits(t *testing.T, clk *clock.Fake, ok func([]time.Duration) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(clk.Waits()); {
		if time.Now().After(deadline) {
			t.Fatalf("fake clock waits %v: not the expected wait", clk.Waits())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClassOf(t *testing.T) {
	cases := map[string]wire.Class{
		"ssh-bruteforce": wire.SSHBruteforce, "http-probing": wire.HTTPProbing, "http-login-bruteforce": wire.HTTPBruteforce,
		"http-sqli-probing": wire.HTTPExploit, "mail-auth-bruteforce": wire.MailBruteforce, "postfix-relay-abuse": wire.MailAbuse,
		"ftp-bruteforce": wire.FTPBruteforce, "mysql-bruteforce": wire.DBBruteforce, "portscan": wire.Portscan,
		"http-wordpress-scan": wire.HTTPProbing,
	}
	for name, want := range cases {
		if got, ok := ClassOf(name); !ok || got != want {
			t.Errorf("ClassOf(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if _, ok := ClassOf("custom-thing"); ok {
		t.Error("unknown scenario mapped")
	}
}

// TestVersionMustBeToken: a version that would break the User-Agent
// header (space, CR LF, slash) is refused, not sent.
func TestVersionMustBeToken(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for _, v := range []string{"1.0 beta", "1.0\r\nX-Evil: 1", "a/b", "é"} {
		if _, err := New(Options{URL: "http://127.0.0.1:1", Key: key, Version: v}); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	if _, err := New(Options{URL: "http://127.0.0.1:1", Key: key, Version: "v0.1.0-dev+3f2a"}); err != nil {
		t.Errorf("plain version refused: %v", err)
	}
}

// TestShareClasses: with Classes set, only those classes are queued.
func TestShareClasses(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	c, err := New(Options{URL: "http://127.0.0.1:1", Key: key, Classes: []wire.Class{wire.Portscan}})
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("203.0.113.7/32"), Origin: event.OriginHerd, Scenario: "sshd-bruteforce"}
	c.Share(d, netip.Addr{})
	d.Scenario = "portscan"
	c.Share(d, netip.Addr{})
	if st := c.Stats(); st.Queued != 1 {
		t.Fatalf("queued %d signals, want the portscan only", st.Queued)
	}
}
