package console

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

// Bounds of the answers.
const (
	// overviewAlerts is how many of a period's newest alerts the overview
	// counts; beyond, it says it was cut.
	overviewAlerts = 5000
	topN           = 10
	seriesPoints   = 60
	maxDecisions   = 500
	// DefaultBan is the duration of a ban added from the console when none
	// is given; MaxBan the longest accepted.
	DefaultBan = 4 * time.Hour
	MaxBan     = 365 * 24 * time.Hour
)

// periods are the overview's choices.
var periods = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// alertView is an alert as the console's scripts receive it. Every string
// may be attacker-written: the scripts insert them as text only.
type alertView struct {
	ID       int64     `json:"id"`
	Scenario string    `json:"scenario"`
	Service  string    `json:"service"`
	Source   string    `json:"source"`
	Scope    string    `json:"scope"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Events   int       `json:"events"`
	Remedy   bool      `json:"remedy"`
	Created  time.Time `json:"created"`
	Machine  string    `json:"machine,omitempty"`
	// Country (ISO 3166 alpha-2) and ASN when the alert carries them
	// (GeoIP enrichment); empty otherwise, shown as "unknown".
	Country   string         `json:"country,omitempty"`
	ASN       uint32         `json:"asn,omitempty"`
	ASOrg     string         `json:"as_org,omitempty"`
	Lines     []string       `json:"lines,omitempty"`
	Decisions []decisionView `json:"decisions,omitempty"`
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
	AlertID   int64      `json:"alert_id,omitempty"`
	Deleted   *time.Time `json:"deleted,omitempty"`
}

// service is the service a scenario watches: its name's first word
// (sshd-bruteforce → sshd, http-probing → http).
func service(scenario string) string {
	s, _, _ := strings.Cut(scenario, "-")
	return s
}

func viewAlert(a *store.AlertRecord) alertView {
	v := alertView{ID: a.ID, Scenario: a.Scenario, Service: service(a.Scenario), First: a.First.UTC(), Last: a.Last.UTC(),
		Events: a.Events, Remedy: a.Remedy, Created: a.Created.UTC(), Machine: a.Machine,
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
		Until: d.Until.UTC(), Origin: d.Origin, Scenario: d.Scenario, Simulated: d.Simulated, Created: d.Created.UTC(), AlertID: d.AlertID}
	if !d.Deleted.IsZero() {
		t := d.Deleted.UTC()
		v.Deleted = &t
	}
	return v
}

// count is one row of a top list.
type count struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

func top(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int { return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Key, b.Key)) })
	if len(out) > topN {
		out = out[:topN]
	}
	return out
}

// overview answers the dashboard: the period's alerts counted per source,
// scenario, service, country and ASN, and per time bucket (alerts, and
// distinct sources), for the charts.
func (s *Server) overview(w http.ResponseWriter, r *http.Request, _ *session) {
	p := cmp.Or(r.URL.Query().Get("period"), "24h")
	d, ok := periods[p]
	if !ok {
		writeError(w, http.StatusBadRequest, "period must be one of 1h, 6h, 24h, 7d, 30d")
		return
	}
	now := s.clk.Now()
	from := now.Add(-d)
	as, err := s.o.Store.Alerts(r.Context(), store.AlertFilter{Since: from, Limit: overviewAlerts, NoLines: true})
	if err != nil {
		s.fail(w, err)
		return
	}
	src, scn, svc, ctry, asn := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	step := d / seriesPoints
	times := make([]int64, seriesPoints)
	alerts := make([]int, seriesPoints)
	sources := make([]map[netip.Addr]struct{}, seriesPoints)
	for i := range times {
		times[i] = from.Add(time.Duration(i) * step).Unix()
	}
	for i := range as {
		v := viewAlert(&as[i])
		src[v.Source]++
		scn[v.Scenario]++
		svc[v.Service]++
		ctry[cmp.Or(v.Country, "unknown")]++
		a := "unknown"
		if v.ASN != 0 {
			a = "AS" + strconv.FormatUint(uint64(v.ASN), 10)
		}
		asn[a]++
		b := int(as[i].Created.Sub(from) / step)
		if b < 0 || b >= seriesPoints {
			continue
		}
		alerts[b]++
		if sources[b] == nil {
			sources[b] = map[netip.Addr]struct{}{}
		}
		sources[b][as[i].Source] = struct{}{}
	}
	distinct := make([]int, seriesPoints)
	for i, m := range sources {
		distinct[i] = len(m)
	}
	countries := make([]count, 0, len(ctry))
	for k, n := range ctry {
		countries = append(countries, count{k, n})
	}
	writeJSON(w, map[string]any{
		"period": p, "from": from.UTC(), "to": now.UTC(), "alerts": len(as), "cut": len(as) == overviewAlerts,
		"sources": top(src), "scenarios": top(scn), "services": top(svc), "countries": top(ctry), "asns": top(asn),
		"map":    countries, // every country, for the world map
		"series": map[string]any{"time": times, "alerts": alerts, "sources": distinct},
	})
}

// alerts lists the newest alerts, before=ID for the next page.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	f := store.AlertFilter{Limit: 100, Scenario: q.Get("scenario"), NoLines: true}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil {
		f.BeforeID = b
	}
	if a, err := netip.ParseAddr(q.Get("source")); err == nil {
		f.Source = a
	}
	as, err := s.o.Store.Alerts(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]alertView, len(as))
	for i := range as {
		out[i] = viewAlert(&as[i])
	}
	writeJSON(w, map[string]any{"alerts": out})
}

// alert answers one alert with its decisions and the log lines behind it.
func (s *Server) alert(w http.ResponseWriter, r *http.Request, _ *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad alert id")
		return
	}
	a, err := s.o.Store.Alert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such alert")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	ds, err := s.o.Store.DecisionsOfAlert(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	v := viewAlert(&a)
	v.Lines = a.Lines
	for i := range ds {
		v.Decisions = append(v.Decisions, viewDecision(&ds[i]))
	}
	writeJSON(w, v)
}

// decisions lists the live decisions matching q (a substring of the scope,
// scenario or origin, or an address the scope contains) and origin,
// newest first, at most maxDecisions.
func (s *Server) decisions(w http.ResponseWriter, r *http.Request, _ *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	origin := r.URL.Query().Get("origin")
	live, err := s.o.Store.LiveDecisions(r.Context(), s.clk.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	addr, _ := netip.ParseAddr(q)
	origins := map[string]int{}
	out := []decisionView{}
	for i := range live {
		d := &live[i]
		origins[d.Origin]++
		if origin != "" && d.Origin != origin {
			continue
		}
		if q != "" && !(addr.IsValid() && d.Scope.Contains(addr)) &&
			!strings.Contains(d.Scope.String(), q) && !strings.Contains(d.Scenario, q) && !strings.Contains(d.Origin, q) {
			continue
		}
		out = append(out, viewDecision(d))
	}
	slices.SortFunc(out, func(a, b decisionView) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID)) })
	matched := len(out)
	if len(out) > maxDecisions {
		out = out[:maxDecisions]
	}
	writeJSON(w, map[string]any{"live": len(live), "matched": matched, "decisions": out, "origins": origins})
}

// parseScope reads an address or a prefix.
func parseScope(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ban adds a ban, as herd decisions add does (query.Ban), of origin
// console; the agent enforces it at its next poll of the store.
func (s *Server) ban(w http.ResponseWriter, r *http.Request, _ *session) {
	var body struct {
		Scope    string `json:"scope"`
		Duration string `json:"duration"`
		Reason   string `json:"reason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	scope, err := parseScope(body.Scope)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d := DefaultBan
	if body.Duration != "" {
		if d, err = time.ParseDuration(body.Duration); err != nil || d <= 0 || d > MaxBan {
			writeError(w, http.StatusBadRequest, "duration: a positive Go duration (4h, 30m) of at most 8760h")
			return
		}
	}
	reason := cmp.Or(strings.TrimSpace(body.Reason), "console")
	if len(reason) > 128 {
		reason = reason[:128]
	}
	if err := query.Ban(r.Context(), s.o.Store, s.o.NeverBan, s.clk.Now(), scope, d, reason, event.OriginConsole); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	s.log.Info("console: ban", "scope", scope, "duration", d, "source", remoteAddr(r))
	s.Notify()
	writeJSON(w, map[string]any{"scope": scope.String(), "duration": d.String()})
}

