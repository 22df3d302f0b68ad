package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// Defaults of FollowOptions.
const (
	// DefaultIdle is how long a push stream may stay silent (the central
	// sends a keep-alive every 25 s) before the follower reconnects.
	DefaultIdle = 75 * time.Second
	// MaxEvent bounds one server-sent event of the push stream, and one
	// answer of the CrowdSec stream.
	MaxEvent = 32 << 20
	// DefaultStreamPoll is how often the CrowdSec stream is polled when
	// the central API has no push stream.
	DefaultStreamPoll = 10 * time.Second
)

// Sink receives the central API's decisions. A Follower calls it from one
// goroutine.
type Sink interface {
	// Add is given decisions live on the central API; Until is the time
	// they had left when received, from this host's clock.
	Add(ds []event.Decision)
	// Delete is given decisions Add was given that are no longer live on
	// the central API (deleted there, or ended), with the Until Add had.
	Delete(ds []event.Decision)
}

// FollowOptions configures NewFollower.
type FollowOptions struct {
	// URL is the central local API's base URL, as Options.URL.
	URL string
	// Key is a bouncer key made on the central host (herd bouncers add).
	Key string
	// Sink receives the decisions. Required.
	Sink Sink
	// Client sends the request; it must have no Timeout (the stream lasts).
	// Nil means one on http.DefaultTransport.
	Client *http.Client
	Time   clock.Clock  // drives polling, backoff and the idle watch; nil means clock.Real
	Logger *slog.Logger // nil discards
	// Idle is the silence after which the stream is dropped and opened
	// again; 0 means DefaultIdle.
	Idle time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting,
	// doubled at each failure in a row; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Poll is the interval of the fallback, GET /v1/decisions/stream,
	// used when the central API answers 404 for the push stream (a
	// CrowdSec LAPI); 0 means DefaultStreamPoll.
	Poll time.Duration
}

// Follower follows the central API's push stream (GET /v1/herd/stream)
// and hands its decisions to a Sink: at each connection the snapshot,
// reconciled with what the sink was given before (so that deletions made
// while disconnected are applied), then every change as it happens. An API
// without the push stream is polled instead (GET /v1/decisions/stream,
// startup=true at each connection).
type Follower struct {
	o      FollowOptions
	url    string
	base   string
	client *http.Client
	clk    clock.Clock
	now    func() time.Time
	log    *slog.Logger

	// known are the central's decisions the sink was given, by the
	// central's id; scopes indexes them by scope.
	known  map[int64]event.Decision
	scopes map[netip.Prefix][]int64
}

// NewFollower checks o and returns a Follower; it connects at Run.
func NewFollower(o FollowOptions) (*Follower, error) {
	if o.Sink == nil {
		return nil, errors.New("report: follower: no sink")
	}
	if o.Key == "" {
		return nil, errors.New("report: follower: empty bouncer key")
	}
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("report: follower: url %q: want http:// or https://", o.URL)
	}
	base := strings.TrimRight(o.URL, "/")
	f := &Follower{o: o, base: base, url: base + "/v1/herd/stream", client: o.Client,
		clk: clock.Or(o.Time), log: o.Logger, known: map[int64]event.Decision{}, scopes: map[netip.Prefix][]int64{}}
	if f.client == nil {
		f.client = &http.Client{}
	}
	f.now = f.clk.Now
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.o.Idle <= 0 {
		f.o.Idle = DefaultIdle
	}
	if f.o.MinBackoff <= 0 {
		f.o.MinBackoff = DefaultMinBackoff
	}
	if f.o.MaxBackoff <= 0 {
		f.o.MaxBackoff = DefaultMaxBackoff
	}
	if f.o.Poll <= 0 {
		f.o.Poll = DefaultStreamPoll
	}
	return f, nil
}

// Run follows the stream until ctx ends, reconnecting after a failure
// (MinBackoff, doubling up to MaxBackoff; back to MinBackoff once a
// connection delivered its snapshot). It returns nil when ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	f.log.Info("report: following the central API's decisions", "url", f.url)
	backoff := time.Duration(0)
	for {
		synced, err := f.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if synced {
			backoff = 0
		}
		backoff = min(max(2*backoff, f.o.MinBackoff), f.o.MaxBackoff)
		f.log.Warn("report: central decision stream lost; reconnecting", "err", err, "in", backoff)
		if clock.Sleep(ctx, f.clk, backoff) != nil {
			return nil
		}
	}
}

