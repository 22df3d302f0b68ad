package blocklist

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Log is the hub's versioned listing, the source of every snapshot and
// delta. The hub's database implements it; several hub nodes may read one.
type Log interface {
	// Snapshot returns the current listing and the version (change-log
	// sequence) it reflects.
	Snapshot(ctx context.Context) (version uint64, listed []netip.Prefix, err error)
	// Since returns the changes after version from, up to the returned
	// version to. It returns an error wrapping ErrTooOld when from is
	// older than the kept history.
	Since(ctx context.Context, from uint64) (to uint64, added, removed []netip.Prefix, err error)
}

// ErrTooOld is what Log.Since wraps when its history no longer reaches the
// version asked for; the client then takes a snapshot.
var ErrTooOld = errors.New("blocklist: version older than the kept history")

// ContentType is the media type of a snapshot or delta body.
const ContentType = "application/vnd.herd.blocklist"

// StreamContentType is the media type of the push stream: frames of a
// 4-byte big-endian length and that many bytes of a message; a frame of
// length 0 is a heartbeat.
const StreamContentType = "application/vnd.herd.blocklist-stream"

// Server defaults.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultHeartbeat    = 15 * time.Second
	DefaultBuffer       = 64
)

// ServerOptions configures a Server.
type ServerOptions struct {
	Log Log
	Key ed25519.PrivateKey // the hub's blocklist-signing key
	// PollInterval is how often the Log is read for changes, besides
	// Notify. Default DefaultPollInterval.
	PollInterval time.Duration
	// Heartbeat is how often an idle stream gets an empty frame, so that
	// followers notice a dead connection. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// Buffer is how many frames may wait for one stream subscriber; a
	// subscriber that falls further behind is dropped and reconnects with
	// its version. Default DefaultBuffer.
	Buffer int
	Time   clock.Clock  // issued-at times, polling, heartbeats; nil = clock.Real
	Logger *slog.Logger // nil = discard
}

// Server serves the blocklist under /v1/blocklist/: snapshot, delta and the
// push stream. It keeps no state of its own beyond caches derived from the
// Log, so any number of hub nodes may serve one database. Run must be
// running for the stream to push changes.
type Server struct {
	o   ServerOptions
	log *slog.Logger
	clk clock.Clock
	now func() time.Time

	notify chan struct{}
	snapMu sync.Mutex // serializes building snapshots

	mu     sync.Mutex
	head   uint64 // the version the broadcaster has published up to
	subs   map[*subscriber]struct{}
	snap   cached            // latest snapshot
	deltas map[uint64]cached // from → delta to head, for head; reset when head moves
	slow   uint64            // subscribers dropped for a full buffer

	// Bytes written to clients: snapshot and delta bodies, stream frames.
	snapBytes, deltaBytes, streamBytes atomic.Uint64
}

// ServerStats are a Server's counters.
type ServerStats struct {
	Subscribers int    // streams connected now
	Dropped     uint64 // subscribers dropped for falling behind
	// Bytes written to clients: bodies of /snapshot and /delta, and the
	// frames of /stream (its first message, deltas and heartbeats).
	SnapshotBytes, DeltaBytes, StreamBytes uint64
}

type cached struct {
	version uint64
	b       []byte
}

// subscriber is one stream connection. frames carries broadcast deltas;
// it is closed (under Server.mu) when the subscriber is dropped.
type subscriber struct {
	frames  chan frame
	dropped bool
}

// frame is one signed delta as broadcast to every subscriber: the same
// bytes for all of them.
type frame struct {
	from, to uint64
	b        []byte // length-prefixed, ready to write
}

