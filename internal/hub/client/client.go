// Package client is the agent side of the hub: it enrolls the agent's key
// and sends, in batches, one signal per decision the agent took itself:
// (source, scenario class, minute) and nothing else.
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

var errUnauthorized = errors.New("unauthorized")

// Defaults of Options.
const (
	DefaultQueue      = 65536
	DefaultFlushEvery = time.Second
	DefaultMaxBackoff = time.Minute
	// UserAgent is all the client says about itself, followed by
	// "/" and Options.Version when that is set.
	UserAgent = "herd"
)

// Options configures New.
type Options struct {
	// URL is the hub's base URL (https://hub.example:8443).
	URL string
	// Key is the agent's reporter key.
	Key ed25519.PrivateKey
	// HTTP is the client to send with; nil = NewHTTPClient("").
	HTTP *http.Client
	// Queue bounds the signals waiting to be sent (default 65536); beyond
	// it new signals are dropped and counted.
	Queue int
	// FlushEvery is the longest a signal waits for its batch (default 1s).
	FlushEvery time.Duration
	// MaxBackoff bounds the wait between retries (default 1 minute).
	MaxBackoff time.Duration
	// Version is herd's version, sent as User-Agent "herd/<Version>"
	// ("herd" alone when empty). It must be an HTTP token (letters,
	// digits and !#$%&'*+-.^_`|~).
	Version string
	Time    clock.Clock  // drives flushes and backoff; nil = clock.Real
	Logger  *slog.Logger // nil = discard
	// Classes, when not nil, are the only classes Share sends (hub.share
	// as a list); nil sends every class.
	Classes []wire.Class
	// Journal, when set, records every request body this client posts,
	// as it is sent (herd hub egress reads it back).
	Journal Journal
}

// Journal records what the client sends. Sent is called before each POST
// with the time, the URL path, the content type and the body; it must not
// keep body past the call, and must not block for long.
type Journal interface {
	Sent(at time.Time, path, ctype string, body []byte)
}

// Stats are the client's counters.
type Stats struct {
	Queued, Sent, Dropped, Failures uint64
}

