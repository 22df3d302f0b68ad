package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestAgentSharesItsDecisions runs the agent against a real hub: the
// agent's own ban becomes exactly one signal {source, ssh-bruteforce,
// minute}, the request carries no header beyond the specified ones, and
// the hub commits it. An IPv6 attacker's ban covers its /64, and the
// signal still names the one address that attacked.
func TestAgentSharesItsDecisions(t *testing.T) {
	for _, a := range []string{"192.0.2.7", "2001:db8:7::7"} {
		t.Run(a, func(t *testing.T) { testAgentShares(t, netip.MustParseAddr(a)) })
	}
}

func testAgentShares(t *testing.T, attacker netip.Addr) {
	dir := t.TempDir()
	st, err := hubstore.Open(context.Background(), hubstore.Options{DSN: filepath.Join(dir, "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := hub.New(context.Background(), hub.Options{Store: st, AllowDocumentation: true})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		headers []http.Header
		bodies  [][]byte
	)
	inner := h.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.URL.Path == "/v1/signals" {
			headers = append(headers, r.Header.Clone())
			bodies = append(bodies, b)
		}
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()

	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Hub = config.Hub{URL: srv.URL, KeyFile: filepath.Join(dir, "hub.key"), Share: true}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, Version: "0.9.1"})
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the signal at the hub", 15*time.Second, func() bool { return h.Stats().Signals >= 1 })
	r.stop(t)

	if fi, err := os.Stat(cfg.Hub.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d signal requests", len(bodies))
	}
	sigs, err := wire.DecodeBatch(nil, bodies[0])
	if err != nil || len(sigs) != 1 {
		t.Fatalf("body % x: %v %v", bodies[0], sigs, err)
	}
	now := uint32(time.Now().Unix() / 60)
	if s := sigs[0]; s.Source != attacker || s.Class != wire.SSHBruteforce || s.Minute+2 < now || s.Minute > now {
		t.Fatalf("signal %+v", s)
	}
	var names []string
	for k := range headers[0] {
		names = append(names, k)
	}
	slices.Sort(names)
	// Host travels in the request line's authority; Go's server strips it
	// from Header.
	if want := []string{"Content-Length", "Content-Type", "Herd-Auth", "User-Agent"}; !slices.Equal(names, want) {
		t.Fatalf("headers %v, want %v", names, want)
	}
	if ua := headers[0].Get("User-Agent"); ua != "herd/0.9.1" {
		t.Fatalf("User-Agent %q", ua)
	}
}
