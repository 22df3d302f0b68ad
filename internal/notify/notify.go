// Package notify tells people about alerts and decisions: it renders each
// one with a text/template, escaped for its medium, and delivers it to
// webhooks (JSON), Slack or Mattermost incoming webhooks, ntfy topics and
// e-mail (SMTP with STARTTLS), with a per-channel rate limit that folds a
// burst into one digest, and retries with exponential backoff on the
// injected clock. Nothing goes through a shell.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// The channel types (Spec.Type).
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack" // Slack and Mattermost incoming webhooks
	TypeNtfy    = "ntfy"
	TypeEmail   = "email"
)

// Defaults applied by New.
const (
	DefaultRate    = 10          // messages per window before a digest
	DefaultWindow  = time.Minute // the rate limit's window
	DefaultRetries = 5           // attempts after the first
	DefaultBackoff = time.Second // first retry delay; doubles each time
	MaxBackoff     = 5 * time.Minute
	QueueSize      = 256 // notes waiting per channel; more are dropped
	// MaxDigestItems is how many notes a digest lists; it counts the rest.
	MaxDigestItems = 20
)

// Note is one thing to notify: an alert and what the profiles decided.
type Note struct {
	Alert    event.Alert
	Decision event.Decision // meaningful when Decided
	Decided  bool
	Verdict  string   // profile verdict ("decided", "simulated", ...)
	Lines    []string // the log lines behind the alert: attacker-written
}

// Spec configures one channel.
type Spec struct {
	Name string
	Type string // TypeWebhook, TypeSlack, TypeNtfy or TypeEmail
	// URL is where webhook, slack and ntfy channels POST (an ntfy topic's
	// URL, https://ntfy.sh/mytopic).
	URL string
	// Token, when set, is sent as "Authorization: Bearer TOKEN" by webhook,
	// slack and ntfy channels (an ntfy access token, a webhook's secret).
	Token string
	// Alerts: notify every alert; default: only alerts that led to a
	// decision.
	Alerts bool
	// Title and Body are text/template texts over View (and, for a
	// digest, DigestView); "" for the defaults. Title is the e-mail's
	// subject and ntfy's title.
	Title, Body string
	Rate        int           // messages per Window before the rest are digested; default DefaultRate
	Window      time.Duration // default DefaultWindow
	Retries     int           // default DefaultRetries; -1 for none
	Backoff     time.Duration // first retry delay; default DefaultBackoff

	Email Email // for TypeEmail
}

// Email configures an SMTP channel.
type Email struct {
	Addr     string // host:port of the SMTP server (submission: 587)
	From     string
	To       []string
	Username string // "" for no authentication
	Password string
	// PlainText allows a server that offers no STARTTLS, for a relay on
	// loopback; never with credentials: they are only ever sent over TLS.
	PlainText bool
	RootCAs   []byte // PEM roots to verify the server with; nil = system roots
	Helo      string // name given in EHLO; default "localhost"
}

// Options configures a Notifier.
type Options struct {
	Time   clock.Clock  // nil = clock.Real
	Logger *slog.Logger // nil = discard
	// Dial opens SMTP connections; nil = net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTP sends webhook, slack and ntfy requests; nil = a client with a
	// 30-second timeout.
	HTTP HTTPDoer
}

// Stats are a channel's running totals.
type Stats struct {
	Sent    uint64 // messages delivered, digests included
	Failed  uint64 // messages given up on after the last retry, or refused for good
	Dropped uint64 // notes not sent: the channel's queue was full
	Retried uint64 // attempts after a failure
	Digests uint64 // digest messages delivered
}

type counters struct {
	sent, failed, dropped, retried, digests atomic.Uint64
}

// channel is one compiled Spec.
type channel struct {
	spec   Spec
	send   sender
	medium medium
	title  *template.Template
	body   *template.Template
	digest *template.Template
	queue  chan Note
	c      counters
	taken  atomic.Uint64 // notes the worker took from the queue and dealt with
}