// session opens the stream once and follows it until it ends; synced
// says whether its snapshot was applied.
func (f *Follower) session(ctx context.Context) (synced bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, fmt.Errorf("report: stream: %w", err)
	}
	req.Header.Set("X-Api-Key", f.o.Key)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "herd-report")
	idle := errors.New("no data for " + f.o.Idle.String())
	watch := f.clk.AfterFunc(f.o.Idle, func() { cancel(idle) })
	defer watch.Stop()
	resp, err := f.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("report: stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		watch.Stop()
		return f.poll(ctx)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			return false, fmt.Errorf("report: stream: %w: bouncer key refused: %s", ErrUnauthorized, clip(b))
		}
		return false, fmt.Errorf("report: stream: status %d: %s", resp.StatusCode, clip(b))
	}
	err = f.consume(resp.Body, func() { watch.Reset(f.o.Idle) }, &synced)
	if c := context.Cause(ctx); c == idle {
		err = c
	}
	return synced, err
}

// poll follows the CrowdSec stream (GET /v1/decisions/stream) every Poll
// until it fails: the first answer (startup=true) is the snapshot, the
// next ones the changes since the previous.
func (f *Follower) poll(ctx context.Context) (synced bool, err error) {
	f.log.Info("report: the central API has no push stream; polling its decision stream", "every", f.o.Poll)
	t := f.clk.NewTicker(f.o.Poll)
	defer t.Stop()
	for {
		url := f.base + "/v1/decisions/stream"
		if !synced {
			url += "?startup=true"
		}
		var body struct {
			New     []wireDecisionIn `json:"new"`
			Deleted []wireDecisionIn `json:"deleted"`
		}
		if err := f.get(ctx, url, &body); err != nil {
			return synced, err
		}
		if !synced {
			f.resync(body.New)
			synced = true
		} else {
			f.apply(body.New, body.Deleted)
		}
		select {
		case <-ctx.Done():
			return synced, ctx.Err()
		case <-t.C():
		}
	}
}

// get reads one JSON answer of the central API into v.
func (f *Follower) get(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("report: decision stream: %w", err)
	}
	req.Header.Set("X-Api-Key", f.o.Key)
	req.Header.Set("User-Agent", "herd-report")
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("report: decision stream: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxEvent+1))
	if err != nil {
		return fmt.Errorf("report: decision stream: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("report: decision stream: %w: bouncer key refused: %s", ErrUnauthorized, clip(b))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("report: decision stream: status %d: %s", resp.StatusCode, clip(b))
	case len(b) > MaxEvent:
		return fmt.Errorf("report: decision stream: answer over %d bytes", MaxEvent)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("report: decision stream: %w", err)
	}
	return nil
}

// consume reads server-sent events from r until it ends or breaks the
// protocol, applying them; alive is called at each line received.
func (f *Follower) consume(r io.Reader, alive func(), synced *bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var snapshot []wireDecisionIn
	var name string
	var data []byte
	for {
		line, err := readLine(br, MaxEvent)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("report: stream: %w", err)
		}
		alive()
		switch {
		case len(line) == 0: // end of an event
			if name == "" && data == nil {
				continue
			}
			if err := f.event(name, data, &snapshot, synced); err != nil {
				return err
			}
			name, data = "", nil
		case line[0] == ':': // comment (keep-alive)
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				name = string(value)
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				if len(data)+len(value) > MaxEvent {
					return fmt.Errorf("report: stream: event over %d bytes", MaxEvent)
				}
				data = append(data, value...)
			}
		}
	}
}

// readLine reads one line without its end (\n, \r\n) of at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var long []byte
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(b) > max {
				return nil, fmt.Errorf("line over %d bytes", max)
			}
			long = append(long, b...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if long != nil {
			b = append(long, b...)
		}
		b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
		return b, nil
	}
}

// wireDecisionIn is a decision as the central API writes it.
type wireDecisionIn struct {
	ID        int64  `json:"id"`
	Origin    string `json:"origin"`
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	Value     string `json:"value"`
	Duration  string `json:"duration"`
	Scenario  string `json:"scenario"`
	Simulated bool   `json:"simulated"`
}

