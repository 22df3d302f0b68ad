package app_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"github.com/herd-ips/herd/internal/hub/node"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestHubPushesPredictions runs a hub node (node.New) on loopback whose
// database holds the signals of seven members of seven networks, four of
// which reported one source: the node's predictor makes a sweep
// prediction, and a follower of /v1/predicted/ receives it through the
// push stream, signed with the hub's key, while the community blocklist
// does not list it.
func TestHubPushesPredictions(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: filepath.Join(dir, "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	bad := netip.MustParseAddr("81.2.69.200")
	for i := range 7 {
		pub, _, _ := ed25519.GenerateKey(nil)
		id := wire.IDOf(pub)
		nw := netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 11+i))
		if _, err := st.Enroll(ctx, hubstore.Reporter{ID: id, Key: pub, Network: nw, Enrolled: now.Add(-40 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		src := bad
		if i >= 4 {
			src = netip.MustParseAddr(fmt.Sprintf("81.2.70.%d", i))
		}
		if err := st.AddSignals(ctx, id, nw, now, []wire.Signal{{Source: src, Class: wire.Portscan, Minute: uint32(now.Unix() / 60)}}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := hub.LoadOrCreateKey(filepath.Join(dir, "hub-sign.key"))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := node.New(ctx, node.Options{Hub: hub.Options{Store: st}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: nd.Handler(), ReadHeaderTimeout: 10 * time.Second}
	runDone := make(chan struct{})
	go func() { _ = nd.Run(ctx); close(runDone) }()
	go func() { _ = srv.Serve(ln) }()
	defer func() { cancel(); <-runDone; srv.Close() }()
	url := "http://" + ln.Addr().String() + "/"

	var mu sync.Mutex
	held := map[string]map[netip.Prefix]bool{}
	follow := func(path string) {
		held[path] = map[netip.Prefix]bool{}
		f, err := blocklist.NewFollower(blocklist.FollowerOptions{URL: url, Path: path, PublicKey: key.Public().(ed25519.PublicKey),
			Apply: func(_ context.Context, u blocklist.Update) error {
				mu.Lock()
				defer mu.Unlock()
				if u.Snapshot {
					clear(held[path])
				}
				for _, p := range u.Added {
					held[path][p] = true
				}
				for _, p := range u.Removed {
					delete(held[path], p)
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		go f.Run(ctx)
	}
	follow("v1/predicted/")
	follow("v1/blocklist/")
	want := netip.PrefixFrom(bad, 32)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got, listed := held["v1/predicted/"][want], held["v1/blocklist/"][want]
		mu.Unlock()
		if listed {
			t.Fatal("the sweep entered the community blocklist")
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prediction pushed; node holds %v", nd.Server().Predictions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := nd.Server().Predictions(); len(p) != 1 || p[0].Prefix != want {
		t.Fatalf("node predictions %v", p)
	}
}