// Notifier delivers notes to its channels. Notify is safe for concurrent
// use; Run delivers until its context ends.
type Notifier struct {
	ch  []*channel
	clk clock.Clock
	log *slog.Logger
}

// New compiles the specs. Errors name the channel.
func New(specs []Spec, o Options) (*Notifier, error) {
	n := &Notifier{clk: clock.Or(o.Time), log: o.Logger}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	var errs []error
	for _, s := range specs {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("notify %q: name already used", s.Name))
			continue
		}
		seen[s.Name] = true
		c, err := compile(s, o, n.clk)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify %q: %w", s.Name, err))
			continue
		}
		n.ch = append(n.ch, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

func compile(s Spec, o Options, clk clock.Clock) (*channel, error) {
	if s.Name == "" {
		return nil, errors.New("name is empty")
	}
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.Retries == 0 {
		s.Retries = DefaultRetries
	}
	if s.Backoff == 0 {
		s.Backoff = DefaultBackoff
	}
	if s.Rate < 0 || s.Window < 0 || s.Backoff < 0 {
		return nil, errors.New("rate, window and backoff must not be negative")
	}
	c := &channel{spec: s, queue: make(chan Note, QueueSize)}
	var err error
	switch s.Type {
	case TypeWebhook, TypeSlack, TypeNtfy:
		c.send, c.medium, err = newHTTP(s, o)
	case TypeEmail:
		c.send, c.medium, err = newEmail(s, o, clk)
	default:
		err = fmt.Errorf("type %q is not webhook, slack, ntfy or email", s.Type)
	}
	if err != nil {
		return nil, err
	}
	title, body := s.Title, s.Body
	if title == "" {
		title = DefaultTitle
	}
	if body == "" {
		body = DefaultBody
	}
	if c.title, err = template.New("title").Option("missingkey=error").Parse(title); err != nil {
		return nil, fmt.Errorf("title: %w", err)
	}
	if c.body, err = template.New("body").Option("missingkey=error").Parse(body); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	c.digest = template.Must(template.New("digest").Parse(DefaultDigest))
	return c, nil
}

// Len returns the number of channels.
func (n *Notifier) Len() int { return len(n.ch) }

// Stats returns the totals of each channel, by name.
func (n *Notifier) Stats() map[string]Stats {
	out := make(map[string]Stats, len(n.ch))
	for _, c := range n.ch {
		out[c.spec.Name] = Stats{Sent: c.c.sent.Load(), Failed: c.c.failed.Load(), Dropped: c.c.dropped.Load(),
			Retried: c.c.retried.Load(), Digests: c.c.digests.Load()}
	}
	return out
}

// Notify queues nt for every channel that wants it, without blocking: a
// channel whose queue is full drops it (counted). nt's slices must not be
// changed afterwards.
func (n *Notifier) Notify(nt Note) {
	if n == nil {
		return
	}
	for _, c := range n.ch {
		if !nt.Decided && !c.spec.Alerts {
			continue
		}
		select {
		case c.queue <- nt:
		default:
			c.c.dropped.Add(1)
		}
	}
}

// Run delivers queued notes until ctx ends, one goroutine per channel. It
// returns nil when ctx ends.
//
// Deliveries run on a context of their own, which outlives ctx by at most
// DrainTimeout: a message being sent when ctx ends, and those still
// queued, are delivered rather than cut off.
func (n *Notifier) Run(ctx context.Context) error {
	send, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		grace, end := context.WithTimeout(send, DrainTimeout)
		go func() {
			<-grace.Done()
			end()
			cancel()
		}()
	})
	defer stop()
	var wg sync.WaitGroup
	for _, c := range n.ch {
		wg.Go(func() { n.work(ctx, send, c) })
	}
	wg.Wait()
	return nil
}

// window is a channel's rate-limit state, owned by its worker.
type window struct {
	start   time.Time // of the current window; zero: none yet
	sent    int       // messages sent in it
	pending []Note    // to digest at its end
	extra   int       // notes beyond MaxDigestItems, counted only
	timer   clock.Timer
}

