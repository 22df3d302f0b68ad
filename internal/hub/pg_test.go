package hub

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// pgDSN returns a DSN naming a fresh schema of the HERD_TEST_POSTGRES
// server, dropped when t ends, or skips.
func pgDSN(t testing.TB) string {
	base := os.Getenv("HERD_TEST_POSTGRES")
	if base == "" {
		t.Skip("HERD_TEST_POSTGRES is not set (scripts/pg-test-server.sh start prints it): PostgreSQL test skipped")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("hub_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTwoNodesOnePostgres: two hub nodes over one PostgreSQL database, each
// with its own agents (some enrolled on one node, reporting through the
// other), recomputing concurrently. The change log they share has no gap
// and no duplicate, both nodes read the same snapshot, and the listing is
// what the rules give for all the signals together.
func TestTwoNodesOnePostgres(t *testing.T) {
	dsn := pgDSN(t)
	ctx := context.Background()
	clk := &fakeClock{t: t0}
	var nodes []*Server
	for range 2 {
		st, err := hubstore.Open(ctx, hubstore.Options{Driver: "postgres", DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, newServer(t, st, clk, nil))
	}
	// 12 agents in 6 networks; even ones enroll on node 0, odd on node 1.
	var agents []*agent
	for i := range 12 {
		a := newAgent(t, fmt.Sprintf("%d.1.2.%d", 20+i/2, 10+i), clk)
		a.enroll(t, nodes[i%2].Handler())
		agents = append(agents, a)
	}
	clk.Add(10 * 24 * time.Hour)
	// 40 attackers; attacker k is reported by agents k%12 .. k%12+5 (6
	// agents over 3 or 4 networks) — each agent posts to the node it did
	// NOT enroll with, concurrently, while both nodes recompute.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := n.Recompute(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var posters sync.WaitGroup
	for i, a := range agents {
		posters.Add(1)
		go func() {
			defer posters.Done()
			h := nodes[(i+1)%2].Handler()
			for k := range 40 {
				if d := (i - k%12 + 12) % 12; d < 6 {
					if w := a.send(h, sig(fmt.Sprintf("81.2.%d.%d", 70+k/10, k), wire.SSHBruteforce, clk.Now())); w.Code != 200 {
						t.Errorf("agent %d: %d %s", i, w.Code, w.Body)
					}
				}
			}
		}()
	}
	posters.Wait()
	close(stop)
	wg.Wait()
	// A final recomputation on each node sees every signal.
	for _, n := range nodes {
		if _, err := n.Recompute(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v0, l0, err := nodes[0].Log().Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1, l1, _ := nodes[1].Log().Snapshot(ctx)
	if v0 != v1 || fmt.Sprint(l0) != fmt.Sprint(l1) {
		t.Fatalf("nodes disagree: %d %v / %d %v", v0, l0, v1, l1)
	}
	if len(l0) != 40 {
		t.Fatalf("%d listed, want 40: %v", len(l0), l0)
	}
	// Every change exactly once, numbered 1..v without gaps: replaying the
	// log from 0 gives the snapshot.
	to, added, removed, err := nodes[1].Log().Since(ctx, 0)
	if err != nil || to != v0 || len(removed) != 0 || fmt.Sprint(added) != fmt.Sprint(l0) {
		t.Fatalf("Since(0) = %d %d added %d removed, %v", to, len(added), len(removed), err)
	}
	var count, maxSeq, distinct int64
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*), MAX(seq), COUNT(DISTINCT prefix) FROM changes`).Scan(&count, &maxSeq, &distinct); err != nil {
		t.Fatal(err)
	}
	if count != maxSeq || count != 40 || distinct != 40 || uint64(maxSeq) != v0 {
		t.Fatalf("change log: %d rows, max seq %d, %d distinct prefixes, version %d", count, maxSeq, distinct, v0)
	}
}
