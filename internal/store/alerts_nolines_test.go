package store

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// AlertFilter.NoLines leaves the lines out of a listing; without it, and
// for one alert, they are there.
func TestAlertsWithoutLines(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
		s := b.open(t, &fakeClock{t: t0})
		ctx := context.Background()
		src := netip.MustParseAddr("192.0.2.9")
		id, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{Scenario: "ssh-bruteforce", Source: src, Scope: netip.PrefixFrom(src, 32),
			First: t0, Last: t0, Events: 6}, Lines: []string{"one", "two"}})
		if err != nil {
			t.Fatal(err)
		}
		short, err := s.Alerts(ctx, AlertFilter{NoLines: true})
		if err != nil || len(short) != 1 || len(short[0].Lines) != 0 || short[0].Source != src {
			t.Fatalf("NoLines: %+v, %v", short, err)
		}
		full, err := s.Alerts(ctx, AlertFilter{})
		if err != nil || len(full) != 1 || len(full[0].Lines) != 2 {
			t.Fatalf("with lines: %+v, %v", full, err)
		}
		one, err := s.Alert(ctx, id)
		if err != nil || len(one.Lines) != 2 {
			t.Fatalf("Alert: %+v, %v", one, err)
		}
	})
}
