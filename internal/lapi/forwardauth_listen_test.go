package lapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// serveFA runs ServeForwardAuth for f on a loopback listener and returns its
// address.
func serveFA(t testing.TB, f *fixture) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeForwardAuth(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeForwardAuth: %v", err)
		}
	})
	return ln.Addr().String()
}

// faDo writes raw on c and reads one response's status code.
func faDo(t *testing.T, c net.Conn, br *bufio.Reader, raw string) int {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestForwardAuthListenerAgreesWithHandler sends the same requests, from a
// loopback peer that is a trusted proxy, over one keep-alive connection of
// the dedicated listener and to the API's handler: the answers must be the
// same, and the connection must serve them all.
func TestForwardAuthListenerAgreesWithHandler(t *testing.T) {
	for _, open := range []bool{false, true} {
		f := newFixture(t, Options{OpenForwardAuth: open})
		f.ban("192.0.2.7", time.Hour, "herd/http-probing", "herd")
		f.ban("198.51.100.0/24", time.Hour, "herd/http-probing", "community")
		f.ban("2001:db8:1::/48", time.Hour, "herd/http-probing", "community")
		f.sync()
		addr := serveFA(t, f)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		cases := []struct {
			name string
			hdr  [][2]string
			want int // with the key or open
		}{
			{"banned", [][2]string{{"X-Forwarded-For", "192.0.2.7"}}, 403},
			{"clean", [][2]string{{"X-Forwarded-For", "192.0.2.8"}}, 200},
			{"range", [][2]string{{"x-forwarded-for", "198.51.100.9:4711"}}, 403},
			{"IPv6 range", [][2]string{{"X-Forwarded-For", "[2001:db8:1::5]:443"}}, 403},
			{"chain", [][2]string{{"X-Forwarded-For", "192.0.2.7, 127.0.0.9"}}, 403},
			{"spoofed left", [][2]string{{"X-Forwarded-For", "192.0.2.7, 192.0.2.8"}}, 200},
			{"two lines", [][2]string{{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "192.0.2.7"}}, 403},
			{"real ip", [][2]string{{"X-Real-IP", "192.0.2.7"}}, 403},
			{"garbage", [][2]string{{"X-Forwarded-For", "192.0.2.7, junk"}}, 200},
			{"no forwarded address", nil, 200},
		}
		for _, withKey := range []bool{true, false} {
			for _, tc := range cases {
				req := newRequest(forwardAuthPath, "127.0.0.1:4444")
				raw := "GET " + forwardAuthPath + "?x=1 HTTP/1.1\r\nHost: herd\r\n"
				for _, h := range tc.hdr {
					req.Header.Add(h[0], h[1])
					raw += h[0] + ": " + h[1] + "\r\n"
				}
				if withKey {
					req.Header.Set("X-Api-Key", testKey)
					raw += "X-Api-Key: " + testKey + "\r\n"
				}
				raw += "\r\n"
				rec := newRecorder()
				f.srv.Handler().ServeHTTP(rec, req)
				got := faDo(t, c, br, raw)
				if got != rec.code {
					t.Errorf("open=%v key=%v %s: listener %d, handler %d", open, withKey, tc.name, got, rec.code)
				}
				if want := tc.want; (withKey || open) && got != want {
					t.Errorf("open=%v key=%v %s: %d, want %d", open, withKey, tc.name, got, want)
				}
				// After a few failures the peer is limited: 429.
				if !withKey && !open && got != http.StatusForbidden && got != http.StatusTooManyRequests {
					t.Errorf("no key, not open, %s: %d, want 403 or 429", tc.name, got)
				}
			}
		}
	}
}

// TestForwardAuthListenerRefuses checks that every request the listener does
// not serve gets 400 and a closed connection, and that Connection: close is
// honoured.
func TestForwardAuthListenerRefuses(t *testing.T) {
	f := newFixture(t, Options{OpenForwardAuth: true})
	f.sync()
	addr := serveFA(t, f)
	good := "GET /v1/forward-auth HTTP/1.1\r\nHost: h\r\n\r\n"
	bad := map[string]string{
		"other path":        "GET /v1/decisions HTTP/1.1\r\nHost: h\r\n\r\n",
		"path prefix":       "GET /v1/forward-authx HTTP/1.1\r\n\r\n",
		"HTTP/2 preface":    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"bare LF":           "GET /v1/forward-auth HTTP/1.1\nHost: h\n\n",
		"body":              "POST /v1/forward-auth HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"chunked":           "POST /v1/forward-auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"pipelined":         good + good,
		"folded header":     "GET /v1/forward-auth HTTP/1.1\r\nX-Real-IP: 1.2.3.4\r\n  5.6.7.8\r\n\r\n",
		"space in name":     "GET /v1/forward-auth HTTP/1.1\r\nX Real: 1\r\n\r\n",
		"control in value":  "GET /v1/forward-auth HTTP/1.1\r\nX-Api-Key: a\x00b\r\n\r\n",
		"oversized head":    "GET /v1/forward-auth HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", faMaxHead) + "\r\n\r\n",
		"too many headers":  "GET /v1/forward-auth HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", faMaxHeaders+1) + "\r\n",
		"no protocol":       "GET /v1/forward-auth\r\n\r\n",
		"HTTP/0.9 protocol": "GET /v1/forward-auth HTTP/0.9\r\n\r\n",
	}
	for name, raw := range bad {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if code := faDo(t, c, br, raw); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("%s: connection not closed after 400 (%v)", name, err)
		}
		c.Close()
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if code := faDo(t, c, br, "HEAD /v1/forward-auth HTTP/1.1\r\nConnection: close\r\n\r\n"); code != http.StatusOK {
		t.Errorf("Connection: close: %d, want 200", code)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("connection not closed after Connection: close (%v)", err)
	}
}

