package lapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

// Bounds of a reported alert.
const (
	MaxAlertsPerRequest  = 500
	maxDecisionsPerAlert = 100
	maxEventsPerAlert    = 1000
	maxScenarioBytes     = 256
	maxRemoteIDBytes     = 128
	maxEventsCount       = 1 << 30
	minReportedBitsV4    = 16 // a machine may ban at most a /16 ...
	minReportedBitsV6    = 32 // ... or an IPv6 /32
	lineMetaKey          = "line"
)

// RemoteDecisionOrigin is the origin of every decision a machine reports,
// whatever origin it sent: a machine cannot pose as cli or community.
const RemoteDecisionOrigin = event.OriginHerd

// The wire shape of POST /v1/alerts: CrowdSec's alert model, of which herd
// reads these fields. Other fields (message, capacity, leakspeed, labels,
// meta, machine_id, scenario_hash, ...) are accepted and ignored, so that a
// CrowdSec agent's body decodes.
type alertIn struct {
	UUID        string       `json:"uuid"`
	Scenario    string       `json:"scenario"`
	EventsCount int64        `json:"events_count"`
	StartAt     string       `json:"start_at"`
	StopAt      string       `json:"stop_at"`
	Simulated   bool         `json:"simulated"`
	Remediation *bool        `json:"remediation"`
	Source      *sourceIn    `json:"source"`
	Events      []eventIn    `json:"events"`
	Decisions   []decisionIn `json:"decisions"`
}

type sourceIn struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	IP    string `json:"ip"`
	Range string `json:"range"`
}

type eventIn struct {
	Timestamp string   `json:"timestamp"`
	Meta      []metaIn `json:"meta"`
}

type metaIn struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type decisionIn struct {
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	Value     string `json:"value"`
	Duration  string `json:"duration"`
	Origin    string `json:"origin"`
	Scenario  string `json:"scenario"`
	Simulated bool   `json:"simulated"`
}

// RemoteAlert is one validated alert of a POST /v1/alerts body.
type RemoteAlert struct {
	RemoteID string // the alert's uuid, "" when the machine sent none
	Alert    event.Alert
	Lines    []string
	// Decisions are bans, each scope checked, Duration clamped to the
	// maximum; Until and Origin are left to the caller.
	Decisions []event.Decision
	// Clamped counts decisions whose duration was cut to the maximum.
	Clamped int
	// Undecided: the alert came with no decision at all, is not simulated
	// and did not say "remediation": false. A CrowdSec agent (-no-api)
	// sends its alerts so and leaves the decision to the local API's
	// profiles; herd's decide them (Options.Decide).
	Undecided bool
}

// DecodeAlerts decodes and validates a POST /v1/alerts body: a JSON array
// of at most MaxAlertsPerRequest alerts. Unknown fields are ignored (a
// CrowdSec agent sends many); a malformed or out-of-range known field
// refuses the whole body, naming the alert. Addresses are parsed with
// netip (IPv4-mapped forms unmapped, zones refused); decisions must be
// bans of an Ip or a Range no wider than /16 (IPv4) or /32 (IPv6) with a
// positive Go duration, which is clamped to maxBan. Simulated decisions
// are dropped. now stands for a missing start_at or stop_at.
func DecodeAlerts(body []byte, now time.Time, maxBan time.Duration) ([]RemoteAlert, error) {
	var in []alertIn
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("alerts: invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("alerts: trailing data after the JSON array")
	}
	if in == nil {
		return nil, errors.New("alerts: want a JSON array of alerts")
	}
	if len(in) > MaxAlertsPerRequest {
		return nil, fmt.Errorf("alerts: %d alerts in one request, at most %d", len(in), MaxAlertsPerRequest)
	}
	out := make([]RemoteAlert, 0, len(in))
	for i := range in {
		ra, err := validateAlert(&in[i], now, maxBan)
		if err != nil {
			return nil, fmt.Errorf("alerts: alert %d: %w", i, err)
		}
		out = append(out, ra)
	}
	return out, nil
}