// NewServer returns a Server for o.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Log == nil {
		return nil, errors.New("blocklist: server needs a Log")
	}
	if len(o.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("blocklist: server: private key of %d bytes", len(o.Key))
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	s := &Server{o: o, log: o.Logger, clk: clock.Or(o.Time), notify: make(chan struct{}, 1),
		subs: map[*subscriber]struct{}{}, deltas: map[uint64]cached{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.now = s.clk.Now
	return s, nil
}

// Notify tells the server the Log changed, so that the change is pushed now
// rather than at the next poll. It never blocks.
func (s *Server) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Dropped returns how many stream subscribers were dropped so far for
// falling behind (a full buffer).
func (s *Server) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slow
}

// Subscribers returns how many streams are connected.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Stats returns the counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	st := ServerStats{Subscribers: len(s.subs), Dropped: s.slow}
	s.mu.Unlock()
	st.SnapshotBytes, st.DeltaBytes, st.StreamBytes = s.snapBytes.Load(), s.deltaBytes.Load(), s.streamBytes.Load()
	return st
}

// Run reads the Log every PollInterval and on Notify, and pushes each
// change, encoded and signed once, to every stream. It returns when ctx
// ends.
func (s *Server) Run(ctx context.Context) error {
	v, _, err := s.o.Log.Snapshot(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("blocklist: reading the log", "err", err)
	}
	s.mu.Lock()
	s.head = v
	s.mu.Unlock()
	t := s.clk.NewTicker(s.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.closeAll()
			return nil
		case <-t.C():
		case <-s.notify:
		}
		if err := s.step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("blocklist: polling the log", "err", err)
		}
	}
}