// TestForwardAuthListenerStops checks that ServeForwardAuth returns when its
// context ends, closing idle keep-alive connections.
func TestForwardAuthListenerStops(t *testing.T) {
	f := newFixture(t, Options{OpenForwardAuth: true})
	f.sync()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeForwardAuth(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if code := faDo(t, c, br, "GET /v1/forward-auth HTTP/1.1\r\n\r\n"); code != http.StatusOK {
		t.Fatalf("%d, want 200", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeForwardAuth did not return after its context ended")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection not closed at stop (%v)", err)
	}
}

// TestForwardAuthListenerAllocs checks that parsing a request and deciding
// it, with a cached key and an IPv4 client, allocates nothing.
func TestForwardAuthListenerAllocs(t *testing.T) {
	f := newFixture(t, Options{})
	f.ban("192.0.2.7", time.Hour, "herd/http-probing", "herd")
	f.sync()
	head := []byte("GET /v1/forward-auth HTTP/1.1\r\nHost: h\r\nX-Api-Key: " + testKey + "\r\nX-Forwarded-For: 192.0.2.7, 127.0.0.2\r\n\r\n")
	var req faRequest
	peer := netip.MustParseAddr("127.0.0.1")
	ctx := context.Background()
	if err := parseFARequest(head, &req); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.srv.faAnswer(ctx, peer, &req); string(a) != string(faForbidden) { // caches the key
		t.Fatalf("answer %q, want 403", a)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := parseFARequest(head, &req); err != nil {
			t.Fatal(err)
		}
		if a, _ := f.srv.faAnswer(ctx, peer, &req); len(a) == 0 {
			t.Fatal("no answer")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

// FuzzForwardAuthRequest feeds arbitrary heads to the listener's parser: it
// must not panic, and what it accepts must name the forward-auth path and
// carry no body.
func FuzzForwardAuthRequest(f *testing.F) {
	for _, s := range []string{
		"GET /v1/forward-auth HTTP/1.1\r\nHost: h\r\nX-Api-Key: k\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n",
		"HEAD /v1/forward-auth?a=b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET /v1/forward-auth HTTP/1.1\r\nContent-Length: 0\r\nX-Real-IP: [2001:db8::1]:80\r\n\r\n",
		"GET /v1/decisions HTTP/1.1\r\n\r\n", "\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f.Fuzz(func(t *testing.T, head []byte) {
		var r faRequest
		if err := parseFARequest(head, &r); err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("%q: error %v is not errBadRequest", head, err)
			}
			return
		}
		line, _, _ := strings.Cut(string(head), "\r\n")
		if _, target, _ := strings.Cut(line, " "); !strings.HasPrefix(target, forwardAuthPath+" ") && !strings.HasPrefix(target, forwardAuthPath+"?") {
			t.Fatalf("%q: accepted another target", head)
		}
		if len(r.xff) > maxForwardedHops {
			t.Fatalf("%q: %d X-Forwarded-For lines kept", head, len(r.xff))
		}
		forwardedClientBytes(r.xff, r.realIP, trusted)
	})
}

// FuzzForwardedForBytes checks the listener's byte-slice reading of the
// forwarded headers against forwardedClient's.
func FuzzForwardedForBytes(f *testing.F) {
	for _, s := range [][2]string{{"192.0.2.7", ""}, {"192.0.2.7, 10.1.2.3", ""}, {"junk, 192.0.2.7", ""},
		{"", "192.0.2.9"}, {" , ,", "2001:db8::1"}, {"[2001:db8::1]:443", ""}, {"10.1.0.1,10.1.0.2", ""},
		{"192.0.2.7:80", ""}, {"192.0.2.07", ""}, {"1.2.3.4:65536", ""}, {"1.2.3.4:", "1.2.3"}} {
		f.Add(s[0], s[1])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, xff, realIP string) {
		h := http.Header{}
		var raw [][]byte
		if xff != "" {
			for line := range strings.SplitSeq(xff, ";") {
				h.Add("X-Forwarded-For", line)
				raw = append(raw, []byte(line))
			}
		}
		if realIP != "" {
			h.Set("X-Real-Ip", realIP)
		}
		got, ok := forwardedClientBytes(raw, []byte(realIP), trusted)
		want, wok := forwardedClient(h, trusted)
		if got != want || ok != wok {
			t.Fatalf("xff %q real %q: bytes %v %v, strings %v %v", xff, realIP, got, ok, want, wok)
		}
	})
}