func validateAlert(a *alertIn, now time.Time, maxBan time.Duration) (RemoteAlert, error) {
	var ra RemoteAlert
	if len(a.UUID) > maxRemoteIDBytes || !utf8.ValidString(a.UUID) {
		return ra, fmt.Errorf("uuid: longer than %d bytes or not UTF-8", maxRemoteIDBytes)
	}
	ra.RemoteID = a.UUID
	if a.Scenario == "" || len(a.Scenario) > maxScenarioBytes || !utf8.ValidString(a.Scenario) {
		return ra, fmt.Errorf("scenario: want 1 to %d bytes of UTF-8", maxScenarioBytes)
	}
	if a.EventsCount < 0 || a.EventsCount > maxEventsCount {
		return ra, fmt.Errorf("events_count %d out of range", a.EventsCount)
	}
	if a.Source == nil {
		return ra, errors.New("no source")
	}
	src, scope, err := parseSource(a.Source)
	if err != nil {
		return ra, fmt.Errorf("source: %w", err)
	}
	first, err := parseTime(a.StartAt, now)
	if err != nil {
		return ra, fmt.Errorf("start_at: %w", err)
	}
	last, err := parseTime(a.StopAt, now)
	if err != nil {
		return ra, fmt.Errorf("stop_at: %w", err)
	}
	if len(a.Events) > maxEventsPerAlert {
		return ra, fmt.Errorf("%d events, at most %d", len(a.Events), maxEventsPerAlert)
	}
	for _, e := range a.Events {
		for _, m := range e.Meta {
			if m.Key == lineMetaKey && len(ra.Lines) < store.DefaultMaxAlertLines {
				ra.Lines = append(ra.Lines, m.Value) // the store bounds and cleans it
			}
		}
	}
	if len(a.Decisions) > maxDecisionsPerAlert {
		return ra, fmt.Errorf("%d decisions, at most %d", len(a.Decisions), maxDecisionsPerAlert)
	}
	for j := range a.Decisions {
		d, clamped, err := validateDecision(&a.Decisions[j], a.Scenario, maxBan)
		if err != nil {
			return ra, fmt.Errorf("decision %d: %w", j, err)
		}
		if a.Decisions[j].Simulated || a.Simulated {
			continue
		}
		if clamped {
			ra.Clamped++
		}
		ra.Decisions = append(ra.Decisions, d)
	}
	ra.Undecided = len(a.Decisions) == 0 && !a.Simulated && (a.Remediation == nil || *a.Remediation)
	ra.Alert = event.Alert{Scenario: a.Scenario, Source: src, Scope: scope, First: first, Last: last,
		Events: int(a.EventsCount), Remedy: len(ra.Decisions) > 0}
	return ra, nil
}

// parseSource returns the alert's address (zero for a range without ip)
// and scope.
func parseSource(s *sourceIn) (netip.Addr, netip.Prefix, error) {
	switch {
	case strings.EqualFold(s.Scope, "ip"):
		v := s.Value
		if v == "" {
			v = s.IP
		}
		a, err := parseAddr(v)
		if err != nil {
			return netip.Addr{}, netip.Prefix{}, err
		}
		return a, netip.PrefixFrom(a, a.BitLen()), nil
	case strings.EqualFold(s.Scope, "range"):
		v := s.Value
		if v == "" {
			v = s.Range
		}
		p, err := parseRange(v)
		if err != nil {
			return netip.Addr{}, netip.Prefix{}, err
		}
		var a netip.Addr
		if s.IP != "" {
			if a, err = parseAddr(s.IP); err != nil {
				return netip.Addr{}, netip.Prefix{}, fmt.Errorf("ip: %w", err)
			}
		}
		return a, p, nil
	}
	return netip.Addr{}, netip.Prefix{}, fmt.Errorf("scope %q: want Ip or Range", clipName(s.Scope))
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address: %w", err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", clipName(s))
	}
	return a.Unmap(), nil
}

func parseRange(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, fmt.Errorf("range %q: want CIDR notation", clipName(s))
	}
	p, err := ipx.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("range: %w", err)
	}
	return p, nil
}

func validateDecision(d *decisionIn, scenario string, maxBan time.Duration) (event.Decision, bool, error) {
	if !strings.EqualFold(d.Type, "ban") {
		return event.Decision{}, false, fmt.Errorf("type %q: only ban is accepted", clipName(d.Type))
	}
	var scope netip.Prefix
	switch {
	case strings.EqualFold(d.Scope, "ip"):
		a, err := parseAddr(d.Value)
		if err != nil {
			return event.Decision{}, false, err
		}
		scope = netip.PrefixFrom(a, a.BitLen())
	case strings.EqualFold(d.Scope, "range"):
		p, err := parseRange(d.Value)
		if err != nil {
			return event.Decision{}, false, err
		}
		scope = p
	default:
		return event.Decision{}, false, fmt.Errorf("scope %q: want Ip or Range", clipName(d.Scope))
	}
	widest := minReportedBitsV4
	if scope.Addr().Is6() {
		widest = minReportedBitsV6
	}
	if scope.Bits() < widest {
		return event.Decision{}, false, fmt.Errorf("range %s wider than /%d", scope, widest)
	}
	dur, err := time.ParseDuration(d.Duration)
	if err != nil {
		return event.Decision{}, false, fmt.Errorf("duration: %w", err)
	}
	if dur <= 0 {
		return event.Decision{}, false, fmt.Errorf("duration %s: must be positive", dur)
	}
	clamped := dur > maxBan
	if clamped {
		dur = maxBan
	}
	sc := d.Scenario
	if sc == "" || len(sc) > maxScenarioBytes || !utf8.ValidString(sc) {
		sc = scenario
	}
	return event.Decision{Type: event.Ban, Scope: scope, Duration: dur, Scenario: sc}, clamped, nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339")
	}
	return t, nil
}

