package blocklist

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// hub is a Server on loopback over a MemLog, with its poll loop running.
type hub struct {
	log *MemLog
	srv *Server
	ts  *httptest.Server
	key ed25519.PrivateKey
}

func newHub(t testing.TB, o ServerOptions) *hub {
	t.Helper()
	h := &hub{log: NewMemLog(), key: testKey(1)}
	if o.Log == nil {
		o.Log = h.log
	}
	o.Key = h.key
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	mux.Handle("/v1/blocklist/", srv)
	h.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		cancel()
		<-done
		h.ts.Close()
	})
	return h
}

// head returns the version the server's broadcaster has published.
func (h *hub) head() uint64 {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	return h.srv.head
}

func (h *hub) pub() ed25519.PublicKey { return h.key.Public().(ed25519.PublicKey) }

// state is what a follower's Apply built: the listing and its version,
// plus every update seen.
type state struct {
	mu      sync.Mutex
	version uint64
	listed  map[netip.Prefix]bool
	updates []Update
	changed chan struct{}
}

func newState() *state {
	return &state{listed: map[netip.Prefix]bool{}, changed: make(chan struct{}, 1)}
}

func (s *state) apply(_ context.Context, u Update) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Snapshot {
		clear(s.listed)
	} else if u.From != s.version {
		return errors.New("apply: update does not chain")
	}
	for _, p := range u.Added {
		s.listed[p] = true
	}
	for _, p := range u.Removed {
		delete(s.listed, p)
	}
	s.version = u.Version
	s.updates = append(s.updates, u)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *state) has(p netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listed[p]
}

