package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/termtext"
)

// AlertsOptions selects the alerts ListAlerts shows.
type AlertsOptions struct {
	Since    time.Duration // created within this long before now; 0 = any time
	Scenario string
	Source   netip.Addr  // the zero Addr = any
	Limit    int         // newest first; 0 = the store's default (100)
	JSON     bool        // one JSON object per line instead of a table
	Time     clock.Clock // nil = clock.Real
}

// alertView is an alert as herd alerts shows it in JSON.
type alertView struct {
	ID        int64          `json:"id"`
	Scenario  string         `json:"scenario"`
	Source    string         `json:"source"`
	Scope     string         `json:"scope"`
	First     time.Time      `json:"first"`
	Last      time.Time      `json:"last"`
	Events    int            `json:"events"`
	Remedy    bool           `json:"remedy"`
	Country   string         `json:"country,omitempty"`
	ASN       uint32         `json:"asn,omitempty"`
	ASOrg     string         `json:"as_org,omitempty"`
	Created   time.Time      `json:"created"`
	Decisions []decisionView `json:"decisions,omitempty"`
	Lines     []string       `json:"lines,omitempty"`
}

type decisionView struct {
	ID        int64      `json:"id"`
	Type      string     `json:"type"`
	Scope     string     `json:"scope"`
	Duration  string     `json:"duration"`
	Until     time.Time  `json:"until"`
	Origin    string     `json:"origin"`
	Scenario  string     `json:"scenario"`
	Simulated bool       `json:"simulated,omitempty"`
	Created   time.Time  `json:"created"`
	Deleted   *time.Time `json:"deleted,omitempty"` // deleted or expired; absent while live
}

func viewAlert(a *store.AlertRecord) alertView {
	v := alertView{ID: a.ID, Scenario: a.Scenario, First: a.First.UTC(), Last: a.Last.UTC(),
		Events: a.Events, Remedy: a.Remedy, Created: a.Created.UTC(),
		Country: a.Geo.Country, ASN: a.Geo.ASN, ASOrg: a.Geo.ASOrg}
	if a.Source.IsValid() {
		v.Source = a.Source.String()
	}
	if a.Scope.IsValid() {
		v.Scope = a.Scope.String()
	}
	return v
}

func viewDecision(d *store.DecisionRecord) decisionView {
	v := decisionView{ID: d.ID, Type: d.Type.String(), Scope: d.Scope.String(), Duration: d.Duration.String(),
		Until: d.Until.UTC(), Origin: d.Origin, Scenario: d.Scenario, Simulated: d.Simulated, Created: d.Created.UTC()}
	if !d.Deleted.IsZero() {
		t := d.Deleted.UTC()
		v.Deleted = &t
	}
	return v
}

// ListAlerts writes the alerts of the configured store that o selects,
// newest first: a table (id, created, scenario, source, events) or, with
// o.JSON, one JSON object per line (with the source's country and ASN when
// enrichment knew them; herd alerts inspect shows them too).
func ListAlerts(ctx context.Context, cfg *config.Config, o AlertsOptions, w io.Writer) error {
	now := clock.Or(o.Time).Now
	f := store.AlertFilter{Scenario: o.Scenario, Source: o.Source, Limit: o.Limit}
	if o.Since > 0 {
		f.Since = now().Add(-o.Since)
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	as, err := st.Alerts(ctx, f)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(termtext.JSON(w))
		for i := range as {
			if err := enc.Encode(viewAlert(&as[i])); err != nil {
				return err
			}
		}
		return nil
	}
	empty := "no alerts"
	if o.Since > 0 {
		empty += " in the last " + o.Since.String()
	}
	t := newTable(w, empty, "ID", "CREATED", "SCENARIO", "SOURCE", "EVENTS")
	for i := range as {
		v := viewAlert(&as[i])
		t.row(strconv.FormatInt(v.ID, 10), v.Created.Format(time.RFC3339), termtext.String(v.Scenario), v.Source, strconv.Itoa(v.Events))
	}
	return t.flush()
}

// geoText is a source's country and autonomous system as the alert table
// shows them ("FR AS64500 Example SA"), "-" when unknown. The organisation
// comes from a third-party database: its control characters are escaped.
func geoText(g event.Geo) string {
	if !g.Known() {
		return "-"
	}
	var parts []string
	if g.Country != "" {
		parts = append(parts, g.Country)
	}
	if g.ASN != 0 {
		parts = append(parts, fmt.Sprintf("AS%d", g.ASN))
		if g.ASOrg != "" {
			parts = append(parts, termtext.String(g.ASOrg))
		}
	}
	return strings.Join(parts, " ")
}

// InspectAlert writes alert id of the configured store: what it says, the
// decisions taken on it (live or ended) and the log lines behind it, as text
// or, with asJSON, as one JSON object. The lines are attacker-written: the
// text form escapes their control characters.
func InspectAlert(ctx context.Context, cfg *config.Config, id int64, asJSON bool, w io.Writer) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := st.Alert(ctx, id)
	if err != nil {
		return fmt.Errorf("alerts inspect: %w", err)
	}
	ds, err := st.DecisionsOfAlert(ctx, id)
	if err != nil {
		return fmt.Errorf("alerts inspect: %w", err)
	}
	v := viewAlert(&a)
	v.Lines = a.Lines
	for i := range ds {
		v.Decisions = append(v.Decisions, viewDecision(&ds[i]))
	}
	if asJSON {
		return json.NewEncoder(termtext.JSON(w)).Encode(v)
	}
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	fmt.Fprintf(&b, "alert %d  %s\n", a.ID, termtext.String(a.Scenario))
	fmt.Fprintf(&b, "  source   %s (scope %s)\n", v.Source, v.Scope)
	fmt.Fprintf(&b, "  events   %d from %s to %s\n", a.Events, ts(a.First), ts(a.Last))
	fmt.Fprintf(&b, "  created  %s\n", ts(a.Created))
	if a.Geo.Known() {
		fmt.Fprintf(&b, "  origin   %s\n", geoText(a.Geo))
	}
	if len(ds) == 0 {
		b.WriteString("decisions: none\n")
	} else {
		fmt.Fprintf(&b, "decisions: %d\n", len(ds))
	}
	for _, d := range v.Decisions {
		state := "live"
		if d.Deleted != nil {
			state = "ended " + ts(*d.Deleted)
		}
		sim := ""
		if d.Simulated {
			sim = " simulated"
		}
		fmt.Fprintf(&b, "  #%d %s %s for %s until %s origin=%s %s%s\n", d.ID, d.Type, d.Scope, d.Duration, ts(d.Until), termtext.String(d.Origin), state, sim)
	}
	fmt.Fprintf(&b, "lines: %d\n", len(a.Lines))
	for _, l := range a.Lines {
		b.WriteString("  ")
		b.WriteString(termtext.String(l))
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
