package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/store"
)

// livePredicted returns the live decisions of origin "predicted".
func livePredicted(t *testing.T, st *store.Store) map[netip.Prefix]int {
	t.Helper()
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Prefix]int{}
	for _, d := range live {
		if d.Origin == event.OriginPredicted {
			out[d.Scope]++
		}
	}
	return out
}

// TestAgentPredictions runs a dry-run agent against a hub serving its
// community list and its predictions: a predicted address becomes a ban of
// origin "predicted", an allowlisted one never does, one the hub stops
// predicting is lifted; the community list is untouched by predictions;
// and an agent configured without predictions takes none.
func TestAgentPredictions(t *testing.T) {
	h := newTestHub(t)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	plog := blocklist.NewMemLogAt(1 << 40)
	psrv, err := blocklist.NewServer(blocklist.ServerOptions{Log: plog, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = psrv.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	mux.Handle("/v1/blocklist/", h.ts.Config.Handler)
	mux.Handle("/v1/predicted/", psrv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close(); cancel(); <-done })
	predict := func(ps ...netip.Prefix) { plog.List(ps...); psrv.Notify() }
	unpredict := func(ps ...netip.Prefix) { plog.Unlist(ps...); psrv.Notify() }

	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Hub = h.hubConfig()
	cfg.Hub.URL = ts.URL + "/"
	cfg.Hub.Predictions = true
	allowed := netip.MustParsePrefix("203.0.113.5/32")
	cfg.Allow = []netip.Prefix{allowed}
	a := netip.MustParsePrefix("192.0.2.10/32")
	blk := netip.MustParsePrefix("198.51.100.8/29")
	listed := netip.MustParsePrefix("192.0.2.77/32")
	h.list(listed)
	predict(a, blk, allowed)

	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	st := openStore(t, cfg)
	waitFor(t, "the predicted bans", 10*time.Second, func() bool {
		p := livePredicted(t, st)
		return p[a] == 1 && p[blk] == 1 && liveCommunity(t, st)[listed] == 1 &&
			strings.Contains(r.out.String(), "scenario="+blocklist.PredictedScenario+" origin="+event.OriginPredicted)
	})
	if p := livePredicted(t, st); p[allowed] != 0 || len(liveCommunity(t, st)) != 1 {
		t.Fatalf("predicted %v, community %v", p, liveCommunity(t, st))
	}
	unpredict(a)
	waitFor(t, "A lifted", 10*time.Second, func() bool { return livePredicted(t, st)[a] == 0 })
	if livePredicted(t, st)[blk] != 1 || liveCommunity(t, st)[listed] != 1 {
		t.Fatal("lifting one prediction lifted others")
	}
	r.stop(t)

	// Predictions off: the agent lifts nothing it holds of the community
	// list and takes no new prediction.
	cfg.Hub.Predictions = false
	predict(netip.MustParsePrefix("192.0.2.99/32"))
	r2 := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	time.Sleep(500 * time.Millisecond)
	if livePredicted(t, st)[netip.MustParsePrefix("192.0.2.99/32")] != 0 {
		t.Fatal("an agent with predictions off took one")
	}
	if strings.Contains(r2.logs.String(), "following the hub's predictions") {
		t.Fatalf("an agent with predictions off follows them:\n%s", r2.logs)
	}
}
