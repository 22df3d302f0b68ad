// Package report sends this agent's alerts and decisions to a remote herd
// local API (POST /v1/alerts), logged in as a machine, so that a ban
// detected here is served by the central API to every bouncer.
//
// The local store is the queue: a Reporter reads the alerts after its mark
// (the highest local alert id the central API accepted), sends them in
// batches, and moves the mark only once the central API answered, so a
// restart resumes where it stopped and an alert the network lost is sent
// again. Each alert carries a remote id (an instance token kept with the
// mark, and the local id), so the central API stores an alert sent twice
// once. Nothing local waits for the network: the agent enforces its own
// decisions at once and the Reporter runs beside it.
package report

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// Defaults of Options.
const (
	DefaultBatch      = 100
	DefaultPoll       = 5 * time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultTimeout    = 30 * time.Second
	// tokenMargin renews a token this long before the expiry the server
	// announced, so that a request does not race the expiry.
	tokenMargin = time.Minute
	// maxAnswer bounds what is read of an answer.
	maxAnswer = 1 << 20
)

// Alert is one local alert to report, with the decisions taken for it.
type Alert struct {
	ID int64 // the local store's id, increasing
	event.Alert
	Lines []string
	// Decisions are the live decisions taken for the alert; their Until
	// gives the time left to report. Simulated ones are not sent.
	Decisions []event.Decision
}

// Mark is the durable position of a Reporter.
type Mark struct {
	// Instance names this local store in remote ids; made once, kept.
	Instance string
	// Sent is the highest local alert id the central API accepted.
	Sent int64
}

// Queue is the reporter's view of the local store.
type Queue interface {
	// Pending returns up to n alerts whose ID is above after, by
	// increasing ID.
	Pending(ctx context.Context, after int64, n int) ([]Alert, error)
	// LoadMark returns the saved mark, the zero Mark when none was saved.
	LoadMark(ctx context.Context) (Mark, error)
	// SaveMark stores m durably.
	SaveMark(ctx context.Context, m Mark) error
}

// Options configures New.
type Options struct {
	// URL is the central local API's base URL (http://10.0.0.1:8080/).
	URL string
	// Machine and Password are the credentials `herd machines add` made
	// on the central host.
	Machine, Password string
	// Queue is the local store. Required.
	Queue Queue
	// Client sends the requests; nil means one with DefaultTimeout.
	Client *http.Client
	Time   clock.Clock  // drives polling and backoff; nil means clock.Real
	Logger *slog.Logger // nil discards
	// Batch is the number of alerts per request; 0 means DefaultBatch.
	Batch int
	// Poll is how often the queue is read without a Notify; 0 means
	// DefaultPoll.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, doubled
	// at each failure in a row; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
}

// Reporter sends the queue's alerts to the central API. Notify is safe for
// concurrent use; Run is called once.
type Reporter struct {
	o      Options
	base   string
	client *http.Client
	clk    clock.Clock
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}

	token  string
	expire time.Time
	mark   Mark
}

// Errors of a request, to be tested with errors.Is.
var (
	// ErrUnauthorized: the central API refused the machine's credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRejected: the central API refused the alerts themselves (400):
	// sending them again cannot succeed.
	ErrRejected = errors.New("rejected")
)

// New checks o and returns a Reporter; it sends nothing until Run.
func New(o Options) (*Reporter, error) {
	if o.Queue == nil {
		return nil, errors.New("report: new: no queue")
	}
	if o.Machine == "" || o.Password == "" {
		return nil, errors.New("report: new: empty machine or password")
	}
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("report: new: url %q: want http:// or https://", o.URL)
	}
	r := &Reporter{o: o, base: strings.TrimRight(o.URL, "/"), client: o.Client, clk: clock.Or(o.Time), log: o.Logger,
		wake: make(chan struct{}, 1)}
	if r.client == nil {
		r.client = &http.Client{Timeout: DefaultTimeout}
	}
	r.now = r.clk.Now
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.o.Batch <= 0 {
		r.o.Batch = DefaultBatch
	}
	if r.o.Poll <= 0 {
		r.o.Poll = DefaultPoll
	}
	if r.o.MinBackoff <= 0 {
		r.o.MinBackoff = DefaultMinBackoff
	}
	if r.o.MaxBackoff <= 0 {
		r.o.MaxBackoff = DefaultMaxBackoff
	}
	return r, nil
}

