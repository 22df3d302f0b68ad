package hub

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/predict"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestLivePredictions runs the predictor in a hub node: ten members of ten
// networks, four of which report the same source within the sweep window,
// make a sweep prediction that OnPredict announces, ExplainPrediction
// explains, and that is withdrawn when its TTL has passed. Predictions
// never enter the community listing.
func TestLivePredictions(t *testing.T) {
	st, _ := openSQLite(t)
	clk := &fakeClock{t: t0}
	type change struct{ added, removed []netip.Prefix }
	var changes []change
	s := newServer(t, st, clk, func(o *Options) {
		o.OnPredict = func(a, r []netip.Prefix) { changes = append(changes, change{a, r}) }
	})
	h := s.Handler()
	var members []*agent
	for i := range 10 {
		m := newAgent(t, fmt.Sprintf("100.%d.0.1", 64+i), clk)
		m.enroll(t, h)
		members = append(members, m)
	}
	clk.Add(31 * 24 * time.Hour)
	ctx := context.Background()
	for i, m := range members {
		if w := m.send(h, sig(fmt.Sprintf("192.0.2.%d", 100+i), wire.SSHBruteforce, clk.Now())); w.Code != 200 {
			t.Fatalf("send: %d %s", w.Code, w.Body)
		}
	}
	if _, err := s.Recompute(ctx); err != nil {
		t.Fatal(err)
	}
	bad := netip.MustParseAddr("198.51.100.7")
	for _, m := range members[:3] {
		m.send(h, sig(bad.String(), wire.Portscan, clk.Now()))
	}
	if _, err := s.Recompute(ctx); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Fatalf("3 of 10 networks predicted: %v", changes)
	}
	clk.Add(time.Minute)
	members[3].send(h, sig(bad.String(), wire.Portscan, clk.Now()))
	if _, err := s.Recompute(ctx); err != nil {
		t.Fatal(err)
	}
	want := netip.PrefixFrom(bad, 32)
	if len(changes) != 1 || !slices.Equal(changes[0].added, []netip.Prefix{want}) {
		t.Fatalf("changes %v, want %v added", changes, want)
	}
	x, ok := s.ExplainPrediction(bad)
	if !ok || !x.Predicted || x.Prediction.Kind != predict.Sweep || x.Networks != 4 {
		t.Fatalf("ExplainPrediction = %+v", x)
	}
	if _, listed, _ := s.Log().Snapshot(ctx); slices.Contains(listed, want) {
		t.Fatal("a prediction entered the community listing")
	}
	if st := s.Stats(); st.Predicted != 1 {
		t.Fatalf("Stats.Predicted = %d", st.Predicted)
	}
	clk.Add(predict.DefaultTTL)
	if _, err := s.Recompute(ctx); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !slices.Equal(changes[1].removed, []netip.Prefix{want}) {
		t.Fatalf("changes %v, want %v removed", changes, want)
	}
	// A node started on the same database rebuilds no expired prediction.
	s2 := newServer(t, st, clk, nil)
	if p := s2.Predictions(); len(p) != 0 {
		t.Fatalf("a new node holds %v", p)
	}
}

// TestPredictionsOff: NoPredict runs no predictor.
func TestPredictionsOff(t *testing.T) {
	st, _ := openSQLite(t)
	s := newServer(t, st, &fakeClock{t: t0}, func(o *Options) { o.NoPredict = true })
	if x, ok := s.ExplainPrediction(netip.MustParseAddr("192.0.2.1")); ok || x.Reason != "predictions are off" {
		t.Fatalf("%+v %v", x, ok)
	}
}
