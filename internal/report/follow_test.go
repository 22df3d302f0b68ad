package report

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

const bouncerKey = "report-test-bouncer-key-0123456789abcdefghij"

// setSink puts what it is given in a real decision set, as the agent does.
type setSink struct {
	set *decision.Set
	mu  sync.Mutex
	ops []string // "add SCOPE" and "delete SCOPE", in order
}

func (s *setSink) Add(ds []event.Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.set.Add(d)
		s.ops = append(s.ops, "add "+d.Scope.String())
	}
}

func (s *setSink) Delete(ds []event.Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.set.DeleteEnding(d.Scope, d.Until)
		s.ops = append(s.ops, "delete "+d.Scope.String())
	}
}

func (s *setSink) live() string {
	var out []string
	for _, d := range s.set.Live() {
		out = append(out, d.Scope.String())
	}
	return strings.Join(out, " ")
}

// tlsCentral is the local API over st, serving HTTPS with a certificate
// made for the test, on the real clock.
type tlsCentral struct {
	srv    *lapi.Server
	addr   string
	caFile string
	tc     *tls.Config
	stop   func()
}

func serveTLS(t *testing.T, st *store.Store, addr string, tc *tls.Config) *tlsCentral {
	t.Helper()
	srv, err := lapi.New(lapi.Options{Store: st, Watchers: st, TLS: tc, Refresh: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	c := &tlsCentral{srv: srv, addr: ln.Addr().String(), tc: tc}
	c.stop = func() { cancel(); <-done }
	t.Cleanup(c.stop)
	return c
}

func ban(st *store.Store, t *testing.T, ip string, d time.Duration) {
	t.Helper()
	p := netip.PrefixFrom(netip.MustParseAddr(ip), 32)
	if _, err := st.AddDecisions(context.Background(), []store.DecisionRecord{{Decision: event.Decision{
		Type: event.Ban, Scope: p, Duration: d, Until: time.Now().Add(d), Scenario: "test", Origin: "cli"}}}); err != nil {
		t.Fatal(err)
	}
}

func unban(st *store.Store, t *testing.T, ip string) {
	t.Helper()
	p := netip.PrefixFrom(netip.MustParseAddr(ip), 32)
	if n, err := st.DeleteDecisions(context.Background(), store.DecisionFilter{Scope: p}); err != nil || n != 1 {
		t.Fatalf("delete %s: %d, %v", ip, n, err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestFollowerOverTLS follows a real local API serving HTTPS with a
// certificate made for the test, verified with it as ca_file: the
// snapshot, a ban and a deletion as they happen, then a central that goes
// away, loses a ban and gains another meanwhile, and comes back: the
// follower reconnects and applies both. The reporter reports over the
// same TLS; a client without the CA is refused.
func TestFollowerOverTLS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	certFile, keyFile := herdtest.Certificate(t, dir, "central")
	ts, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(dir, "central.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddBouncer(ctx, "web2", lapi.HashKey(bouncerKey)); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMachine(ctx, "web1", lapi.HashKey(password)); err != nil {
		t.Fatal(err)
	}
	ban(st, t, "192.0.2.1", time.Hour)
	c := serveTLS(t, st, "127.0.0.1:0", ts.Config())
	url := "https://" + c.addr + "/"

	cc, err := tlsfiles.ClientConfig(certFile)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}}

	// The system roots do not know the test's certificate.
	sink := &setSink{set: decision.New(decision.Options{})}
	plain, err := NewFollower(FollowOptions{URL: url, Key: bouncerKey, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.session(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("follower without the CA: %v, want a certificate error", err)
	}
	bad, _ := NewFollower(FollowOptions{URL: url, Key: "wrong-key", Sink: sink, Client: client})
	if _, err := bad.session(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("follower with a wrong key: %v, want ErrUnauthorized", err)
	}

	f, err := NewFollower(FollowOptions{URL: url, Key: bouncerKey, Sink: sink, Client: client,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { stop(); <-done }()

	eventually(t, "the snapshot", func() bool { return sink.live() == "192.0.2.1/32" })
	ban(st, t, "192.0.2.2", time.Hour)
	c.srv.Notify()
	eventually(t, "a new ban", func() bool { return sink.live() == "192.0.2.1/32 192.0.2.2/32" })
	unban(st, t, "192.0.2.1")
	c.srv.Notify()
	eventually(t, "a deletion", func() bool { return sink.live() == "192.0.2.2/32" })

	// The central stops; meanwhile .2 is deleted and .3 banned there.
	c.stop()
	unban(st, t, "192.0.2.2")
	ban(st, t, "192.0.2.3", time.Hour)
	if sink.live() != "192.0.2.2/32" {
		t.Fatalf("live while the central is down: %s", sink.live())
	}
	c = serveTLS(t, st, c.addr, ts.Config())
	eventually(t, "the resync after reconnecting", func() bool { return sink.live() == "192.0.2.3/32" })

	// The reporter over the same TLS.
	q := &memQueue{}
	q.add(alert("198.51.100.9", 60))
	r, err := New(Options{URL: url, Machine: "web1", Password: password, Queue: q, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("report over TLS: %v", err)
	}
	if n := alertCount(t, st); n != 1 {
		t.Errorf("%d alerts on the central, want 1", n)
	}
}

// TestFollowerScopes: two central decisions on one scope; deleting the
// longer leaves the shorter enforced; wire values this host does not
// enforce are skipped.
func TestFollowerScopes(t *testing.T) {
	sink := &setSink{set: decision.New(decision.Options{})}
	f, err := NewFollower(FollowOptions{URL: "http://x", Key: "k", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	stream := `event: snapshot
data: {"new":[{"id":1,"type":"ban","scope":"Ip","value":"192.0.2.1","duration":"1h0m0s","origin":"herd"},
data: {"id":2,"type":"ban","scope":"Ip","value":"192.0.2.1","duration":"2h0m0s","origin":"cli"},
data: {"id":3,"type":"captcha","scope":"Ip","value":"192.0.2.3","duration":"1h"},
data: {"id":4,"type":"ban","scope":"Country","value":"FR","duration":"1h"},
data: {"id":5,"type":"ban","scope":"Range","value":"::ffff:198.51.100.0/120","duration":"1h"},
data: {"id":6,"type":"ban","scope":"Ip","value":"192.0.2.6","duration":"-3s"}]}

: keep-alive

event: ready
id: 9
data: {"cursor":9}

event: delta
data: {"cursor":10,"new":[],"deleted":[{"id":2,"type":"ban","scope":"Ip","value":"192.0.2.1","duration":"2h"}]}

`
	var synced bool
	err = f.consume(strings.NewReader(stream), func() {}, &synced)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !synced {
		t.Fatalf("consume: %v, synced %v", err, synced)
	}
	if got := sink.live(); got != "192.0.2.1/32 198.51.100.0/24" {
		t.Errorf("live %q", got)
	}
	d, _ := sink.set.Get(netip.MustParsePrefix("192.0.2.1/32"))
	if d.Origin != "herd" || d.Duration != time.Hour {
		t.Errorf("192.0.2.1 after deleting the longer ban: %+v, want the 1h herd one", d)
	}
	for _, bad := range []string{
		"event: delta\ndata: {}\n\n",
		"event: ready\ndata: {}\n\nevent: ready\ndata: {}\n\n",
		"event: ready\ndata: {}\n\nevent: snapshot\ndata: {\"new\":[]}\n\n",
		"event: snapshot\ndata: {\"new\":{}}\n\n",
	} {
		f, _ := NewFollower(FollowOptions{URL: "http://x", Key: "k", Sink: &setSink{set: decision.New(decision.Options{})}})
		var synced bool
		if err := f.consume(strings.NewReader(bad), func() {}, &synced); errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func FuzzFollowStream(f *testing.F) {
	f.Add([]byte("event: snapshot\ndata: {\"new\":[{\"id\":1,\"type\":\"ban\",\"scope\":\"Ip\",\"value\":\"192.0.2.1\",\"duration\":\"1h\"}]}\n\nevent: ready\ndata: {\"cursor\":1}\n\n"))
	f.Add([]byte("event: ready\r\ndata: {}\r\n\r\nevent: delta\r\ndata: {\"new\":[],\"deleted\":[{\"id\":1}]}\r\n\r\n: x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, _ := NewFollower(FollowOptions{URL: "http://x", Key: "k", Sink: &setSink{set: decision.New(decision.Options{})}})
		var synced bool
		if err := fl.consume(strings.NewReader(string(b)), func() {}, &synced); err == nil {
			t.Fatal("consume returned nil before the end of the stream")
		}
	})
}

// TestFollowerPollsWithoutPushStream: a central API that answers 404 for
// the push stream (as a CrowdSec LAPI would) is followed by polling its
// CrowdSec stream: the snapshot, a ban and a deletion arrive.
func TestFollowerPollsWithoutPushStream(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(t.TempDir(), "central.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddBouncer(ctx, "web2", lapi.HashKey(bouncerKey)); err != nil {
		t.Fatal(err)
	}
	ban(st, t, "192.0.2.1", time.Hour)
	srv, err := lapi.New(lapi.Options{Store: st, Refresh: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go srv.Run(rctx)
	var pushTried sync.WaitGroup
	pushTried.Add(1)
	var once sync.Once
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/herd/stream" {
			once.Do(pushTried.Done)
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()

	sink := &setSink{set: decision.New(decision.Options{})}
	f, err := NewFollower(FollowOptions{URL: hs.URL, Key: bouncerKey, Sink: sink, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { stop(); <-done }()
	pushTried.Wait()
	eventually(t, "the polled snapshot", func() bool { return sink.live() == "192.0.2.1/32" })
	ban(st, t, "192.0.2.2", time.Hour)
	eventually(t, "a polled ban", func() bool { return sink.live() == "192.0.2.1/32 192.0.2.2/32" })
	unban(st, t, "192.0.2.1")
	eventually(t, "a polled deletion", func() bool { return sink.live() == "192.0.2.2/32" })
}
