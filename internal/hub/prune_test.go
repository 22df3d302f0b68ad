package hub

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestPruneKeepsOnlyTheWindow: a running hub deletes the raw signals older
// than its evidence window (72 h), and the blobs older than their
// retention, and keeps the rest; the test reads the tables.
func TestPruneKeepsOnlyTheWindow(t *testing.T) {
	st, _ := openSQLite(t)
	clk := &fakeClock{t: t0}
	ctx := context.Background()
	rep := wire.ReporterID{1}
	nw := netip.MustParsePrefix("81.2.69.0/24")
	old := []wire.Signal{sig("81.2.70.1", wire.SSHBruteforce, t0.Add(-100*time.Hour)), sig("81.2.70.2", wire.Portscan, t0.Add(-73*time.Hour))}
	recent := []wire.Signal{sig("81.2.70.3", wire.SSHBruteforce, t0.Add(-71*time.Hour)), sig("81.2.70.4", wire.SSHBruteforce, t0.Add(-time.Minute))}
	if err := st.AddSignals(ctx, rep, nw, t0, append(old, recent...)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddBlob(ctx, [16]byte{1}, 1, []byte{1}, t0.Add(-8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddBlob(ctx, [16]byte{1}, 1, []byte{2}, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, st, clk, func(o *Options) { o.RecomputeEvery = 10 * time.Millisecond })
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(rctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	var rows map[string]int64
	for {
		var err error
		if rows, err = st.TableRows(ctx); err != nil {
			t.Fatal(err)
		}
		if rows["signals"] == int64(len(recent)) && rows["group_blobs"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tables after pruning: %v (want %d signals, 1 blob)", rows, len(recent))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	var kept []netip.Addr
	if err := st.Signals(ctx, 0, 1<<62, 0, func(sg hubstore.StoredSignal) { kept = append(kept, sg.Source) }); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0] != recent[0].Source || kept[1] != recent[1].Source {
		t.Fatalf("kept %v", kept)
	}
	t.Logf("tables: %v", rows)
}