func (s *state) snapshots() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, u := range s.updates {
		if u.Snapshot {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runFollower runs a follower of h from version until the test ends.
func runFollower(t *testing.T, h *hub, version uint64, s *state, pub ed25519.PublicKey) (stop func() error) {
	t.Helper()
	f, err := NewFollower(FollowerOptions{URL: h.ts.URL, PublicKey: pub, Version: version, Apply: s.apply,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var res error
	stop = func() error {
		once.Do(func() { cancel(); res = <-done })
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

var (
	addrA = netip.MustParsePrefix("192.0.2.1/32")
	addrB = netip.MustParsePrefix("198.51.100.0/24")
	addrC = netip.MustParsePrefix("2001:db8::7/128")
)

func TestFollowerReceivesChanges(t *testing.T) {
	h := newHub(t, ServerOptions{PollInterval: time.Hour}) // only Notify pushes
	h.log.List(addrA)
	s := newState()
	runFollower(t, h, 0, s, h.pub())
	waitUntil(t, "the snapshot", func() bool { return s.has(addrA) })
	waitUntil(t, "the subscription", func() bool { return h.srv.Subscribers() == 1 })

	h.log.List(addrB, addrC)
	h.srv.Notify()
	waitUntil(t, "the listing of B and C", func() bool { return s.has(addrB) && s.has(addrC) })
	h.log.Unlist(addrA)
	h.srv.Notify()
	waitUntil(t, "the removal of A", func() bool { return !s.has(addrA) })
	if n := s.snapshots(); n != 1 {
		t.Errorf("%d snapshots, want only the first", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version != 4 {
		t.Errorf("version %d, want 4", s.version)
	}
}

// TestFollowerResumesWithoutSnapshot: a follower restarted with the version
// it held gets the changes made while it was away as one delta.
func TestFollowerResumesWithoutSnapshot(t *testing.T) {
	h := newHub(t, ServerOptions{})
	h.log.List(addrA)
	s := newState()
	stop := runFollower(t, h, 0, s, h.pub())
	waitUntil(t, "the snapshot", func() bool { return s.has(addrA) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	held := s.version
	s.mu.Unlock()

	h.log.List(addrB)
	h.log.Unlist(addrA)
	s2 := newState()
	s2.version, s2.listed = held, map[netip.Prefix]bool{addrA: true}
	runFollower(t, h, held, s2, h.pub())
	waitUntil(t, "the catch-up", func() bool { return s2.has(addrB) && !s2.has(addrA) })
	if n := s2.snapshots(); n != 0 {
		t.Errorf("resumed with %d snapshots, want none", n)
	}
	s2.mu.Lock()
	defer s2.mu.Unlock()
	if u := s2.updates[0]; u.From != held || u.Version != 3 {
		t.Errorf("first update %d→%d, want %d→3", u.From, u.Version, held)
	}
}

// TestFollowerTooOldTakesSnapshot: when the hub no longer keeps the history
// back to the follower's version, the stream starts with a snapshot.
func TestFollowerTooOldTakesSnapshot(t *testing.T) {
	h := newHub(t, ServerOptions{})
	h.log.List(addrA)
	h.log.List(addrB)
	h.log.Unlist(addrA)
	h.log.Forget(2)
	// The delta endpoint says 410 Gone.
	resp, err := http.Get(h.ts.URL + "/v1/blocklist/delta?from=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("delta from a forgotten version: %s, want 410", resp.Status)
	}
	s := newState()
	s.version, s.listed = 1, map[netip.Prefix]bool{addrA: true}
	runFollower(t, h, 1, s, h.pub())
	waitUntil(t, "the snapshot", func() bool { return s.has(addrB) && !s.has(addrA) })
	if n := s.snapshots(); n != 1 {
		t.Errorf("%d snapshots, want 1", n)
	}
}

// TestFollowerDeltaGapTakesSnapshot serves a stream whose second message
// is a delta that does not start at the version the first one gave: the
// follower must not apply it, and must fetch a snapshot instead.
func TestFollowerDeltaGapTakesSnapshot(t *testing.T) {
	key := testKey(1)
	enc := func(m Message) []byte {
		b, err := Encode(&m, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := enc(Message{Kind: KindSnapshot, To: 1, Added: []netip.Prefix{addrA}})
	gap := enc(Message{Kind: KindDelta, From: 3, To: 4, Added: []netip.Prefix{addrC}})
	full := enc(Message{Kind: KindSnapshot, To: 4, Added: []netip.Prefix{addrA, addrB, addrC}})
	var mu sync.Mutex
	var froms []string
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/blocklist/stream", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		froms = append(froms, r.URL.Query().Get("from"))
		n := len(froms)
		mu.Unlock()
		if n == 1 {
			_, _ = w.Write(lengthPrefixed(first))
			_, _ = w.Write(lengthPrefixed(gap))
			return
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/v1/blocklist/snapshot", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(full) })
	ts := httptest.NewServer(mux)
	defer ts.Close()

	s := newState()
	f, err := NewFollower(FollowerOptions{URL: ts.URL, PublicKey: key.Public().(ed25519.PublicKey), Apply: s.apply,
		MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	waitUntil(t, "the second stream", func() bool { mu.Lock(); defer mu.Unlock(); return len(froms) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var kinds []string
	for _, u := range s.updates {
		if !u.Snapshot {
			t.Errorf("a delta %d→%d was applied", u.From, u.Version)
		}
		kinds = append(kinds, "snapshot")
	}
	if len(s.updates) != 2 || s.version != 4 || !s.listed[addrB] {
		t.Errorf("updates %v, version %d, B listed %v; want two snapshots ending at 4 with B", kinds, s.version, s.listed[addrB])
	}
	if froms[1] != "4" {
		t.Errorf("reconnected from %s, want 4", froms[1])
	}
}

// TestFollowerRefusesOtherKey: a follower configured with another public
// key applies nothing.
func TestFollowerRefusesOtherKey(t *testing.T) {
	h := newHub(t, ServerOptions{})
	h.log.List(addrA)
	s := newState()
	var mu sync.Mutex
	var errs []error
	f, err := NewFollower(FollowerOptions{URL: h.ts.URL, PublicKey: testKey(9).Public().(ed25519.PublicKey), Apply: s.apply,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Connected: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.Run(ctx) }()
	waitUntil(t, "three refused connections", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) >= 3 })
	mu.Lock()
	for _, err := range errs {
		if !errors.Is(err, ErrKey) {
			t.Errorf("connection ended with %v, want ErrKey", err)
		}
	}
	mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.updates) != 0 {
		t.Errorf("applied %d updates signed by another key", len(s.updates))
	}
}

// TestSlowSubscriberDropped: a subscriber that does not read is cut off
// once its buffer is full, and a follower reconnecting from its version
// catches up.
func TestSlowSubscriberDropped(t *testing.T) {
	h := newHub(t, ServerOptions{PollInterval: time.Hour, Buffer: 2})
	// A raw client that never reads past the headers.
	resp, err := http.Get(h.ts.URL + "/v1/blocklist/stream?from=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitUntil(t, "the subscriber", func() bool { return h.srv.Subscribers() == 1 })
	var last uint64
	for i := range 1_000_000 {
		// Each delta's frame is small; the socket buffers fill, then the
		// channel, then the subscriber is dropped.
		last = h.log.List(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		if err := h.srv.step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if h.srv.Dropped() > 0 {
			break
		}
	}
	if h.srv.Dropped() != 1 || h.srv.Subscribers() != 0 {
		t.Fatalf("%d dropped, %d subscribed; want the one dropped", h.srv.Dropped(), h.srv.Subscribers())
	}
	// Its response ends once it reads what was sent.
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow subscriber's stream did not end")
	}
	s := newState()
	s.version = 1 // holds the first listing, 10.0.0.0
	s.listed[netip.MustParsePrefix("10.0.0.0/32")] = true
	runFollower(t, h, 1, s, h.pub())
	waitUntil(t, "the reconnected follower to catch up", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.version == last })
	if s.snapshots() != 0 {
		t.Error("the reconnected follower took a snapshot")
	}
}

func TestSnapshotCachedPerVersion(t *testing.T) {
	h := newHub(t, ServerOptions{PollInterval: time.Hour})
	h.log.List(addrA)
	get := func() []byte {
		resp, err := http.Get(h.ts.URL + "/v1/blocklist/snapshot")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	h.srv.Notify()
	waitUntil(t, "the broadcaster at 1", func() bool { return h.head() == 1 })
	a := get()
	time.Sleep(2 * time.Millisecond) // a re-encoding would carry another issued-at time
	if b := get(); !slices.Equal(a, b) {
		t.Error("two snapshots of one version differ: not cached")
	}
	h.log.List(addrB)
	if err := h.srv.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := get()
	m, err := Decode(c, h.pub())
	if err != nil {
		t.Fatal(err)
	}
	if m.To != 2 || len(m.Added) != 2 {
		t.Errorf("snapshot after a change: version %d, %d entries", m.To, len(m.Added))
	}
}

// TestStreamRechainsLateBroadcast: a subscriber whose first message is
// newer than the broadcaster's head receives, instead of a broadcast delta
// that does not start at its version, a delta computed from the log.
func TestStreamRechainsLateBroadcast(t *testing.T) {
	log := NewMemLog()
	srv, err := NewServer(ServerOptions{Log: log, Key: testKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	// No Run: the broadcaster stays at 0 until step is called.
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close) // after the follower's cleanup: Close waits for its stream
	log.List(addrA)
	s := newState()
	h := &hub{log: log, srv: srv, ts: ts, key: testKey(1)}
	runFollower(t, h, 0, s, h.pub())
	waitUntil(t, "the snapshot at 1", func() bool { return s.has(addrA) })
	waitUntil(t, "the subscription", func() bool { return srv.Subscribers() == 1 })
	log.List(addrB)
	if err := srv.step(context.Background()); err != nil { // broadcasts 0→2
		t.Fatal(err)
	}
	waitUntil(t, "B", func() bool { return s.has(addrB) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.updates) != 2 || s.updates[1].Snapshot || s.updates[1].From != 1 || s.updates[1].Version != 2 {
		t.Errorf("updates %+v: want the snapshot at 1, then a delta 1→2", s.updates)
	}
}

// TestBroadcastEncodedOnce: subscribers receive the very same bytes for a
// change. Each encoding carries its own issued-at time, so identical bytes
// mean one encoding and one signature for all of them.
func TestBroadcastEncodedOnce(t *testing.T) {
	h := newHub(t, ServerOptions{PollInterval: time.Hour})
	h.log.List(addrA)
	h.srv.Notify()
	waitUntil(t, "the broadcaster at 1", func() bool { return h.head() == 1 })
	read := func(br io.Reader) []byte {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, int(hdr[0])<<24|int(hdr[1])<<16|int(hdr[2])<<8|int(hdr[3]))
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	var bodies []io.Reader
	for range 3 {
		resp, err := http.Get(h.ts.URL + "/v1/blocklist/stream?from=1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if first := read(resp.Body); len(first) == 0 {
			t.Fatal("no first message")
		}
		bodies = append(bodies, resp.Body)
	}
	waitUntil(t, "three subscribers", func() bool { return h.srv.Subscribers() == 3 })
	time.Sleep(2 * time.Millisecond) // a second encoding would carry another issued-at time
	h.log.List(addrB)
	h.srv.Notify()
	var frames [][]byte
	for _, body := range bodies {
		frames = append(frames, read(body))
	}
	m, err := Decode(frames[0], h.pub())
	if err != nil || m.From != 1 || m.To != 2 {
		t.Fatalf("broadcast: %+v, %v", m, err)
	}
	for i, f := range frames[1:] {
		if !slices.Equal(f, frames[0]) {
			t.Errorf("subscriber %d got other bytes: the change was encoded again", i+1)
		}
	}
}
