package query

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/termtext"
)

// OpenStore opens the database the configuration names, creating the
// directory of a SQLite file.
func OpenStore(ctx context.Context, cfg *config.Config, clk clock.Clock) (*store.Store, error) {
	if cfg.Database.Driver == "sqlite" || cfg.Database.Driver == "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Database.DSN), 0o700); err != nil {
			return nil, fmt.Errorf("database %s: directory: %w", cfg.Database.DSN, err)
		}
	}
	return store.Open(ctx, store.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, Time: clk})
}

// ListDecisions writes the live decisions of the configured store as a
// table (id, scope, type, until, origin, reason; "simulated" after a
// simulated one), or "no live decisions".
func ListDecisions(ctx context.Context, cfg *config.Config, clk clock.Clock, w io.Writer) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	live, err := st.LiveDecisions(ctx, clock.Or(clk).Now())
	if err != nil {
		return err
	}
	t := newTable(w, "no live decisions", "ID", "SCOPE", "TYPE", "UNTIL", "ORIGIN", "REASON")
	for i := range live {
		d := &live[i]
		until := "never"
		if !d.Until.IsZero() {
			until = d.Until.UTC().Format(time.RFC3339)
		}
		reason := termtext.String(d.Scenario)
		if d.Simulated {
			reason += " (simulated)"
		}
		t.row(strconv.FormatInt(d.ID, 10), d.Scope.String(), d.Type.String(), until, termtext.String(d.Origin), reason)
	}
	return t.flush()
}

// AddDecision stores a ban of scope for duration (origin "cli", reason as
// its scenario). A running agent applies it at its next poll of the store.
// A scope the never-ban set covers is refused.
func AddDecision(ctx context.Context, cfg *config.Config, clk clock.Clock, scope netip.Prefix, duration time.Duration, reason string) error {
	host, _ := ipx.HostAddrs()
	nb := ipx.NewNeverBan(host, cfg.Allow)
	if nb.Overlaps(scope) {
		return fmt.Errorf("decisions add: %s covers loopback, a host address or the allowlist; refused", scope)
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return Ban(ctx, st, nb, clock.Or(clk).Now(), scope, duration, reason, event.OriginCLI)
}

// Ban stores in st a ban of scope for duration from now, with reason as
// its scenario and origin as given: the one path of herd decisions add and
// of the console. A running agent applies it at its next poll of the
// store. A scope nb covers is refused.
func Ban(ctx context.Context, st *store.Store, nb *ipx.NeverBan, now time.Time, scope netip.Prefix, duration time.Duration, reason, origin string) error {
	if nb.Overlaps(scope) {
		return fmt.Errorf("decisions add: %s covers loopback, a host address or the allowlist; refused", scope)
	}
	if duration <= 0 {
		return fmt.Errorf("decisions add: duration %s is not positive", duration)
	}
	_, err := st.AddDecisions(ctx, []store.DecisionRecord{{Decision: event.Decision{
		Type: event.Ban, Scope: scope.Masked(), Duration: duration, Until: now.Add(duration),
		Scenario: reason, Origin: origin,
	}}})
	if err != nil {
		return fmt.Errorf("decisions add: %w", err)
	}
	return nil
}

// DeleteDecisions deletes the live decisions on scope from the configured
// store and returns how many. A running agent lifts them at its next poll.
func DeleteDecisions(ctx context.Context, cfg *config.Config, scope netip.Prefix) (int, error) {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return Unban(ctx, st, scope)
}

// Unban deletes the live decisions on scope from st and returns how many:
// the one path of herd decisions delete and of the console. A running
// agent lifts them at its next poll of the store.
func Unban(ctx context.Context, st *store.Store, scope netip.Prefix) (int, error) {
	return st.DeleteDecisions(ctx, store.DecisionFilter{Scope: scope.Masked()})
}

// ImportDecisions stores imported bans (herd import crowdsec): each with
// origin cli, its Scenario as the reason and Until now plus its Duration,
// in one transaction. Scopes the never-ban set (loopback, the host's
// addresses, the allowlist) overlaps are not stored and are returned;
// scopes with a live ban already (an import run twice) are counted in
// already and not stored again.
func ImportDecisions(ctx context.Context, cfg *config.Config, clk clock.Clock, ds []event.Decision) (added, already int, refused []netip.Prefix, err error) {
	host, _ := ipx.HostAddrs()
	nb := ipx.NewNeverBan(host, cfg.Allow)
	now := clock.Or(clk).Now()
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	defer st.Close()
	live, err := st.LiveDecisions(ctx, now)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("import decisions: %w", err)
	}
	banned := make(map[netip.Prefix]bool, len(live))
	for _, d := range live {
		if d.Type == event.Ban {
			banned[d.Scope] = true
		}
	}
	recs := make([]store.DecisionRecord, 0, len(ds))
	for _, d := range ds {
		switch {
		case nb.Overlaps(d.Scope):
			refused = append(refused, d.Scope)
			continue
		case banned[d.Scope]:
			already++
			continue
		}
		banned[d.Scope] = true
		d.Type, d.Origin, d.Until = event.Ban, event.OriginCLI, now.Add(d.Duration)
		recs = append(recs, store.DecisionRecord{Decision: d, Created: now})
	}
	if len(recs) == 0 {
		return 0, already, refused, nil
	}
	if _, err := st.AddDecisions(ctx, recs); err != nil {
		return 0, already, refused, fmt.Errorf("import decisions: %w", err)
	}
	return len(recs), already, refused, nil
}
