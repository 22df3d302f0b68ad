package blocklist

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Update is one verified change the Follower hands to its Apply function.
type Update struct {
	// Snapshot says Added is the whole listing at Version: every entry the
	// receiver holds that is not in it must go.
	Snapshot bool
	Version  uint64 // the listing's version once the update is applied
	From     uint64 // the version the update applies to (0 for a snapshot)
	Added    []netip.Prefix
	Removed  []netip.Prefix
	Issued   time.Time // when the hub signed it
}

// Follower defaults.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	// DefaultIdleTimeout is how long a stream may stay silent (no frame, no
	// heartbeat) before the follower reconnects: three heartbeats.
	DefaultIdleTimeout = 3 * DefaultHeartbeat
	// MaxFrame bounds one frame of the stream.
	MaxFrame = MaxMessage
)

// FollowerOptions configures a Follower.
type FollowerOptions struct {
	// URL is the hub's base URL (https://hub.example:8443/); the follower
	// reads URL + Path + "stream".
	URL string
	// Path is the list's path under URL (default "v1/blocklist/"; the
	// hub's predictions are at "v1/predicted/").
	Path string
	// PublicKey verifies every message; messages it did not sign are
	// refused and the connection is dropped.
	PublicKey ed25519.PublicKey
	// Client makes the requests (http.DefaultClient when nil). It must
	// not set a Timeout: the stream is long-lived.
	Client *http.Client
	// Version is the version the caller holds (0 = none: the stream
	// starts with a snapshot).
	Version uint64
	// Apply receives every verified update, in order. When it returns an
	// error the follower stops with that error. Apply must make the update
	// durable (with its Version) before returning if the caller wants to
	// resume from it after a restart.
	Apply func(ctx context.Context, u Update) error
	// Connected, when set, is called with each stream's result: nil once a
	// stream's first message applied, the error when a connection failed.
	Connected func(err error)

	MinBackoff, MaxBackoff time.Duration // reconnect delays; defaults above
	IdleTimeout            time.Duration // default DefaultIdleTimeout
	Logger                 *slog.Logger  // nil = discard
	Time                   clock.Clock   // drives backoff and the idle cut; nil = clock.Real
}

// Follower keeps a push stream to the hub open, verifies every message and
// hands the changes to Apply, reconnecting with backoff and resuming from
// the version it holds. A delta that does not start at that version makes it
// fetch a snapshot.
type Follower struct {
	o       FollowerOptions
	base    *url.URL
	version uint64
	log     *slog.Logger
	clk     clock.Clock
}