// unban deletes the live decisions on a scope, as herd decisions delete
// does (query.Unban); the agent lifts them at its next poll of the store.
func (s *Server) unban(w http.ResponseWriter, r *http.Request, _ *session) {
	var body struct {
		Scope string `json:"scope"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	scope, err := parseScope(body.Scope)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, err := query.Unban(r.Context(), s.o.Store, scope)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("console: unban", "scope", scope, "deleted", n, "source", remoteAddr(r))
	s.Notify()
	writeJSON(w, map[string]any{"scope": scope.String(), "deleted": n})
}

// community answers the state of the hub's lists: versions held, when last
// in step, live entries, and which of this host's attackers of the last
// week the lists already held.
func (s *Server) community(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	now := s.clk.Now()
	m, err := s.o.Store.Marks(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	live, err := s.o.Store.LiveDecisions(ctx, now)
	if err != nil {
		s.fail(w, err)
		return
	}
	listed := map[netip.Prefix]string{}
	bits := map[int]bool{}
	size := map[string]int{}
	for i := range live {
		d := &live[i]
		if d.Origin == event.OriginCommunity || d.Origin == event.OriginPredicted {
			listed[d.Scope] = d.Origin
			bits[d.Scope.Bits()] = true
			size[d.Origin]++
		}
	}
	as, err := s.o.Store.Alerts(ctx, store.AlertFilter{Since: now.Add(-7 * 24 * time.Hour), Limit: overviewAlerts, NoLines: true})
	if err != nil {
		s.fail(w, err)
		return
	}
	type hit struct {
		Source string `json:"source"`
		Scope  string `json:"scope"`
		List   string `json:"list"`
		Alerts int    `json:"alerts"`
	}
	hits := map[netip.Addr]*hit{}
	for i := range as {
		a := as[i].Source
		if h := hits[a]; h != nil {
			h.Alerts++
			continue
		}
		for b := range bits {
			p, err := a.Prefix(b)
			if err != nil {
				continue
			}
			if o, ok := listed[p]; ok {
				hits[a] = &hit{Source: a.String(), Scope: p.String(), List: o, Alerts: 1}
				break
			}
		}
	}
	held := []hit{}
	for _, h := range hits {
		held = append(held, *h)
	}
	slices.SortFunc(held, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.Alerts, a.Alerts), strings.Compare(a.Source, b.Source))
	})
	mark := func(h store.HubMark) map[string]any {
		v := map[string]any{"version": h.Version}
		if !h.Synced.IsZero() {
			v["synced"] = h.Synced.UTC()
		}
		return v
	}
	writeJSON(w, map[string]any{
		"community": mark(m.Community), "predicted": mark(m.Predicted),
		"community_live": size[event.OriginCommunity], "predicted_live": size[event.OriginPredicted],
		"attackers_week": len(distinct(as)), "held": held,
	})
}

func distinct(as []store.AlertRecord) map[netip.Addr]struct{} {
	m := map[netip.Addr]struct{}{}
	for i := range as {
		m[as[i].Source] = struct{}{}
	}
	return m
}

// health answers the sources' and the firewall's state: each followed
// file's saved offset against its size, and, from the agent's metrics, the
// lines read, parsed, unparsed and dropped per source.
func (s *Server) health(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	out := map[string]any{"now": s.clk.Now().UTC()}
	m, err := s.o.Store.Marks(ctx)
	if err != nil {
		s.fail(w, err)
		return
	}
	files := []query.SourceStatus{}
	for _, off := range m.Files {
		files = append(files, query.FileStatus(off))
	}
	out["files"] = files
	out["journal_cursor"] = m.Journal != ""
	type source struct {
		Source   string  `json:"source"`
		Read     float64 `json:"read"`
		Parsed   float64 `json:"parsed"`
		Unparsed float64 `json:"unparsed"`
		Dropped  float64 `json:"dropped"`
		// UnparsedShare is unparsed/read, 0 when nothing was read.
		UnparsedShare float64 `json:"unparsed_share"`
	}
	sources := []source{}
	if s.o.Scrape != nil {
		sc, err := s.o.Scrape()
		if err != nil {
			out["metrics_error"] = err.Error()
		} else {
			names := map[string]bool{}
			for _, x := range sc[metrics.LinesRead] {
				names[x.Labels["source"]] = true
			}
			for _, x := range sc[metrics.LinesDropped] {
				names[x.Labels["source"]] = true
			}
			for n := range names {
				v := source{Source: n, Read: sc.Sum(metrics.LinesRead, "source", n), Parsed: sc.Sum(metrics.LinesParsed, "source", n),
					Unparsed: sc.Sum(metrics.LinesUnparsed, "source", n), Dropped: sc.Sum(metrics.LinesDropped, "source", n)}
				if v.Read > 0 {
					v.UnparsedShare = v.Unparsed / v.Read
				}
				sources = append(sources, v)
			}
			slices.SortFunc(sources, func(a, b source) int { return strings.Compare(a.Source, b.Source) })
			out["agent"] = map[string]float64{
				"start": sc.Sum(metrics.StartTime), "live_decisions": sc.Sum(metrics.LiveDecisions),
				"live_buckets": sc.Sum(metrics.LiveBuckets), "alerts": sc.Sum(metrics.Alerts),
				"decisions": sc.Sum(metrics.Decisions), "firewall_errors": sc.Sum(metrics.FirewallErrors),
				"evictions": sc.Sum(metrics.BucketEvictions),
			}
		}
	}
	out["sources"] = sources
	if s.o.Firewall != nil {
		out["firewall"] = s.o.Firewall()
	}
	writeJSON(w, out)
}

// fail answers an internal error without its detail (logged instead).
func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("console: request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal error (see the agent's log)")
}