// Notify tells the reporter that new alerts were stored. It never blocks.
func (r *Reporter) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends: at start, after each Notify and every Poll,
// it sends every pending alert; after a failure it waits (MinBackoff,
// doubling up to MaxBackoff) and tries again. It returns nil when ctx
// ends, or an error when the local store cannot give or keep the mark.
func (r *Reporter) Run(ctx context.Context) error {
	if err := r.loadMark(ctx); err != nil {
		return err
	}
	r.log.Info("report: reporting alerts", "url", r.base, "machine", r.o.Machine, "after", r.mark.Sent)
	backoff := time.Duration(0)
	t := r.clk.NewTicker(r.o.Poll)
	defer t.Stop()
	for {
		err := r.Flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// A Notify during the wait does not shorten it.
			backoff = min(max(2*backoff, r.o.MinBackoff), r.o.MaxBackoff)
			r.log.Warn("report: central API unreachable or refusing; retrying", "err", err, "in", backoff)
			if clock.Sleep(ctx, r.clk, backoff) != nil {
				return nil
			}
			continue
		}
		backoff = 0
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-t.C():
		}
	}
}

// loadMark reads the mark, making and saving the instance token the first
// time.
func (r *Reporter) loadMark(ctx context.Context) error {
	m, err := r.o.Queue.LoadMark(ctx)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if m.Instance == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("report: instance: %w", err)
		}
		m.Instance = hex.EncodeToString(b[:])
		if err := r.o.Queue.SaveMark(ctx, m); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	r.mark = m
	return nil
}

// Flush sends every pending alert, batch after batch, moving the mark after
// each accepted batch. A batch the central API rejects (400) is sent again
// alert by alert, and an alert rejected alone is skipped with an error in
// the log: it cannot ever be accepted, and must not block those after it.
// Run calls it; tests call it directly after loading the mark with Run or
// a first Flush.
func (r *Reporter) Flush(ctx context.Context) error {
	if r.mark.Instance == "" {
		if err := r.loadMark(ctx); err != nil {
			return err
		}
	}
	for {
		as, err := r.o.Queue.Pending(ctx, r.mark.Sent, r.o.Batch)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if len(as) == 0 {
			return nil
		}
		err = r.send(ctx, as)
		if errors.Is(err, ErrRejected) {
			err = r.sendEach(ctx, as)
		}
		if err != nil {
			return err
		}
		if err := r.advance(ctx, as[len(as)-1].ID); err != nil {
			return err
		}
	}
}

func (r *Reporter) sendEach(ctx context.Context, as []Alert) error {
	for i := range as {
		err := r.send(ctx, as[i:i+1])
		if errors.Is(err, ErrRejected) {
			r.log.Error("report: the central API rejects an alert; skipped", "id", as[i].ID,
				"scenario", as[i].Scenario, "source", as[i].Source, "err", err)
			err = nil
		}
		if err != nil {
			return err
		}
		if err := r.advance(ctx, as[i].ID); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reporter) advance(ctx context.Context, id int64) error {
	m := r.mark
	m.Sent = id
	if err := r.o.Queue.SaveMark(ctx, m); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r.mark = m
	return nil
}

// send posts as, logging in first when the token is missing or about to
// expire, and once more when the central API answers 401.
func (r *Reporter) send(ctx context.Context, as []Alert) error {
	body, err := r.encode(as)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if r.token == "" || !r.now().Before(r.expire.Add(-tokenMargin)) {
			if err := r.login(ctx); err != nil {
				return err
			}
		}
		code, answer, err := r.post(ctx, "/v1/alerts", r.token, body)
		if err != nil {
			return err
		}
		switch {
		case code == http.StatusCreated || code == http.StatusOK:
			var ids []json.Number
			if err := json.Unmarshal(answer, &ids); err != nil {
				return fmt.Errorf("report: alerts answer: %w", err)
			}
			if len(ids) != len(as) {
				return fmt.Errorf("report: alerts answer: %d ids for %d alerts", len(ids), len(as))
			}
			r.log.Debug("report: alerts accepted", "count", len(as), "last", as[len(as)-1].ID)
			return nil
		case code == http.StatusUnauthorized && attempt == 0:
			r.token = "" // expired or revoked: log in again, once
			continue
		case code == http.StatusUnauthorized:
			return fmt.Errorf("report: alerts: %w: %s", ErrUnauthorized, clip(answer))
		case code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge:
			return fmt.Errorf("report: alerts: %w: %s", ErrRejected, clip(answer))
		default:
			return fmt.Errorf("report: alerts: status %d: %s", code, clip(answer))
		}
	}
}