// NewFollower returns a Follower for o.
func NewFollower(o FollowerOptions) (*Follower, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("blocklist: follower: %q is not an http(s) URL", o.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if len(o.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("blocklist: follower: public key of %d bytes", len(o.PublicKey))
	}
	if o.Apply == nil {
		return nil, errors.New("blocklist: follower needs Apply")
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Path == "" {
		o.Path = "v1/blocklist/"
	}
	if !strings.HasSuffix(o.Path, "/") || strings.HasPrefix(o.Path, "/") {
		return nil, fmt.Errorf("blocklist: follower: path %q must be relative and end in /", o.Path)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	f := &Follower{o: o, base: u, version: o.Version, log: o.Logger, clk: clock.Or(o.Time)}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Version returns the version of the last update applied. It is only safe
// to call when Run is not running, or from Apply.
func (f *Follower) Version() uint64 { return f.version }

// errApply marks an error of Apply, which stops Run.
type errApply struct{ err error }

func (e errApply) Error() string { return e.err.Error() }
func (e errApply) Unwrap() error { return e.err }

// errGap says a delta did not chain on the version held.
var errGap = errors.New("delta does not chain")

// Run follows the hub until ctx ends (it then returns nil) or Apply fails.
func (f *Follower) Run(ctx context.Context) error {
	backoff := f.o.MinBackoff
	for {
		start := f.version
		err := f.stream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ae errApply
		if errors.As(err, &ae) {
			return ae.err
		}
		if errors.Is(err, errGap) {
			f.log.Warn("blocklist: delta gap; taking a snapshot", "version", f.version, "err", err)
			if err = f.snapshot(ctx); err == nil {
				backoff = f.o.MinBackoff
				continue
			}
			if errors.As(err, &ae) {
				return ae.err
			}
		}
		if f.version != start {
			backoff = f.o.MinBackoff // it made progress: not a failing hub
		}
		if f.o.Connected != nil && err != nil {
			f.o.Connected(err)
		}
		f.log.Info("blocklist: stream ended; reconnecting", "version", f.version, "in", backoff, "err", err)
		if clock.Sleep(ctx, f.clk, backoff) != nil {
			return nil
		}
		backoff = min(2*backoff, f.o.MaxBackoff)
	}
}

func (f *Follower) endpoint(name string, from uint64) string {
	u := *f.base
	u.Path += f.o.Path + name
	if name != "snapshot" {
		u.RawQuery = "from=" + strconv.FormatUint(from, 10)
	}
	return u.String()
}

// stream reads one connection until it fails.
func (f *Follower) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint("stream", f.version), nil)
	if err != nil {
		return err
	}
	resp, err := f.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("blocklist: stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("blocklist: stream: %s", resp.Status)
	}
	// A silent connection is cut: every frame, heartbeats included, resets
	// the timer.
	idle := f.clk.AfterFunc(f.o.IdleTimeout, cancel)
	defer idle.Stop()
	br := bufio.NewReaderSize(resp.Body, 4096)
	var hdr [4]byte
	var buf []byte
	first := true
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return fmt.Errorf("blocklist: stream: %w", err)
		}
		idle.Reset(f.o.IdleTimeout)
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			continue // heartbeat
		}
		if n > MaxFrame {
			return fmt.Errorf("blocklist: stream: frame of %d bytes: %w", n, ErrFormat)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("blocklist: stream: %w", err)
		}
		if err := f.message(ctx, buf); err != nil {
			return err
		}
		if first && f.o.Connected != nil {
			f.o.Connected(nil)
		}
		first = false
	}
}

// message verifies and applies one message.
func (f *Follower) message(ctx context.Context, b []byte) error {
	m, err := Decode(b, f.o.PublicKey)
	if err != nil {
		return err
	}
	return f.apply(ctx, m)
}

// apply hands one verified message to Apply.
func (f *Follower) apply(ctx context.Context, m *Message) error {
	u := Update{Version: m.To, From: m.From, Added: m.Added, Removed: m.Removed, Issued: m.Issued}
	switch m.Kind {
	case KindSnapshot:
		u.Snapshot = true
	case KindDelta:
		switch {
		case m.From == f.version && m.To == f.version:
			return nil // nothing new
		case m.From != f.version:
			return fmt.Errorf("blocklist: delta %d→%d on version %d: %w", m.From, m.To, f.version, errGap)
		}
	}
	if err := f.o.Apply(ctx, u); err != nil {
		return errApply{fmt.Errorf("blocklist: applying %s %d→%d: %w", m.Kind, m.From, m.To, err)}
	}
	f.version = m.To
	return nil
}

// snapshot fetches and applies the latest snapshot.
func (f *Follower) snapshot(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint("snapshot", 0), nil)
	if err != nil {
		return err
	}
	resp, err := f.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("blocklist: snapshot: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("blocklist: snapshot: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessage+1))
	if err != nil {
		return fmt.Errorf("blocklist: snapshot: %w", err)
	}
	m, err := Decode(b, f.o.PublicKey)
	if err != nil {
		return err
	}
	if m.Kind != KindSnapshot {
		return fmt.Errorf("blocklist: snapshot: got a %s: %w", m.Kind, ErrFormat)
	}
	return f.apply(ctx, m)
}
