package lapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// openStream opens the push stream with key and returns the response once
// its "ready" event has come, with a reader positioned after it.
func openStream(t *testing.T, ctx context.Context, base, key string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/herd/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push stream with key %.6s...: %d", key, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("push stream ended before ready: %v", err)
		}
		if line == "event: ready\n" {
			return resp, br
		}
	}
}

// streamEnd reads br until the stream ends and sends when it did.
func streamEnd(br *bufio.Reader) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, br)
		ch <- time.Now()
	}()
	return ch
}

// Deleting a bouncer ends its open push stream within a second, with a
// real HTTP client on a real listener, while another bouncer's stream stays
// open; its key is refused from then on.
func TestRevokedBouncerStreamEnds(t *testing.T) {
	f := newFixture(t, Options{KeepAlive: time.Hour})
	const otherKey = "other-key-0123456789abcdefghijklmnopqrstuvwxyz"
	if err := f.st.AddBouncer(f.ctx, "other", HashKey(otherKey)); err != nil {
		t.Fatal(err)
	}
	base := f.serve()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, br := openStream(t, ctx, base, testKey)
	defer resp.Body.Close()
	oresp, obr := openStream(t, ctx, base, otherKey)
	defer oresp.Body.Close()
	ended, otherEnded := streamEnd(br), streamEnd(obr)

	deleted := time.Now()
	if err := f.st.DeleteBouncer(f.ctx, "fw"); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-ended:
		t.Logf("stream ended %v after the deletion", at.Sub(deleted))
		if at.Sub(deleted) > time.Second {
			t.Fatalf("stream ended %v after the deletion, want within 1s", at.Sub(deleted))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the deleted bouncer's stream is still open after 2s")
	}
	select {
	case <-otherEnded:
		t.Fatal("another bouncer's stream ended too")
	case <-time.After(300 * time.Millisecond):
	}
	if code, _ := get(t, http.DefaultClient, base+"/v1/herd/stream", testKey); code != http.StatusForbidden {
		t.Fatalf("the deleted key reopens the stream: %d, want 403", code)
	}
	// A bouncer deleted and added again with a new key: streams opened
	// with the old key end too.
	const newKey = "new-key-0123456789abcdefghijklmnopqrstuvwxyz0"
	if err := f.st.DeleteBouncer(f.ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddBouncer(f.ctx, "other", HashKey(newKey)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-otherEnded:
	case <-time.After(2 * time.Second):
		t.Fatal("a stream opened with a replaced key is still open after 2s")
	}
}

// Every authenticated route class refuses two authentication headers of a
// kind, or a key and a bearer token where one is expected: 400, whatever
// the order and whether one of them is valid; never the first or the last
// silently. The same request with one header passes (the control).
func TestDuplicateAuthHeadersRefused(t *testing.T) {
	f, base := newWatcherFixture(t, Options{})
	code, ans := login(t, base, testMachine, testPassword)
	if code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	bearer := "Bearer " + ans.Token
	const wrongKey = "wrong-key-0123456789abcdefghijklmnopqrstuvwxy"
	type hdr struct{ name, value string }
	type route struct {
		method, path string
		body         string
		ok           int   // the status with the control headers
		control      []hdr // one valid header
	}
	bouncerRoutes := []route{
		{method: "GET", path: "/v1/decisions", ok: 200},
		{method: "GET", path: "/v1/decisions/stream?startup=true", ok: 200},
		{method: "GET", path: "/v1/forward-auth", ok: 200},
	}
	for i := range bouncerRoutes {
		bouncerRoutes[i].control = []hdr{{"X-Api-Key", testKey}}
	}
	watcherRoute := route{method: "POST", path: "/v1/alerts", body: string(alertBody("u-dup", "ip", "198.51.100.7", "4h")),
		ok: 201, control: []hdr{{"Authorization", bearer}}}

	do := func(rt route, hs []hdr) int {
		t.Helper()
		req, err := http.NewRequest(rt.method, base+rt.path, strings.NewReader(rt.body))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			req.Header.Add(h.name, h.value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	f.sync()
	cases := []struct {
		name   string
		routes []route
		hs     []hdr
	}{
		{"two valid keys", bouncerRoutes, []hdr{{"X-Api-Key", testKey}, {"X-Api-Key", testKey}}},
		{"valid then wrong key", bouncerRoutes, []hdr{{"X-Api-Key", testKey}, {"X-Api-Key", wrongKey}}},
		{"wrong then valid key", bouncerRoutes, []hdr{{"X-Api-Key", wrongKey}, {"X-Api-Key", testKey}}},
		{"key and bearer", bouncerRoutes[:2], []hdr{{"X-Api-Key", testKey}, {"Authorization", bearer}}},
		{"two bearers", []route{watcherRoute}, []hdr{{"Authorization", bearer}, {"Authorization", "Bearer x.y.z"}}},
		{"junk then bearer", []route{watcherRoute}, []hdr{{"Authorization", "Bearer x.y.z"}, {"Authorization", bearer}}},
		{"bearer and key", []route{watcherRoute}, []hdr{{"Authorization", bearer}, {"X-Api-Key", testKey}}},
	}
	for _, tc := range cases {
		for _, rt := range tc.routes {
			if got := do(rt, tc.hs); got != http.StatusBadRequest {
				t.Errorf("%s %s with %s: %d, want 400", rt.method, rt.path, tc.name, got)
			}
		}
	}
	for _, rt := range append(bouncerRoutes, watcherRoute) {
		if got := do(rt, rt.control); got != rt.ok {
			t.Errorf("%s %s with one header: %d, want %d", rt.method, rt.path, got, rt.ok)
		}
	}
	// Forward-auth behind a proxy passes the visitor's own Authorization:
	// beside one key it is not a second credential.
	if got := do(bouncerRoutes[2], []hdr{{"X-Api-Key", testKey}, {"Authorization", "Basic dXNlcjpwYXNz"}}); got != http.StatusOK {
		t.Errorf("forward-auth with a key and the visitor's Authorization: %d, want 200", got)
	}
	// Two X-Real-IP from a trusted proxy: which client is it? Neither.
	if got := do(bouncerRoutes[2], []hdr{{"X-Api-Key", testKey}, {"X-Real-Ip", "192.0.2.1"}, {"X-Real-Ip", "192.0.2.2"}}); got != http.StatusBadRequest {
		t.Errorf("forward-auth with two X-Real-IP: %d, want 400", got)
	}
}

// The dedicated forward-auth listener refuses two X-Api-Key or two
// X-Real-IP headers, in any letter case, and answers one.
func TestForwardAuthListenerDuplicateHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	f.sync()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeForwardAuth(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	ask := func(headers string) string {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", headers)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	key := "X-Api-Key: " + testKey + "\r\n"
	for name, hs := range map[string]string{
		"two keys":             key + key,
		"two keys, other case": key + "x-api-key: " + testKey + "\r\n",
		"key then wrong key":   key + "X-Api-Key: wrong\r\n",
		"two X-Real-IP":        key + "X-Real-IP: 192.0.2.1\r\nX-Real-IP: 192.0.2.2\r\n",
	} {
		if got := ask(hs); got != "HTTP/1.1 400 Bad Request" {
			t.Errorf("%s: %q, want 400", name, got)
		}
	}
	if got := ask(key); got != "HTTP/1.1 200 OK" {
		t.Errorf("one key: %q, want 200", got)
	}
}

// The server's read timeout cuts a request whose body trickles, while a
// push stream lives on past it (it has no read deadline, and each of its
// writes gets a write deadline of its own).
func TestTimeoutsCutSlowBodiesKeepStreams(t *testing.T) {
	_, base := newWatcherFixtureWith(t, Options{KeepAlive: 50 * time.Millisecond}, func(s *Server) {
		s.readTimeout, s.writeTimeout = 300*time.Millisecond, 300*time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, br := openStream(t, ctx, base, testKey)
	defer resp.Body.Close()
	ended := streamEnd(br)

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /v1/watchers/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{")
	cut := false
	for time.Since(start) < 3*time.Second {
		time.Sleep(50 * time.Millisecond)
		if _, err := c.Write([]byte(" ")); err != nil {
			cut = true
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 512)); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				cut = true
				break
			}
		}
	}
	if !cut {
		t.Fatalf("a body trickling for %v was not cut by a read timeout of 300ms", time.Since(start))
	}
	t.Logf("trickled body cut after %v", time.Since(start))
	select {
	case <-ended:
		t.Fatal("the push stream ended with the read or write timeout")
	case <-time.After(time.Until(start.Add(time.Second))):
	}
}

// Nothing a client that has not proven a key or a password sends leaves
// state behind it: whatever the requests and the number of addresses, the
// failure limiter holds at most MaxClients entries, and no key, stream
// cursor or subscriber is kept. Every container of per-client state in the
// server is checked.
func TestUnauthenticatedStateIsBounded(t *testing.T) {
	f, _ := newWatcherFixture(t, Options{MaxClients: 50})
	f.sync()
	h := f.srv.Handler()
	forged := "Bearer " + jwtHeader + ".eyJpZCI6IndlYjEiLCJleHAiOjk5OTk5OTk5OTl9.AAAA"
	requests := []func(i int) *http.Request{
		func(i int) *http.Request {
			r := httptestRequest("GET", "/v1/decisions", "")
			r.Header.Set("X-Api-Key", fmt.Sprintf("wrong-%d", i))
			return r
		},
		func(i int) *http.Request {
			r := httptestRequest("GET", "/v1/decisions/stream?startup=true", "")
			r.Header.Set("X-Api-Key", fmt.Sprintf("wrong-%d", i))
			return r
		},
		func(i int) *http.Request {
			r := httptestRequest("GET", "/v1/herd/stream", "")
			r.Header.Set("X-Api-Key", fmt.Sprintf("wrong-%d", i))
			return r
		},
		func(i int) *http.Request {
			r := httptestRequest("GET", "/v1/forward-auth", "")
			r.Header.Set("X-Api-Key", fmt.Sprintf("wrong-%d", i))
			return r
		},
		func(i int) *http.Request {
			return httptestRequest("POST", "/v1/watchers/login", fmt.Sprintf(`{"machine_id":"m%d","password":"p%d"}`, i, i))
		},
		func(i int) *http.Request {
			return httptestRequest("POST", "/v1/watchers/login", fmt.Sprintf(`{"machine_id":%q,"password":"p%d"}`, testMachine, i))
		},
		func(i int) *http.Request {
			r := httptestRequest("POST", "/v1/alerts", "[]")
			r.Header.Set("Authorization", forged)
			return r
		},
	}
	for i := range 3000 {
		for _, mk := range requests {
			r := mk(i)
			r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:4711", i>>16&255, i>>8&255, i&255)
			if i%2 == 1 {
				r.RemoteAddr = fmt.Sprintf("[2001:db8:%x::1]:4711", i)
			}
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			if w.code == http.StatusOK || w.code == http.StatusCreated {
				t.Fatalf("%s %s from %s without credentials: %d", r.Method, r.URL.Path, r.RemoteAddr, w.code)
			}
		}
	}
	s := f.srv
	s.lim.mu.Lock()
	limited := len(s.lim.buckets)
	s.lim.mu.Unlock()
	s.keys.mu.RLock()
	cached, hashes := len(s.keys.cache), len(s.keys.hashes)
	s.keys.mu.RUnlock()
	s.bmu.Lock()
	cursors := len(s.bouncers)
	s.bmu.Unlock()
	s.m.mu.RLock()
	subs := len(s.m.subs)
	s.m.mu.RUnlock()
	if limited > 50 || cached != 0 || hashes != 1 || cursors != 0 || subs != 0 {
		t.Fatalf("after 21,000 unauthenticated requests from 3,000 clients: limiter %d (max 50), cached keys %d, digests %d (want the 1 registered), stream cursors %d, subscribers %d",
			limited, cached, hashes, cursors, subs)
	}
}

func httptestRequest(method, target, body string) *http.Request {
	r, err := http.NewRequest(method, "http://herd"+target, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	return r
}

// discardWriter is a ResponseWriter that keeps the status only.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// failingListener fails its first n Accepts with EMFILE, then accepts.
type failingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// An accept error (a full file table) does not stop the forward-auth
// listener: it waits and serves the next connection. It used to return
// the error, which stopped the agent.
func TestForwardAuthListenerSurvivesAcceptErrors(t *testing.T) {
	f := newFixture(t, Options{})
	f.sync()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln, n: 5}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeForwardAuth(ctx, fl) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\n\r\n", testKey)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("after 5 accept errors: %q %v", line, err)
	}
	select {
	case err := <-done:
		t.Fatalf("the listener stopped: %v", err)
	default:
	}
}
