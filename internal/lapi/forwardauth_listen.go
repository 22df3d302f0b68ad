package lapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Limits of the dedicated forward-auth listener.
const (
	// faMaxHead bounds a request's line and headers together.
	faMaxHead = 8 << 10
	// faMaxHeaders bounds the number of header lines.
	faMaxHeaders = 64
	// faIdle is how long a connection may wait for its next request.
	faIdle = 2 * time.Minute
	// faHeadTime is how long a request's head may take once its first
	// bytes have come.
	faHeadTime = 10 * time.Second
	// faMaxConns bounds the open connections as a last resort; more are
	// closed at once. The caller's guard (internal/connlimit) caps them
	// lower, per client too, and counts the refusals.
	faMaxConns = 1 << 16
	// faWriteTime is how long an answer may take to be taken.
	faWriteTime = 10 * time.Second
)

// Canned answers. Every one has an empty body; the 400 closes.
var (
	faOK          = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	faForbidden   = []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
	faUnavailable = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	faTooMany     = []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")
	faInternal    = []byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	faBad         = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

// errBadRequest is what parseFARequest returns, wrapped, for a request the
// listener refuses.
var errBadRequest = errors.New("lapi: forward-auth: bad request")

// faRequest is what the listener reads of one request: slices of the
// connection's buffer, valid until the next request is read.
type faRequest struct {
	key    []byte   // X-Api-Key
	xff    [][]byte // X-Forwarded-For values, in order
	realIP []byte   // X-Real-IP
	close  bool     // Connection: close, or HTTP/1.0 without keep-alive

	hasKey, hasRealIP bool // seen, to refuse a second one
}

// parseFARequest parses one request head (up to and including the empty
// line) into r, reusing r's storage. It accepts any method (nginx's
// auth_request keeps the original request's), only the path
// /v1/forward-auth (with or without a query), HTTP/1.1 or 1.0, and no body;
// anything else, any malformed or oversized head, and two X-Api-Key or two
// X-Real-IP headers, is errBadRequest. It does not allocate once r.xff has
// grown.
func parseFARequest(head []byte, r *faRequest) error {
	*r = faRequest{xff: r.xff[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return fmt.Errorf("%w: no request line", errBadRequest)
	}
	method, after, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 || len(method) > 16 || !isToken(method) {
		return fmt.Errorf("%w: method", errBadRequest)
	}
	target, proto, ok := bytes.Cut(after, []byte(" "))
	if !ok {
		return fmt.Errorf("%w: request line", errBadRequest)
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	if string(target) != forwardAuthPath {
		return fmt.Errorf("%w: path", errBadRequest)
	}
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.close = true
	default:
		return fmt.Errorf("%w: protocol", errBadRequest)
	}
	for n := 0; ; n++ {
		line, rest, ok = cutLine(rest)
		if !ok {
			return fmt.Errorf("%w: unterminated head", errBadRequest)
		}
		if len(line) == 0 {
			if len(rest) != 0 {
				return fmt.Errorf("%w: bytes after the head", errBadRequest)
			}
			return nil
		}
		if n == faMaxHeaders {
			return fmt.Errorf("%w: more than %d headers", errBadRequest, faMaxHeaders)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || !isToken(name) {
			return fmt.Errorf("%w: header line", errBadRequest)
		}
		value = bytes.Trim(value, " \t")
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Errorf("%w: control byte in a header", errBadRequest)
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("X-Api-Key")):
			if r.hasKey {
				return fmt.Errorf("%w: more than one X-Api-Key header", errBadRequest)
			}
			r.key, r.hasKey = value, true
		case bytes.EqualFold(name, []byte("X-Forwarded-For")):
			if len(r.xff) == maxForwardedHops {
				return fmt.Errorf("%w: too many X-Forwarded-For headers", errBadRequest)
			}
			r.xff = append(r.xff, value)
		case bytes.EqualFold(name, []byte("X-Real-Ip")):
			if r.hasRealIP {
				return fmt.Errorf("%w: more than one X-Real-IP header", errBadRequest)
			}
			r.realIP, r.hasRealIP = value, true
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				r.close = true
			case bytes.EqualFold(value, []byte("keep-alive")):
				r.close = false
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			if string(value) != "0" {
				return fmt.Errorf("%w: a body", errBadRequest)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return fmt.Errorf("%w: a body", errBadRequest)
		}
	}
}

// cutLine splits b at its first CRLF. A bare LF or CR is refused (false).
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

// isToken reports whether b is an HTTP token (RFC 9110 tchar).
func isToken(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ServeForwardAuth answers forward-auth on ln with a minimal HTTP/1.1 server
// of its own, for proxies that ask on every request: keep-alive, one request
// at a time per connection, no body, canned answers. Only the path
// /v1/forward-auth is served (any method, as on the API's listener, with the
// same rules for keys, trusted proxies and forwarded addresses); any other
// request, a malformed or oversized head (over 8 KiB or 64 headers) or a
// body gets 400 and the connection is closed. A connection waits at most two
// minutes for a request, whose head must then arrive within ten seconds;
// beyond 65,536 open connections, new ones are closed at once (the caller
// guards ln with lower caps, per client too: internal/connlimit). An answer
// must be taken within ten seconds. An error of ln's Accept is retried
// after a back-off (5 ms doubling to 1 s), so that a full file table does
// not stop the server. It answers from the mirror that Serve keeps (503
// until it is loaded), so it runs beside Serve. It closes ln and returns nil
// once ctx ends, closing the open connections.
func (s *Server) ServeForwardAuth(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("lapi: forward-auth listener: %w", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Debug("lapi: forward-auth: accept failed; backing off", "wait", delay, "err", err)
			if clock.Sleep(ctx, s.clk, delay) != nil {
				return nil
			}
			continue
		}
		delay = 0
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return nil
		}
		if len(conns) >= faMaxConns {
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.faConn(ctx, c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// faConn serves one connection until it closes, errs or sends a request the
// listener refuses.
func (s *Server) faConn(ctx context.Context, c net.Conn) {
	var peer netip.Addr
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		peer = ap.Addr().Unmap()
	}
	buf := make([]byte, faMaxHead)
	var req faRequest
	n := 0 // bytes in buf
	for {
		// Read until the head's end (an empty line; one ended by a bare
		// LF is read, then refused by the parser); whatever follows it is
		// a pipelined request, which the parser refuses too.
		started := false
		for !headEnded(buf[:n]) {
			if n == len(buf) {
				refuse(c)
				return
			}
			var err error
			switch {
			case n == 0:
				err = c.SetReadDeadline(time.Now().Add(faIdle))
			case !started:
				started = true
				err = c.SetReadDeadline(time.Now().Add(faHeadTime))
			}
			if err != nil {
				return
			}
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
		}
		if err := parseFARequest(buf[:n], &req); err != nil {
			refuse(c)
			return
		}
		answer, closing := s.faAnswer(ctx, peer, &req)
		if err := c.SetWriteDeadline(time.Now().Add(faWriteTime)); err != nil {
			return
		}
		if _, err := c.Write(answer); err != nil || req.close || closing {
			return
		}
		n = 0
	}
}

// headEnded reports whether b holds an empty line.
func headEnded(b []byte) bool {
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}

// refuse answers 400 and ends the connection gracefully: it stops writing,
// then reads (for at most a second, 64 KiB) what the client had sent
// already, so that closing does not reset the connection before the client
// reads the answer.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(faWriteTime))
	if _, err := c.Write(faBad); err != nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}
}

// faAnswer decides one request as forwardAuth does, and reports whether the
// connection must close after the answer.
func (s *Server) faAnswer(ctx context.Context, peer netip.Addr, r *faRequest) ([]byte, bool) {
	fromProxy := s.isTrusted(peer)
	if !s.openFA || !fromProxy {
		if _, ok := s.keys.cachedBytes(r.key); !ok {
			now := s.now().UnixNano()
			if !s.lim.allowed(peer, now) {
				return faTooMany, false
			}
			_, ok, err := s.keys.verify(ctx, string(r.key), s.st.BouncerByKeyHash)
			if err != nil {
				s.log.Error("lapi: forward-auth: authenticate", "err", err)
				return faInternal, true
			}
			if !ok {
				s.lim.fail(peer, now)
				return faForbidden, false
			}
		}
	}
	client := peer
	if fromProxy {
		if a, ok := forwardedClientBytes(r.xff, r.realIP, s.trusted); ok {
			client = a
		}
	}
	now := s.now().UnixNano()
	m := s.m
	m.mu.RLock()
	loaded := m.loaded
	banned := loaded && client.IsValid() && m.banned(client, now)
	m.mu.RUnlock()
	switch {
	case !loaded:
		return faUnavailable, false
	case banned:
		return faForbidden, false
	}
	return faOK, false
}

// cachedBytes is cached for a key in bytes. It does not allocate.
func (k *keyring) cachedBytes(key []byte) (string, bool) {
	h := maphash.Bytes(k.seed, key)
	k.mu.RLock()
	c, ok := k.cache[h]
	k.mu.RUnlock()
	if !ok || len(c.key) != len(key) {
		return "", false
	}
	var v byte
	for i := range key {
		v |= c.key[i] ^ key[i]
	}
	if v != 0 || len(key) == 0 {
		return "", false
	}
	return c.name, true
}

// forwardedClientBytes is forwardedClient for the values of the headers in
// bytes. It allocates only to parse an IPv6 address.
func forwardedClientBytes(xff [][]byte, realIP []byte, trusted []netip.Prefix) (netip.Addr, bool) {
	var last netip.Addr
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for len(v) > 0 {
			j := bytes.LastIndexByte(v, ',')
			item := bytes.TrimSpace(v[j+1:])
			v = v[:max(j, 0)]
			if len(item) == 0 {
				continue
			}
			hops++
			a, ok := parseForwardedBytes(item)
			if !ok {
				return netip.Addr{}, false
			}
			if !trustedBy(trusted, a) {
				return a, true
			}
			last = a
			if hops >= maxForwardedHops {
				return last, true
			}
		}
	}
	if last.IsValid() {
		return last, true
	}
	if v := bytes.TrimSpace(realIP); len(v) > 0 {
		return parseForwardedBytes(v)
	}
	return netip.Addr{}, false
}

// parseForwardedBytes is parseForwarded for bytes: dotted IPv4, with or
// without a port, without allocating; anything else through
// parseForwarded.
func parseForwardedBytes(b []byte) (netip.Addr, bool) {
	if a, rest, ok := parseIPv4(b); ok {
		if len(rest) == 0 {
			return a, true
		}
		if rest[0] == ':' && isPort(rest[1:]) {
			return a, true
		}
		return netip.Addr{}, false
	}
	return parseForwarded(string(b))
}

// parseIPv4 reads a dotted-quad address (no leading zeros) at the start of
// b and returns what follows it.
func parseIPv4(b []byte) (netip.Addr, []byte, bool) {
	var a [4]byte
	for i := range 4 {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}, nil, false
			}
			b = b[1:]
		}
		v, n := 0, 0
		for n < len(b) && n < 4 && '0' <= b[n] && b[n] <= '9' {
			v = v*10 + int(b[n]-'0')
			n++
		}
		if n == 0 || n > 3 || v > 255 || (n > 1 && b[0] == '0') {
			return netip.Addr{}, nil, false
		}
		a[i] = byte(v)
		b = b[n:]
	}
	return netip.AddrFrom4(a), b, true
}

func isPort(b []byte) bool {
	if len(b) == 0 || len(b) > 5 {
		return false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 65535
}