// alerts answers POST /v1/alerts for an authenticated machine: it stores
// each alert with the machine's name and its decisions (origin herd),
// except decisions on a scope the never-ban set overlaps, which are
// dropped (the alert is kept). It answers 201 with the ids of the stored
// alerts as strings, in the order of the body, as CrowdSec does; an alert
// the machine sent before (same uuid) is not stored again and its first
// id is answered.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	machine, ok := s.machine(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAlertsBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxAlertsBody))
			return
		}
		writeMessage(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	now := s.now()
	ras, err := DecodeAlerts(body, now, s.maxBan)
	if err != nil {
		s.log.Warn("lapi: alerts refused", "machine", machine, "err", err)
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	ids := make([]string, 0, len(ras))
	added, dups := 0, 0
	for i := range ras {
		ra := &ras[i]
		var recs []store.DecisionRecord
		for _, d := range ra.Decisions {
			if s.nb.Overlaps(d.Scope) {
				s.log.Warn("lapi: reported decision dropped: the scope is never banned here",
					"machine", machine, "scope", d.Scope, "scenario", d.Scenario)
				continue
			}
			d.Origin = RemoteDecisionOrigin
			d.Until = now.Add(d.Duration)
			recs = append(recs, store.DecisionRecord{Decision: d, Created: now})
		}
		if ra.Undecided && s.decide != nil {
			if d, ok := s.decideRemote(machine, ra.Alert, now); ok {
				recs = append(recs, store.DecisionRecord{Decision: d, Created: now})
			}
		}
		if ra.Clamped > 0 {
			s.log.Warn("lapi: reported ban durations clamped", "machine", machine, "max", s.maxBan, "count", ra.Clamped)
		}
		rid := ra.RemoteID
		if rid == "" {
			rid = randomID() // no uuid: stored as sent, without deduplication
		}
		alert := ra.Alert
		alert.Remedy = len(recs) > 0
		id, dup, err := s.watchers.AddRemoteAlert(r.Context(), store.AlertRecord{Alert: alert, Lines: ra.Lines,
			Created: now, Machine: machine, RemoteID: rid}, recs)
		if err != nil {
			s.log.Error("lapi: storing a reported alert", "machine", machine, "err", err)
			if added > 0 {
				s.Notify()
			}
			writeMessage(w, http.StatusInternalServerError, "internal error")
			return
		}
		if !dup {
			added += len(recs)
			s.log.Debug("lapi: alert reported", "machine", machine, "scenario", alert.Scenario,
				"source", alert.Source, "scope", alert.Scope, "decisions", len(recs))
		} else {
			dups++
		}
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	if added > 0 {
		s.Notify()
	}
	s.log.Info("lapi: alerts reported", "machine", machine, "alerts", len(ras), "again", dups, "decisions", added)
	writeJSON(w, http.StatusCreated, ids)
}

// decideRemote runs an alert that came without a decision through the
// profiles (Options.Decide), as a local alert would be, at the server's
// time: the reporting agent's clock does not set how long the ban lasts.
// The never-ban set wins over any decision the profiles return.
func (s *Server) decideRemote(machine string, a event.Alert, now time.Time) (event.Decision, bool) {
	a.Remedy = true
	a.Last = now
	if a.First.After(now) {
		a.First = now
	}
	d, verdict, ok := s.decide(&a)
	if !ok {
		s.log.Debug("lapi: reported alert not decided", "machine", machine, "scenario", a.Scenario,
			"source", a.Source, "verdict", verdict)
		return event.Decision{}, false
	}
	if s.nb.Overlaps(d.Scope) || (a.Source.IsValid() && s.nb.Contains(a.Source)) {
		s.log.Warn("lapi: profile decision dropped: the scope is never banned here",
			"machine", machine, "scope", d.Scope, "scenario", d.Scenario)
		return event.Decision{}, false
	}
	if d.Duration > s.maxBan {
		d.Duration = s.maxBan
	}
	d.Origin = RemoteDecisionOrigin
	d.Until = now.Add(d.Duration)
	return d, true
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "rand:" + hex.EncodeToString(b[:])
}
