package store

import (
	"bytes"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

func TestMachines(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		h1, h2 := []byte{9, 8, 7, 0, 255}, []byte("another hash")
		if err := s.AddMachine(ctx, "web1", h1); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMachine(ctx, "web2", h2); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMachine(ctx, "web1", h2); !errors.Is(err, ErrExists) {
			t.Errorf("AddMachine(existing name) error %v, want ErrExists", err)
		}
		if err := s.AddMachine(ctx, "", h1); err == nil {
			t.Error("AddMachine with an empty name succeeded")
		}
		m, err := s.MachineByName(ctx, "web1")
		if err != nil || m.Name != "web1" || !bytes.Equal(m.PasswordHash, h1) || !m.Created.Equal(t0) {
			t.Errorf("MachineByName(web1) = %+v, %v", m, err)
		}
		if _, err := s.MachineByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("MachineByName(missing) error %v, want ErrNotFound", err)
		}
		ms, err := s.Machines(ctx)
		if err != nil || len(ms) != 2 || ms[0].Name != "web1" || ms[1].Name != "web2" || !bytes.Equal(ms[1].PasswordHash, h2) {
			t.Errorf("Machines = %+v, %v", ms, err)
		}
		if err := s.DeleteMachine(ctx, "web1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteMachine(ctx, "web1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteMachine(deleted) error %v, want ErrNotFound", err)
		}
		if _, err := s.MachineByName(ctx, "web1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted machine still found: %v", err)
		}
	})
}

func TestSecretFirstValueWins(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		s1 := b.openDSN(t, dsn, nil)
		s2 := b.openDSN(t, dsn, nil)
		// Two processes starting at once: each proposes its own value;
		// both must end with the same one.
		var wg sync.WaitGroup
		got := make([][]byte, 2)
		errs := make([]error, 2)
		for i, s := range []*Store{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = s.Secret(ctx, "jwt", []byte{byte('a' + i), 1, 2, 3})
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		if !bytes.Equal(got[0], got[1]) || len(got[0]) != 4 {
			t.Errorf("Secret gave %x and %x; want one value", got[0], got[1])
		}
		again, err := s1.Secret(ctx, "jwt", []byte("ignored"))
		if err != nil || !bytes.Equal(again, got[0]) {
			t.Errorf("Secret again = %x, %v; want %x", again, err, got[0])
		}
		other, err := s1.Secret(ctx, "other", []byte("x"))
		if err != nil || string(other) != "x" {
			t.Errorf("Secret(other) = %q, %v", other, err)
		}
	})
}

func TestAddRemoteAlert(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		src := netip.MustParseAddr("198.51.100.9")
		rec := AlertRecord{Alert: event.Alert{Scenario: "herd/ssh-bruteforce", Source: src,
			Scope: netip.PrefixFrom(src, 32), First: t0.Add(-time.Minute), Last: t0, Events: 6, Remedy: true},
			Lines: []string{"line one"}, Machine: "web1", RemoteID: "inst-1:17"}
		dec := DecisionRecord{Decision: event.Decision{Type: event.Ban, Scope: rec.Scope, Duration: time.Hour,
			Scenario: rec.Scenario, Origin: "herd"}}
		local, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{Scenario: "x", Source: src}, Machine: "ignored", RemoteID: "ignored"})
		if err != nil {
			t.Fatal(err)
		}
		cur0, _ := s.Cursor(ctx)
		id, dup, err := s.AddRemoteAlert(ctx, rec, []DecisionRecord{dec})
		if err != nil || dup {
			t.Fatalf("AddRemoteAlert = %d, %v, %v", id, dup, err)
		}
		// The same report again (its answer was lost): no second alert, no
		// second decision, the same id.
		id2, dup, err := s.AddRemoteAlert(ctx, rec, []DecisionRecord{dec})
		if err != nil || !dup || id2 != id {
			t.Errorf("AddRemoteAlert again = %d, %v, %v; want %d, true", id2, dup, err, id)
		}
		// The same remote id from another machine is another alert.
		rec3 := rec
		rec3.Machine = "web2"
		id3, dup, err := s.AddRemoteAlert(ctx, rec3, nil)
		if err != nil || dup || id3 == id {
			t.Errorf("AddRemoteAlert(other machine) = %d, %v, %v", id3, dup, err)
		}
		if _, _, err := s.AddRemoteAlert(ctx, AlertRecord{Alert: rec.Alert}, nil); err == nil {
			t.Error("AddRemoteAlert without machine succeeded")
		}
		added, _, err := s.DecisionsSince(ctx, cur0)
		if err != nil {
			t.Fatal(err)
		}
		if len(added) != 1 || added[0].AlertID != id || added[0].Scope != rec.Scope || added[0].Origin != "herd" || !added[0].Until.Equal(t0.Add(time.Hour)) {
			t.Errorf("decisions after the reports = %+v; want one ban tied to alert %d", added, id)
		}
		got, err := s.Alert(ctx, id)
		if err != nil || got.Machine != "web1" || got.RemoteID != "inst-1:17" || got.Events != 6 || len(got.Lines) != 1 {
			t.Errorf("Alert(%d) = %+v, %v", id, got, err)
		}
		// Only this host's alerts are to be reported onwards.
		mine, err := s.LocalAlertsAfter(ctx, 0, 10)
		if err != nil || len(mine) != 1 || mine[0].ID != local || mine[0].Machine != "" || mine[0].RemoteID != "" {
			t.Errorf("LocalAlertsAfter(0) = %+v, %v; want only alert %d", mine, err, local)
		}
		if mine, err := s.LocalAlertsAfter(ctx, local, 10); err != nil || len(mine) != 0 {
			t.Errorf("LocalAlertsAfter(%d) = %+v, %v; want none", local, mine, err)
		}
	})
}

func TestDecisionsOfAlerts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		var alerts []int64
		for range 3 {
			id, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{Scenario: "s"}})
			if err != nil {
				t.Fatal(err)
			}
			alerts = append(alerts, id)
		}
		d := func(scope string, alert int64) DecisionRecord {
			r := ban(scope, time.Hour, "s", "herd")
			r.AlertID = alert
			return r
		}
		ids, err := s.AddDecisions(ctx, []DecisionRecord{d("192.0.2.1/32", alerts[0]), d("192.0.2.2/32", alerts[1]),
			d("192.0.2.3/32", alerts[2]), d("192.0.2.4/32", 0)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteDecisions(ctx, DecisionFilter{IDs: []int64{ids[1]}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.DecisionsOfAlerts(ctx, alerts[:2])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != ids[0] || got[0].AlertID != alerts[0] {
			t.Errorf("DecisionsOfAlerts(%v) = %+v; want only decision %d (the other was deleted)", alerts[:2], got, ids[0])
		}
		if got, err := s.DecisionsOfAlerts(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("DecisionsOfAlerts(nil) = %v, %v", got, err)
		}
	})
}