// step publishes the changes after head, if any.
func (s *Server) step(ctx context.Context) error {
	s.mu.Lock()
	head := s.head
	s.mu.Unlock()
	to, added, removed, err := s.o.Log.Since(ctx, head)
	if errors.Is(err, ErrTooOld) {
		// The history moved past our head (a long stall): subscribers
		// behind it are dropped and come back for a snapshot.
		v, _, err := s.o.Log.Snapshot(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.head = v
		s.deltas = map[uint64]cached{}
		for sub := range s.subs {
			s.drop(sub)
		}
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if to <= head {
		return nil
	}
	b, err := Encode(&Message{Kind: KindDelta, From: head, To: to, Issued: s.now(), Added: added, Removed: removed}, s.o.Key)
	if err != nil {
		return err
	}
	f := frame{from: head, to: to, b: lengthPrefixed(b)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head = to
	s.deltas = map[uint64]cached{head: {version: to, b: b}}
	for sub := range s.subs {
		select {
		case sub.frames <- f:
		default:
			s.slow++
			s.drop(sub)
		}
	}
	return nil
}

// drop closes sub's frames; its connection ends and the follower
// reconnects with the version it holds. s.mu is held.
func (s *Server) drop(sub *subscriber) {
	if !sub.dropped {
		sub.dropped = true
		close(sub.frames)
		delete(s.subs, sub)
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		s.drop(sub)
	}
}

func lengthPrefixed(b []byte) []byte {
	out := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	return append(out, b...)
}

// ServeHTTP serves GET /v1/blocklist/{snapshot,delta,stream}. The prefix
// before "snapshot" etc. is not checked, so the handler may be mounted
// under any path ending in /v1/blocklist/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	switch {
	case hasSuffix(path, "/snapshot"):
		s.serveSnapshot(w, r)
	case hasSuffix(path, "/delta"):
		s.serveDelta(w, r)
	case hasSuffix(path, "/stream"):
		s.serveStream(w, r)
	default:
		http.NotFound(w, r)
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func parseFrom(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("from")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("from: %q is not a version", v)
	}
	return n, nil
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.snapshot(r.Context())
	if err != nil {
		s.log.Warn("blocklist: snapshot", "err", err)
		http.Error(w, "snapshot unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	n, _ := w.Write(b)
	s.snapBytes.Add(uint64(n))
}

// snapshot returns the signed snapshot of the current listing, encoding it
// only when the version changed since the last one.
func (s *Server) snapshot(ctx context.Context) ([]byte, uint64, error) {
	// One snapshot is built at a time; those waiting reuse it.
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	c, head := s.snap, s.head
	s.mu.Unlock()
	if c.b != nil && c.version == head {
		return c.b, c.version, nil // the broadcaster's head: deltas chain on it
	}
	v, listed, err := s.o.Log.Snapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	if c.b != nil && c.version == v {
		return c.b, v, nil
	}
	b, err := Encode(&Message{Kind: KindSnapshot, To: v, Issued: s.now(), Added: listed}, s.o.Key)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	if v >= s.snap.version {
		s.snap = cached{version: v, b: b}
	}
	s.mu.Unlock()
	return b, v, nil
}

// delta returns the signed delta from → the Log's head, or ErrTooOld. A
// delta to the broadcaster's head is cached per from, so that the
// followers dropped together and reconnecting together cost one encoding.
func (s *Server) delta(ctx context.Context, from uint64) ([]byte, uint64, error) {
	s.mu.Lock()
	c, ok := s.deltas[from]
	s.mu.Unlock()
	if ok {
		return c.b, c.version, nil
	}
	to, added, removed, err := s.o.Log.Since(ctx, from)
	if err != nil {
		return nil, 0, err
	}
	if to < from {
		// A version the log never reached: another hub's, or a reset
		// database. Only a snapshot can put the follower right.
		return nil, 0, fmt.Errorf("log at %d, behind %d: %w", to, from, ErrTooOld)
	}
	b, err := Encode(&Message{Kind: KindDelta, From: from, To: to, Issued: s.now(), Added: added, Removed: removed}, s.o.Key)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	if to == s.head {
		s.deltas[from] = cached{version: to, b: b}
	}
	s.mu.Unlock()
	return b, to, nil
}

func (s *Server) serveDelta(w http.ResponseWriter, r *http.Request) {
	from, err := parseFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b, _, err := s.delta(r.Context(), from)
	if errors.Is(err, ErrTooOld) {
		http.Error(w, "version too old: take a snapshot", http.StatusGone)
		return
	}
	if err != nil {
		s.log.Warn("blocklist: delta", "from", from, "err", err)
		http.Error(w, "delta unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	n, _ := w.Write(b)
	s.deltaBytes.Add(uint64(n))
}

// serveStream subscribes first, then writes the delta from the client's
// version (or a snapshot when it has none or it is too old), then every
// broadcast delta that chains on. A broadcast that does not chain (it
// raced the first message, or the subscriber missed one) is replaced by a
// delta from the Log.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	from, err := parseFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	ctx := r.Context()
	sub := &subscriber{frames: make(chan frame, s.o.Buffer)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.drop(sub)
		s.mu.Unlock()
	}()

	var first []byte
	var v uint64
	if from != 0 {
		first, v, err = s.delta(ctx, from)
	}
	if from == 0 || errors.Is(err, ErrTooOld) {
		first, v, err = s.snapshot(ctx)
	}
	if err != nil {
		s.log.Warn("blocklist: stream start", "from", from, "err", err)
		http.Error(w, "blocklist unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", StreamContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := s.writeFrame(w, rc, lengthPrefixed(first)); err != nil {
		return
	}
	hb := s.clk.NewTicker(s.o.Heartbeat)
	defer hb.Stop()
	var zero [4]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C():
			if err := s.writeFrame(w, rc, zero[:]); err != nil {
				return
			}
		case f, ok := <-sub.frames:
			if !ok {
				return // dropped: the follower reconnects with its version
			}
			switch {
			case f.to <= v:
				continue // already covered by the first message
			case f.from != v:
				b, to, err := s.delta(ctx, v)
				if err != nil {
					return
				}
				if err := s.writeFrame(w, rc, lengthPrefixed(b)); err != nil {
					return
				}
				v = to
				continue
			}
			if err := s.writeFrame(w, rc, f.b); err != nil {
				return
			}
			v = f.to
		}
	}
}

// writeTimeout bounds the write of one frame: a subscriber that does not
// read for that long is cut off.
const writeTimeout = 10 * time.Second

func (s *Server) writeFrame(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := w.Write(b)
	s.streamBytes.Add(uint64(n))
	if err != nil {
		return err
	}
	return rc.Flush()
}