func (r *Reporter) login(ctx context.Context) error {
	body, err := json.Marshal(struct {
		MachineID string   `json:"machine_id"`
		Password  string   `json:"password"`
		Scenarios []string `json:"scenarios"`
	}{r.o.Machine, r.o.Password, []string{}})
	if err != nil {
		return fmt.Errorf("report: login: %w", err)
	}
	code, answer, err := r.post(ctx, "/v1/watchers/login", "", body)
	if err != nil {
		return err
	}
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return fmt.Errorf("report: login as %s: %w: %s", r.o.Machine, ErrUnauthorized, clip(answer))
	}
	if code != http.StatusOK {
		return fmt.Errorf("report: login: status %d: %s", code, clip(answer))
	}
	var a struct {
		Token  string `json:"token"`
		Expire string `json:"expire"`
	}
	if err := json.Unmarshal(answer, &a); err != nil || a.Token == "" {
		return fmt.Errorf("report: login: no token in %s", clip(answer))
	}
	exp, err := time.Parse(time.RFC3339, a.Expire)
	if err != nil {
		exp = r.now().Add(2 * tokenMargin) // unknown: renew soon
	}
	r.token, r.expire = a.Token, exp
	return nil
}

func (r *Reporter) post(ctx context.Context, path, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("report: %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "herd-report")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("report: %s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return resp.StatusCode, answer, nil
}

// The wire shape of one alert, as the central API's DecodeAlerts reads it.
type wireAlert struct {
	UUID        string         `json:"uuid"`
	Scenario    string         `json:"scenario"`
	Message     string         `json:"message"`
	EventsCount int            `json:"events_count"`
	StartAt     string         `json:"start_at"`
	StopAt      string         `json:"stop_at"`
	Simulated   bool           `json:"simulated"`
	Source      wireSource     `json:"source"`
	Events      []wireEvent    `json:"events"`
	Decisions   []wireDecision `json:"decisions"`
}

type wireSource struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	IP    string `json:"ip,omitempty"`
	Range string `json:"range,omitempty"`
}

type wireEvent struct {
	Timestamp string     `json:"timestamp"`
	Meta      []wireMeta `json:"meta"`
}

type wireMeta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireDecision struct {
	Type     string `json:"type"`
	Scope    string `json:"scope"`
	Value    string `json:"value"`
	Duration string `json:"duration"`
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
}

// encode writes as as the CrowdSec alert array. A decision's duration is
// the time it has left now, whole seconds; ended and simulated decisions
// are left out.
func (r *Reporter) encode(as []Alert) ([]byte, error) {
	now := r.now()
	out := make([]wireAlert, len(as))
	for i := range as {
		a := &as[i]
		w := wireAlert{
			UUID:        r.mark.Instance + ":" + strconv.FormatInt(a.ID, 10),
			Scenario:    a.Scenario,
			Message:     a.Scenario + " by " + a.Source.String(),
			EventsCount: a.Events,
			StartAt:     a.First.UTC().Format(time.RFC3339Nano),
			StopAt:      a.Last.UTC().Format(time.RFC3339Nano),
			Source:      source(a.Source, a.Scope),
			Events:      []wireEvent{},
			Decisions:   []wireDecision{},
		}
		if a.First.IsZero() {
			w.StartAt = ""
		}
		if a.Last.IsZero() {
			w.StopAt = ""
		}
		for _, l := range a.Lines {
			w.Events = append(w.Events, wireEvent{Timestamp: w.StopAt, Meta: []wireMeta{{Key: "line", Value: l}}})
		}
		for _, d := range a.Decisions {
			left := d.Until.Sub(now).Truncate(time.Second)
			if d.Simulated || left <= 0 || d.Type != event.Ban {
				continue
			}
			ws := source(netip.Addr{}, d.Scope)
			w.Decisions = append(w.Decisions, wireDecision{Type: "ban", Scope: ws.Scope, Value: ws.Value,
				Duration: left.String(), Origin: d.Origin, Scenario: d.Scenario})
		}
		out[i] = w
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("report: encode: %w", err)
	}
	return b, nil
}

// source returns the wire source of an alert: Ip for a single address,
// Range otherwise (with ip when the address is known).
func source(a netip.Addr, p netip.Prefix) wireSource {
	if p.IsValid() && p.IsSingleIP() {
		return wireSource{Scope: "Ip", Value: p.Addr().String(), IP: p.Addr().String()}
	}
	if !p.IsValid() && a.IsValid() {
		return wireSource{Scope: "Ip", Value: a.String(), IP: a.String()}
	}
	w := wireSource{Scope: "Range", Value: p.Masked().String(), Range: p.Masked().String()}
	if a.IsValid() {
		w.IP = a.String()
	}
	return w
}

func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
