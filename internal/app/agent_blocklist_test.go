package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/store"
)

// testHub is a blocklist server over an in-memory log on loopback, which
// records the stream requests it gets.
type testHub struct {
	log *blocklist.MemLog
	srv *blocklist.Server
	ts  *httptest.Server
	pub ed25519.PublicKey

	mu      sync.Mutex
	streams []string // the from= of each stream request
}

func newTestHub(t *testing.T) *testHub {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	h := &testHub{log: blocklist.NewMemLog(), pub: key.Public().(ed25519.PublicKey)}
	srv, err := blocklist.NewServer(blocklist.ServerOptions{Log: h.log, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/blocklist/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream") {
			h.mu.Lock()
			h.streams = append(h.streams, r.URL.Query().Get("from"))
			h.mu.Unlock()
		}
		srv.ServeHTTP(w, r)
	})
	h.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.ts.CloseClientConnections()
		h.ts.Close()
		cancel()
		<-done
	})
	return h
}

func (h *testHub) list(ps ...netip.Prefix) {
	h.log.List(ps...)
	h.srv.Notify()
}

func (h *testHub) unlist(ps ...netip.Prefix) {
	h.log.Unlist(ps...)
	h.srv.Notify()
}

func (h *testHub) hubConfig() config.Hub {
	return config.Hub{URL: h.ts.URL + "/", Receive: true, PublicKey: base64.StdEncoding.EncodeToString(h.pub)}
}

// liveCommunity returns the live community decisions of the store.
func liveCommunity(t *testing.T, st *store.Store) map[netip.Prefix]int {
	t.Helper()
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Prefix]int{}
	for _, d := range live {
		if d.Origin == event.OriginCommunity {
			out[d.Scope]++
		}
	}
	return out
}

// TestAgentCommunityBlocklist runs a dry-run agent against a hub: a listed
// address becomes a stored community ban, an allowlisted one never does,
// an unlisted one is lifted, and a restarted agent resumes from the
// version it stored, with a delta, not a snapshot.
func TestAgentCommunityBlocklist(t *testing.T) {
	h := newTestHub(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Hub = h.hubConfig()
	allowed := netip.MustParsePrefix("203.0.113.5/32")
	cfg.Allow = []netip.Prefix{allowed}
	a := netip.MustParsePrefix("192.0.2.10/32")
	b := netip.MustParsePrefix("198.51.100.0/24")
	c := netip.MustParsePrefix("2001:db8::9/128")
	h.list(a, allowed)

	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	st := openStore(t, cfg)
	waitFor(t, "the community ban of A", 10*time.Second, func() bool {
		return strings.Contains(r.out.String(), "ban "+a.String()+" ") && liveCommunity(t, st)[a] == 1
	})
	if !strings.Contains(r.out.String(), "scenario="+blocklist.CommunityScenario+" origin="+event.OriginCommunity) {
		t.Errorf("the ban is not a community decision:\n%s", r.out)
	}
	h.list(b)
	waitFor(t, "the ban of B", 10*time.Second, func() bool { return liveCommunity(t, st)[b] == 1 })
	h.unlist(a)
	waitFor(t, "A lifted", 10*time.Second, func() bool {
		return strings.Contains(r.out.String(), "unban "+a.String()) && liveCommunity(t, st)[a] == 0
	})
	if strings.Contains(r.out.String(), allowed.Addr().String()) || liveCommunity(t, st)[allowed] != 0 {
		t.Fatalf("the allowlisted address became a ban:\n%s", r.out)
	}
	if !strings.Contains(r.logs.String(), "protected address") {
		t.Errorf("the refused entry was not logged:\n%s", r.logs)
	}
	r.stop(t)

	// Listed while the agent is down; it catches up from its version.
	h.list(c)
	h.unlist(b)
	r2 := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	waitFor(t, "the catch-up", 10*time.Second, func() bool {
		got := liveCommunity(t, st)
		return got[c] == 1 && got[b] == 0
	})
	h.mu.Lock()
	streams := append([]string(nil), h.streams...)
	h.mu.Unlock()
	if len(streams) < 2 || streams[0] != "0" || streams[len(streams)-1] == "0" {
		t.Errorf("stream requests from %v: want a first from 0, then a resume from the stored version", streams)
	}
	if strings.Contains(r2.logs.String(), "snapshot=true") {
		t.Errorf("the restarted agent took a snapshot:\n%s", r2.logs)
	}
	if strings.Contains(r2.out.String(), allowed.Addr().String()) {
		t.Errorf("the allowlisted address became a ban after the restart:\n%s", r2.out)
	}
}

// TestAgentCommunityBlocklistInNamespace: a running agent enforcing in a
// network namespace receives a community listing, and the address lands in
// its nftables set; unlisted, it leaves it.
func TestAgentCommunityBlocklistInNamespace(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	view := kernelView(t, fd)
	h := newTestHub(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Hub = h.hubConfig()
	startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd})
	listed := netip.MustParsePrefix("192.0.2.99/32")
	t0 := time.Now()
	h.list(listed)
	waitFor(t, "the community listing in nftables", 10*time.Second, func() bool { return holds(t, view, listed) })
	t.Logf("listed → in the kernel's set: %v", time.Since(t0))
	h.unlist(listed)
	waitFor(t, "the unlisting in nftables", 10*time.Second, func() bool { return !holds(t, view, listed) })
}