// work is one channel's loop: the first Rate notes of a window go out one
// by one; later ones wait for the window's end and go out as one digest.
func (n *Notifier) work(ctx, send context.Context, c *channel) {
	var w window
	for {
		var fire <-chan time.Time
		if w.timer != nil {
			fire = w.timer.C()
		}
		select {
		case <-ctx.Done():
			if w.timer != nil {
				w.timer.Stop()
				w.timer = nil
			}
			n.drain(send, c, &w)
			return
		case nt := <-c.queue:
			n.take(send, c, &w, nt)
			c.taken.Add(1)
		case <-fire:
			w.timer = nil
			n.flush(send, c, &w)
			// The digest opens a new window in which it counts as one
			// message.
			w.start, w.sent = n.clk.Now(), 1
		}
	}
}

// flush sends the window's digest, if it holds notes.
func (n *Notifier) flush(ctx context.Context, c *channel, w *window) {
	if len(w.pending) == 0 {
		return
	}
	m := c.renderDigest(w.pending, w.extra, c.spec.Window)
	w.pending, w.extra = w.pending[:0], 0
	if n.deliver(ctx, c, m) {
		c.c.digests.Add(1)
	}
}

// DrainTimeout bounds how long a stopping channel spends delivering what
// it still holds.
const DrainTimeout = 5 * time.Second

// drain delivers, when the notifier stops, the notes still queued and the
// pending digest (at most the rate limit's worth one by one, the rest in
// the digest), on send, which ends DrainTimeout after the stop: an agent
// that stops right after an attack still tells of it.
func (n *Notifier) drain(send context.Context, c *channel, w *window) {
	for {
		select {
		case nt := <-c.queue:
			n.take(send, c, w, nt)
			c.taken.Add(1)
			if w.timer != nil {
				w.timer.Stop()
				w.timer = nil
			}
		default:
			n.flush(send, c, w)
			return
		}
	}
}

// take deals with one note of the queue: sent now, or kept for the digest.
func (n *Notifier) take(ctx context.Context, c *channel, w *window, nt Note) {
	now := n.clk.Now()
	if w.timer == nil && (w.start.IsZero() || now.Sub(w.start) >= c.spec.Window) {
		w.start, w.sent = now, 0
	}
	if w.sent < c.spec.Rate {
		w.sent++
		m, err := c.render(&nt)
		if err != nil {
			n.log.Warn("notify: template failed", "channel", c.spec.Name, "err", err)
			c.c.failed.Add(1)
			return
		}
		n.deliver(ctx, c, m)
		return
	}
	if len(w.pending) < MaxDigestItems {
		w.pending = append(w.pending, nt)
	} else {
		w.extra++
	}
	if w.timer == nil {
		w.timer = n.clk.NewTimer(max(w.start.Add(c.spec.Window).Sub(now), 0))
	}
}

// deliver sends m, retrying with exponential backoff, and reports whether
// it was delivered.
func (n *Notifier) deliver(ctx context.Context, c *channel, m *message) bool {
	delay := c.spec.Backoff
	for attempt := 0; ; attempt++ {
		err := c.send.send(ctx, m)
		if err == nil {
			c.c.sent.Add(1)
			return true
		}
		var perm permanentError
		if errors.As(err, &perm) || c.spec.Retries < 0 || attempt >= c.spec.Retries || ctx.Err() != nil {
			c.c.failed.Add(1)
			n.log.Warn("notify: not delivered", "channel", c.spec.Name, "attempts", attempt+1, "err", err)
			return false
		}
		c.c.retried.Add(1)
		if clock.Sleep(ctx, n.clk, delay) != nil {
			c.c.failed.Add(1)
			return false
		}
		delay = min(delay*2, MaxBackoff)
	}
}

// permanentError is a failure that retrying cannot mend (a refused
// request, a configuration the server rejects).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// addrText is an address as notes show it, "" for none.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