func (f *Follower) event(name string, data []byte, snapshot *[]wireDecisionIn, synced *bool) error {
	var body struct {
		New     []wireDecisionIn `json:"new"`
		Deleted []wireDecisionIn `json:"deleted"`
	}
	switch name {
	case "snapshot", "delta":
		if err := json.Unmarshal(data, &body); err != nil {
			return fmt.Errorf("report: stream: %s event: %w", name, err)
		}
	}
	switch name {
	case "snapshot":
		if *synced {
			return errors.New("report: stream: snapshot after ready")
		}
		*snapshot = append(*snapshot, body.New...)
	case "ready":
		if *synced {
			return errors.New("report: stream: ready twice")
		}
		f.resync(*snapshot)
		*snapshot, *synced = nil, true
	case "delta":
		if !*synced {
			return errors.New("report: stream: delta before ready")
		}
		f.apply(body.New, body.Deleted)
	}
	return nil
}

// resync makes the sink hold exactly the snapshot: decisions known before
// and absent from it were deleted (or ended) while the stream was down.
func (f *Follower) resync(snap []wireDecisionIn) {
	in := make(map[int64]bool, len(snap))
	for i := range snap {
		in[snap[i].ID] = true
	}
	var gone []wireDecisionIn
	for id := range f.known {
		if !in[id] {
			gone = append(gone, wireDecisionIn{ID: id})
		}
	}
	added, deleted := f.apply(snap, gone)
	f.log.Info("report: central decisions in step", "live", len(f.known), "added", added, "deleted", deleted)
}

// apply hands the new decisions the sink does not have yet to Add, and the
// deleted ones it has to Delete; a scope still covered by another of the
// central's decisions gets that one again.
func (f *Follower) apply(in, out []wireDecisionIn) (added, deleted int) {
	now := f.now()
	var del []event.Decision
	touched := map[netip.Prefix]bool{}
	for i := range out {
		d, ok := f.known[out[i].ID]
		if !ok {
			continue
		}
		delete(f.known, out[i].ID)
		ids := f.scopes[d.Scope]
		for j, id := range ids {
			if id == out[i].ID {
				ids = append(ids[:j], ids[j+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(f.scopes, d.Scope)
		} else {
			f.scopes[d.Scope] = ids
			touched[d.Scope] = true
		}
		del = append(del, d)
	}
	var add []event.Decision
	for i := range in {
		if _, ok := f.known[in[i].ID]; ok {
			continue
		}
		d, ok := in[i].decision(now)
		if !ok {
			continue
		}
		f.known[in[i].ID] = d
		f.scopes[d.Scope] = append(f.scopes[d.Scope], in[i].ID)
		add = append(add, d)
	}
	for p := range touched {
		for _, id := range f.scopes[p] {
			add = append(add, f.known[id])
		}
	}
	if len(del) > 0 {
		f.o.Sink.Delete(del)
	}
	if len(add) > 0 {
		f.o.Sink.Add(add)
	}
	return len(add), len(del)
}

// decision converts a wire decision; ok is false for what this host does
// not enforce: other types than ban, simulated or ended decisions, scopes
// other than Ip and Range, and values that do not parse.
func (w *wireDecisionIn) decision(now time.Time) (event.Decision, bool) {
	if !strings.EqualFold(w.Type, "ban") || w.Simulated {
		return event.Decision{}, false
	}
	var p netip.Prefix
	switch strings.ToLower(w.Scope) {
	case "ip":
		a, err := netip.ParseAddr(w.Value)
		if err != nil || a.Zone() != "" {
			return event.Decision{}, false
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	case "range":
		q, err := netip.ParsePrefix(w.Value)
		if err != nil || q.Addr().Zone() != "" {
			return event.Decision{}, false
		}
		if a := q.Addr(); a.Is4In6() {
			if q.Bits() < 96 {
				return event.Decision{}, false
			}
			q = netip.PrefixFrom(a.Unmap(), q.Bits()-96)
		}
		p = q.Masked()
	default:
		return event.Decision{}, false
	}
	left, err := time.ParseDuration(w.Duration)
	if err != nil || left <= 0 {
		return event.Decision{}, false
	}
	return event.Decision{Type: event.Ban, Scope: p, Duration: left, Until: now.Add(left),
		Scenario: w.Scenario, Origin: w.Origin}, true
}
