package store

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

func alertOn(scenario, src string, lines ...string) AlertRecord {
	a := netip.MustParseAddr(src)
	return AlertRecord{Alert: event.Alert{Scenario: scenario, Source: a, Scope: netip.PrefixFrom(a, a.BitLen()),
		First: t0, Last: t0, Events: 6}, Lines: lines}
}

// TestCommitBatch stores alerts, the decisions taken on some of them and
// offsets in one call, and reads each part back.
func TestCommitBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		d1, d3 := ban("192.0.2.1/32", time.Hour, "ssh-bf", "herd"), ban("192.0.2.3/32", 2*time.Hour, "http-probe", "herd")
		ids, err := s.CommitBatch(ctx, Batch{
			Alerts: []BatchAlert{
				{Alert: alertOn("ssh-bf", "192.0.2.1", "line a", "line b"), Decision: &d1},
				{Alert: alertOn("ssh-bf", "192.0.2.2")},
				{Alert: alertOn("http-probe", "192.0.2.3", "GET /.env"), Decision: &d3},
			},
			Offsets: []Offset{{Source: "/var/log/auth.log", Inode: 7, Offset: 4096}, {Source: "journald", Cursor: "s=abc"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 3 || ids[0] >= ids[1] || ids[1] >= ids[2] {
			t.Fatalf("alert ids %v", ids)
		}
		if a, err := s.Alert(ctx, ids[0]); err != nil || !slices.Equal(a.Lines, []string{"line a", "line b"}) {
			t.Errorf("alert %d: %+v, %v", ids[0], a, err)
		}
		live, err := s.LiveDecisions(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 2 || live[0].AlertID != ids[0] || live[0].Scope != d1.Scope || live[1].AlertID != ids[2] || live[1].Scope != d3.Scope {
			t.Errorf("live decisions %+v, want the two decisions tied to alerts %d and %d", live, ids[0], ids[2])
		}
		if d1.AlertID != 0 {
			t.Error("CommitBatch modified its input")
		}
		offs, err := s.Offsets(ctx)
		if err != nil || len(offs) != 2 || offs[0].Offset != 4096 || offs[1].Cursor != "s=abc" {
			t.Errorf("offsets %+v, %v", offs, err)
		}
		// The stream numbers the batch's decisions like AddDecisions does.
		added, _, err := s.DecisionsSince(ctx, 0)
		if err != nil || len(added) != 2 {
			t.Errorf("stream after the batch: %d added, %v", len(added), err)
		}

		// DecisionsOfAlert finds a decision live, then deleted.
		got, err := s.DecisionsOfAlert(ctx, ids[0])
		if err != nil || len(got) != 1 || got[0].Scope != d1.Scope || !got[0].Deleted.IsZero() {
			t.Fatalf("DecisionsOfAlert(%d) = %+v, %v", ids[0], got, err)
		}
		deleteOrFail(t, s, DecisionFilter{Scope: d1.Scope}, 1)
		got, err = s.DecisionsOfAlert(ctx, ids[0])
		if err != nil || len(got) != 1 || got[0].Deleted.IsZero() {
			t.Errorf("DecisionsOfAlert after deletion = %+v, %v", got, err)
		}
		if got, err := s.DecisionsOfAlert(ctx, ids[1]); err != nil || len(got) != 0 {
			t.Errorf("an alert without decision has %+v, %v", got, err)
		}
		// Decisions without an alert (AlertID 0) belong to no alert.
		mustAdd(t, s, ban("198.51.100.0/24", time.Hour, "manual", "cli"))
		if got, err := s.DecisionsOfAlert(ctx, 0); err != nil || len(got) != 0 {
			t.Errorf("DecisionsOfAlert(0) = %+v, %v", got, err)
		}
	})
}

// TestCommitBatchAllOrNothing makes the last step of a batch (the offsets)
// fail and checks that its alerts and decisions were not stored either.
func TestCommitBatchAllOrNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		if _, err := s.w.ExecContext(ctx, "ALTER TABLE offsets RENAME TO offsets_gone"); err != nil {
			t.Fatal(err)
		}
		s.q = buildQueries(s.dialect)
		cur, err := s.Cursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := ban("192.0.2.1/32", time.Hour, "ssh-bf", "herd")
		_, err = s.CommitBatch(ctx, Batch{
			Alerts:  []BatchAlert{{Alert: alertOn("ssh-bf", "192.0.2.1"), Decision: &d}},
			Offsets: []Offset{{Source: "/var/log/auth.log", Offset: 10}},
		})
		if err == nil {
			t.Fatal("the batch committed without its offsets table")
		}
		if as, err := s.Alerts(ctx, AlertFilter{}); err != nil || len(as) != 0 {
			t.Errorf("alerts after a failed batch: %+v, %v", as, err)
		}
		if live, err := s.LiveDecisions(ctx, t0); err != nil || len(live) != 0 {
			t.Errorf("decisions after a failed batch: %+v, %v", live, err)
		}
		if c, err := s.Cursor(ctx); err != nil || c != cur {
			t.Errorf("stream moved from %d to %d (%v) on a failed batch", cur, c, err)
		}
	})
}

func TestCounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &fakeClock{t: t0}
		s := b.open(t, clock)
		mustAdd(t, s,
			ban("192.0.2.1/32", time.Hour, "ssh-bf", "herd"),
			ban("192.0.2.2/32", time.Hour, "ssh-bf", "herd"),
			ban("192.0.2.3/32", time.Minute, "ssh-bf", "herd"), // ended at the count's time
			ban("198.51.100.0/24", time.Hour, "manual", "cli"),
			ban("203.0.113.0/24", time.Hour, "", "community"),
		)
		deleteOrFail(t, s, DecisionFilter{Scope: netip.MustParsePrefix("192.0.2.2/32")}, 1)
		got, err := s.CountLiveDecisions(ctx, t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := []DecisionCount{{"cli", "manual", 1}, {"community", "", 1}, {"herd", "ssh-bf", 1}}
		if !slices.Equal(got, want) {
			t.Errorf("CountLiveDecisions = %+v, want %+v", got, want)
		}

		for i, at := range []time.Duration{-48 * time.Hour, -time.Hour, 0} {
			clock.Set(t0.Add(at))
			if _, err := s.AddAlert(ctx, alertOn("ssh-bf", "192.0.2.9")); err != nil {
				t.Fatalf("alert %d: %v", i, err)
			}
		}
		for since, want := range map[time.Duration]int{-24 * time.Hour: 2, -time.Hour: 2, -time.Minute: 1, time.Minute: 0, -72 * time.Hour: 3} {
			if n, err := s.CountAlerts(ctx, t0.Add(since)); err != nil || n != want {
				t.Errorf("CountAlerts(t0%+v) = %d, %v; want %d", since, n, err, want)
			}
		}
	})
}

// BenchmarkCommitBatch commits the agent's urgent batch (one alert, its
// decision, one offset) in one transaction; BenchmarkCommitThree does the
// same in the three transactions the agent used before CommitBatch.
func BenchmarkCommitBatch(b *testing.B) {
	s := sqliteBackend.open(b, nil)
	i := 0
	for b.Loop() {
		d := benchDecisions(i, 1)[0]
		if _, err := s.CommitBatch(ctx, Batch{
			Alerts:  []BatchAlert{{Alert: alertOn("ssh-bf", d.Scope.Addr().String(), "a line"), Decision: &d}},
			Offsets: []Offset{{Source: "/var/log/auth.log", Offset: int64(i)}},
		}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkCommitThree(b *testing.B) {
	s := sqliteBackend.open(b, nil)
	i := 0
	for b.Loop() {
		d := benchDecisions(i, 1)[0]
		id, err := s.AddAlert(ctx, alertOn("ssh-bf", d.Scope.Addr().String(), "a line"))
		if err != nil {
			b.Fatal(err)
		}
		d.AlertID = id
		if _, err := s.AddDecisions(ctx, []DecisionRecord{d}); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveOffsets(ctx, []Offset{{Source: "/var/log/auth.log", Offset: int64(i)}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
