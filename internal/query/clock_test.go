package query_test

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
)

// TestDecisionsRunOnTheInjectedClock checks that decisions add and list
// read the time from the clock they are given, not the system clock: a ban
// added at a fake time ends an hour after it, and is listed until the fake
// clock passes that end.
func TestDecisionsRunOnTheInjectedClock(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Database = config.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "herd.db")}
	start := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := clock.NewFake(start)
	if err := query.AddDecision(ctx, cfg, clk, netip.MustParsePrefix("192.0.2.7/32"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		t.Helper()
		var out bytes.Buffer
		if err := query.ListDecisions(ctx, cfg, clk, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	want := start.Add(time.Hour).Format(time.RFC3339)
	if got := list(); !strings.Contains(got, "192.0.2.7/32") || !strings.Contains(got, want) {
		t.Fatalf("at the fake start, list = %q; want 192.0.2.7/32 until %s", got, want)
	}
	clk.Advance(59 * time.Minute)
	if got := list(); !strings.Contains(got, "192.0.2.7/32") {
		t.Fatalf("59m later on the fake clock, list = %q; want the ban still live", got)
	}
	clk.Advance(2 * time.Minute)
	if got := list(); got != "no live decisions\n" {
		t.Fatalf("61m later on the fake clock, list = %q; want none", got)
	}
}
