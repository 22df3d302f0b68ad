package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

func TestHubExplain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	ctx := context.Background()
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 6 {
		pub, _, _ := ed25519.GenerateKey(nil)
		id := wire.IDOf(pub)
		nw := netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 11+i/2))
		if _, err := st.Enroll(ctx, hubstore.Reporter{ID: id, Key: pub, Network: nw, Enrolled: now.Add(-40 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		sigs := []wire.Signal{
			{Source: netip.MustParseAddr("81.2.69.160"), Class: wire.SSHBruteforce, Minute: uint32(now.Unix() / 60)},
			{Source: netip.MustParseAddr("8.8.8.8"), Class: wire.SSHBruteforce, Minute: uint32(now.Unix() / 60)},
		}
		if err := st.AddSignals(ctx, id, nw, now, sigs); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	code, out, errOut := run(t, "", "hub", "explain", "81.2.69.160", "--db", "sqlite:"+path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var x struct {
		Listed, Qualifies, Protected bool
		Reporters, Networks          int
		Score                        float64
		Evidence                     []struct{ Class string }
	}
	if err := json.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Nothing recomputed the listing yet: not listed, but it qualifies.
	if x.Listed || !x.Qualifies || x.Protected || x.Reporters != 6 || x.Networks != 3 || x.Score < 0.99 || len(x.Evidence) != 6 || x.Evidence[0].Class != "ssh-bruteforce" {
		t.Fatalf("explain = %+v", x)
	}
	code, out, _ = run(t, "", "hub", "explain", "8.8.8.8", "--db", path)
	if code != 0 || !strings.Contains(out, "protected range: never listed") || !strings.Contains(out, "not listed") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, _, _ := run(t, "", "hub", "explain", "not-an-ip", "--db", path); code != ExitUsage {
		t.Fatalf("bad address: exit %d", code)
	}
}

// TestHubExplainPrediction: herd hub explain rebuilds the predictor from
// the database and shows a sweep that four networks of seven reported.
func TestHubExplainPrediction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	ctx := context.Background()
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 7 {
		pub, _, _ := ed25519.GenerateKey(nil)
		id := wire.IDOf(pub)
		nw := netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 11+i))
		if _, err := st.Enroll(ctx, hubstore.Reporter{ID: id, Key: pub, Network: nw, Enrolled: now.Add(-40 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		src := "81.2.69.200"
		if i >= 4 {
			src = fmt.Sprintf("81.2.70.%d", i) // active, elsewhere
		}
		sigs := []wire.Signal{{Source: netip.MustParseAddr(src), Class: wire.Portscan, Minute: uint32(now.Unix() / 60)}}
		if err := st.AddSignals(ctx, id, nw, now, sigs); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	code, out, errOut := run(t, "", "hub", "explain", "81.2.69.200", "--db", "sqlite:"+path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var x struct {
		Listed     bool
		Prediction struct {
			Enabled, Predicted bool
			Kind, Prefix       string
			Networks           int
			Reason             string
		}
	}
	if err := json.Unmarshal([]byte(out), &x); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p := x.Prediction
	if x.Listed || !p.Enabled || !p.Predicted || p.Kind != "sweep" || p.Prefix != "81.2.69.200/32" || p.Networks != 4 || !strings.Contains(p.Reason, "sweep") {
		t.Fatalf("explain = %s", out)
	}
	code, out, _ = run(t, "", "hub", "explain", "81.2.70.5", "--db", path)
	if code != 0 || !strings.Contains(out, "prediction: not predicted: reported by 1 trusted networks") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