// Client sends signals to a hub. Report is safe for concurrent use; Run is
// called once.
type Client struct {
	o    Options
	ua   string
	base *url.URL
	clk  clock.Clock
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	queue   []wire.Signal
	wake    chan struct{}
	queued  atomic.Uint64
	sent    atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// New checks o and returns a client; nothing is sent before Run.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(o.URL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("hub client: bad URL %q", o.URL)
	}
	if len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("hub client: no key")
	}
	if o.HTTP == nil {
		if o.HTTP, err = NewHTTPClient(""); err != nil {
			return nil, err
		}
	}
	ua := UserAgent
	if o.Version != "" {
		if !token(o.Version) {
			return nil, fmt.Errorf("hub client: version %q is not an HTTP token", o.Version)
		}
		ua += "/" + o.Version
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	c := &Client{o: o, ua: ua, base: u, clk: clock.Or(o.Time), log: o.Logger, wake: make(chan struct{}, 1)}
	c.now = c.clk.Now
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// NewHTTPClient returns an HTTP client verifying the hub with the PEM
// bundle caFile ("" = system roots). It asks for no compression, so the
// request carries no Accept-Encoding header.
func NewHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.Proxy = nil
	tc, err := tlsfiles.ClientConfig(caFile)
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Report queues one signal. It never blocks: when the queue is full the
// signal is dropped and counted.
func (c *Client) Report(s wire.Signal) {
	if !s.Class.Valid() || !s.Source.IsValid() {
		return
	}
	s.Source = s.Source.Unmap().WithZone("")
	c.mu.Lock()
	if len(c.queue) >= c.o.Queue {
		c.mu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.queue = append(c.queue, s)
	full := len(c.queue) >= wire.MaxBatch
	c.mu.Unlock()
	c.queued.Add(1)
	if full {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{Queued: c.queued.Load(), Sent: c.sent.Load(), Dropped: c.dropped.Load(), Failures: c.failed.Load()}
}

// Run enrolls, then sends queued signals every FlushEvery (sooner when a
// full batch waits) until ctx ends, retrying failures with exponential
// backoff. A batch leaves the queue only once the hub acknowledged it.
func (c *Client) Run(ctx context.Context) error {
	backoff := time.Second
	retry := func() bool {
		c.failed.Add(1)
		d := backoff
		backoff = min(2*backoff, c.o.MaxBackoff)
		return clock.Sleep(ctx, c.clk, d) == nil
	}
	for {
		err := c.enroll(ctx)
		if err == nil {
			break
		}
		c.log.Warn("hub: enroll failed; retrying", "err", err, "in", backoff)
		if !retry() {
			return nil
		}
	}
	backoff = time.Second
	tick := c.clk.NewTicker(c.o.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		case <-c.wake:
		}
		for {
			c.mu.Lock()
			n := min(len(c.queue), wire.MaxBatch)
			batch := dedupe(c.queue[:n:n])
			c.mu.Unlock()
			if n == 0 {
				break
			}
			if err := c.send(ctx, batch); err != nil {
				if errors.Is(err, errUnauthorized) {
					// The hub does not know us (a new database, say):
					// enroll again before the retry.
					if eerr := c.enroll(ctx); eerr != nil {
						err = errors.Join(err, eerr)
					}
				}
				c.log.Warn("hub: sending signals failed; retrying", "err", err, "signals", n, "in", backoff)
				if !retry() {
					return nil
				}
				continue
			}
			backoff = time.Second
			c.sent.Add(uint64(n))
			c.mu.Lock()
			c.queue = append(c.queue[:0], c.queue[n:]...)
			c.mu.Unlock()
		}
	}
}

// dedupe returns the distinct signals of s (a new slice).
func dedupe(s []wire.Signal) []wire.Signal {
	seen := make(map[wire.Signal]struct{}, len(s))
	out := make([]wire.Signal, 0, len(s))
	for _, x := range s {
		if _, ok := seen[x]; !ok {
			seen[x] = struct{}{}
			out = append(out, x)
		}
	}
	return out
}

func (c *Client) enroll(ctx context.Context) error {
	pub := c.o.Key.Public().(ed25519.PublicKey)
	return c.post(ctx, "/v1/enroll", "application/octet-stream", pub)
}

func (c *Client) send(ctx context.Context, batch []wire.Signal) error {
	return c.post(ctx, "/v1/signals", wire.ContentType, wire.AppendBatch(make([]byte, 0, wire.MaxBatchBytes), batch))
}

func (c *Client) post(ctx context.Context, path, ctype string, body []byte) error {
	_, err := c.do(ctx, http.MethodPost, path, "", ctype, body, 4096)
	return err
}

// do sends one signed request (the signature covers method, path and body;
// the query is not signed) and returns at most max bytes of a 2xx answer.
// A request is written to the journal (Options.Journal) before it is sent.
func (c *Client) do(ctx context.Context, method, path, query, ctype string, body []byte, max int64) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	now := c.now()
	auth := wire.Sign(c.o.Key, method, u.Path, now, nonce, body)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{
		"User-Agent":    {c.ua},
		wire.AuthHeader: {auth.String()},
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.o.Journal != nil {
		p := u.Path
		if method != http.MethodPost {
			p = method + ":" + u.Path + "?" + u.RawQuery // a read: what it asked for
		}
		c.o.Journal.Sent(now, p, ctype, body)
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("hub %s: %w", path, errUnauthorized)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("hub %s: %s", path, resp.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("hub %s: %w", path, err)
	}
	return b, nil
}

// ClassOf maps a scenario name to its class; ok is false for scenarios no
// class describes (they are not shared).
func ClassOf(scenario string) (wire.Class, bool) {
	s := strings.ToLower(scenario)
	has := func(subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(s, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("ssh"):
		return wire.SSHBruteforce, true
	case has("portscan", "port-scan", "scan-port"):
		return wire.Portscan, true
	case has("mysql", "postgres", "mssql", "mongo", "redis", "db-"):
		return wire.DBBruteforce, true
	case has("ftp"):
		return wire.FTPBruteforce, true
	case has("mail", "postfix", "dovecot", "smtp", "imap", "pop3", "exim"):
		if has("relay", "spam", "non-smtp", "pipelining", "scanner") {
			return wire.MailAbuse, true
		}
		return wire.MailBruteforce, true
	case has("http", "nginx", "apache", "wordpress", "web"):
		switch {
		case has("bruteforce", "auth", "login"):
			return wire.HTTPBruteforce, true
		case has("shellshock", "sqli", "xss", "traversal", "backdoor", "exploit", "cve"):
			return wire.HTTPExploit, true
		}
		return wire.HTTPProbing, true
	}
	return 0, false
}

// token reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func token(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return s != ""
}
