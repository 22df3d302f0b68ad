package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openSQLite(t testing.TB) (*hubstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := hubstore.Open(context.Background(), hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func newServer(t testing.TB, st *hubstore.Store, clk *fakeClock, mod func(*Options)) *Server {
	t.Helper()
	o := Options{Store: st, Time: clock.Func(clk.Now), AllowDocumentation: true}
	if mod != nil {
		mod(&o)
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// agent is a test reporter: a key and the address it connects from.
type agent struct {
	key  ed25519.PrivateKey
	from netip.Addr
	clk  *fakeClock
}

func newAgent(t testing.TB, from string, clk *fakeClock) *agent {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &agent{key: key, from: netip.MustParseAddr(from), clk: clk}
}

// request builds a signed request; nonce nil = random.
func (a *agent) request(path, ctype string, body []byte, nonce *[16]byte, at time.Time) *http.Request {
	var n [16]byte
	if nonce != nil {
		n = *nonce
	} else {
		rand.Read(n[:])
	}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.RemoteAddr = netip.AddrPortFrom(a.from, 40000).String()
	r.Header.Set("Content-Type", ctype)
	r.Header.Set(wire.AuthHeader, wire.Sign(a.key, http.MethodPost, path, at, n, body).String())
	return r
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (a *agent) enroll(t testing.TB, h http.Handler) {
	t.Helper()
	pub := a.key.Public().(ed25519.PublicKey)
	if w := do(h, a.request("/v1/enroll", "application/octet-stream", pub, nil, a.clk.Now())); w.Code != 200 {
		t.Fatalf("enroll: %d %s", w.Code, w.Body)
	}
}

func (a *agent) send(h http.Handler, sigs ...wire.Signal) *httptest.ResponseRecorder {
	return do(h, a.request("/v1/signals", wire.ContentType, wire.AppendBatch(nil, sigs), nil, a.clk.Now()))
}

func sig(addr string, c wire.Class, at time.Time) wire.Signal {
	return wire.Signal{Source: netip.MustParseAddr(addr), Class: c, Minute: uint32(at.Unix() / 60)}
}
