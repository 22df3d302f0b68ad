package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/hubstore"
)

// tape records every byte read from and written to the connections of a
// listener: the traffic on the wire.
type tape struct {
	net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tape) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapedConn{Conn: c, t: t}, nil
}

func (t *tape) bytes() []byte { t.mu.Lock(); defer t.mu.Unlock(); return bytes.Clone(t.buf.Bytes()) }

type tapedConn struct {
	net.Conn
	t *tape
}

func (c *tapedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.mu.Lock()
	c.t.buf.Write(p[:n])
	c.t.mu.Unlock()
	return n, err
}

func (c *tapedConn) Write(p []byte) (int, error) {
	c.t.mu.Lock()
	c.t.buf.Write(p)
	c.t.mu.Unlock()
	return c.Conn.Write(p)
}

// lockedBuf is a log sink.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) bytes() []byte { l.mu.Lock(); defer l.mu.Unlock(); return bytes.Clone(l.b.Bytes()) }

// testHub is a hub node on loopback over a SQLite file.
type testHub struct {
	url    string
	path   string
	h      *Hub
	tape   *tape
	logs   *lockedBuf
	cancel func()
	srv    *http.Server
	st     *hubstore.Store
	done   chan struct{}
}

func startHub(t *testing.T, path string, addr string) *testHub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	logs := &lockedBuf{}
	lg := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(ctx, Options{Hub: hub.Options{Store: st, Logger: lg, AllowDocumentation: true}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tape{Listener: l}
	srv := &http.Server{Handler: h.Handler(), ErrorLog: slog.NewLogLogger(lg.Handler(), slog.LevelError)}
	th := &testHub{url: "http://" + l.Addr().String(), path: path, h: h, tape: tp, logs: logs, cancel: cancel, srv: srv, st: st, done: make(chan struct{})}
	go srv.Serve(tp)
	go func() { h.Run(ctx); close(th.done) }()
	t.Cleanup(th.stop)
	return th
}

func (th *testHub) stop() {
	if th.cancel == nil {
		return
	}
	th.cancel()
	<-th.done
	th.srv.Close()
	th.st.Close()
	th.cancel = nil
}

// member is an agent's side of a group: its keys, its hub client, its state.
type member struct {
	id group.Identity
	c  *client.Client
	s  *group.State
}

func newMember(t *testing.T, url string) *member {
	t.Helper()
	id, err := group.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Key: id.Sign})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Enroll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &member{id: id, c: c}
}

func (m *member) post(t *testing.T, blob []byte) int64 {
	t.Helper()
	seq, err := m.c.PostBlob(context.Background(), m.s.Group, blob)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// read opens every new blob of the group and returns the events and the
// errors.
func (m *member) read(t *testing.T) ([]group.Event, []error) {
	t.Helper()
	bs, err := m.c.Blobs(context.Background(), m.s.Group, m.s.Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evs []group.Event
	var errs []error
	for _, b := range bs {
		m.s.Cursor = b.Seq
		ev, err := m.s.Open(m.id, b.Data, time.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ev.Own {
			evs = append(evs, ev)
		}
	}
	return evs, errs
}

const (
	markerScenario = "MARKER-SCENARIO-5b21e9"
	markerLine     = "MARKER-EVIDENCE-c0ffee"
	markerAddr     = "198.51.100.213"
	markerAddr6    = "2001:db8:beef::77"
)

// TestGroupHubSeesNothing runs a group through a real hub node over HTTP on
// loopback: invitation, join, messages carrying marker strings and
// addresses, removal, tampering, replay, and a restart. The markers must
// never appear in the hub's database file (and its WAL), its logs, its
// metrics or the bytes on the wire.
func TestGroupHubSeesNothing(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "hub.db")
	th := startHub(t, dbPath, "127.0.0.1:0")
	ctx := context.Background()

	a, b, out := newMember(t, th.url), newMember(t, th.url), newMember(t, th.url)
	var err error
	if a.s, err = group.Create(a.id, "ops-MARKER-GROUP", th.url, true); err != nil {
		t.Fatal(err)
	}
	code, err := a.s.Invite(a.id, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := group.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	var req []byte
	if b.s, req, err = group.Join(b.id, c, "MARKER-LABEL-web1", time.Now()); err != nil {
		t.Fatal(err)
	}
	b.post(t, req)
	evs, errs := a.read(t)
	if len(errs) > 0 || len(evs) != 1 || evs[0].Joined == nil {
		t.Fatalf("admin reads the join: %+v %v", evs, errs)
	}
	commit, err := a.s.Add(a.id, *evs[0].Joined, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.post(t, commit)
	if evs, errs := b.read(t); len(errs) > 0 || len(evs) != 1 || !evs[0].Accepted {
		t.Fatalf("joiner reads the commit: %+v %v", evs, errs)
	}

	// b shares a decision with its evidence; a reads it.
	body := group.Body{Decisions: []group.Decision{
		{Scope: netip.MustParsePrefix(markerAddr + "/32"), Scenario: markerScenario, Duration: time.Hour, Origin: "herd",
			Evidence: []string{"sshd[4242]: Failed password for " + markerLine + " from " + markerAddr + " port 4711 ssh2"}},
		{Scope: netip.MustParsePrefix(markerAddr6 + "/128"), Scenario: markerScenario, Duration: time.Hour, Origin: "herd"},
	}}
	msg, err := b.s.Seal(b.id, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.post(t, msg)
	evs, errs = a.read(t)
	if len(errs) > 0 || len(evs) != 1 || len(evs[0].Body.Decisions) != 2 || evs[0].Body.Decisions[0].Scenario != markerScenario {
		t.Fatalf("admin reads the message: %+v %v", evs, errs)
	}

	// The outsider, an enrolled reporter that knows the group id, reads
	// ciphertext only, and cannot post as a member.
	outState := &group.State{Group: a.s.Group, Keys: map[uint32][]byte{}, Last: map[group.ID]uint64{}}
	out.s = outState
	_, oerrs := out.read(t)
	if len(oerrs) == 0 {
		t.Fatal("the outsider opened the group's blobs")
	}
	forged := bytes.Clone(msg) // b's message, posted by the outsider
	if _, err := out.c.PostBlob(ctx, a.s.Group, forged); err == nil {
		t.Fatal("the hub accepted a blob whose sender is another reporter")
	}
	// A blob tampered with on its way (here: posted by its sender with a
	// flipped bit, as a hub rewriting it would deliver it) is refused.
	tam, _ := b.s.Seal(b.id, body, time.Now())
	tam[len(tam)-5] ^= 0x40
	b.post(t, tam)
	if evs, errs := a.read(t); len(evs) != 0 || len(errs) != 1 || !errors.Is(errs[0], group.ErrForged) {
		t.Fatalf("tampered blob: %+v %v", evs, errs)
	}
	// A hub replaying the group's stream from the start gets nothing
	// accepted twice.
	a.s.Cursor = 0
	if evs, errs := a.read(t); len(evs) != 0 || len(errs) == 0 {
		t.Fatalf("replayed stream: %+v accepted", evs)
	} else {
		for _, e := range errs {
			if !errors.Is(e, group.ErrReplay) && !errors.Is(e, group.ErrForged) {
				t.Fatalf("replayed stream: %v", e)
			}
		}
	}

	// a removes b: b cannot read the next epoch.
	rm, err := a.s.Remove(a.id, b.id.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.post(t, rm)
	after, _ := a.s.Seal(a.id, body, time.Now())
	lastSeq := a.post(t, after)
	evs, errs = b.read(t)
	if len(evs) != 0 || len(errs) != 2 || !errors.Is(errs[0], group.ErrNoKey) || !errors.Is(errs[1], group.ErrNoKey) {
		t.Fatalf("removed member: %+v %v", evs, errs)
	}

	// Metrics, then a restart: everything acknowledged is there.
	mw := httptest.NewRecorder()
	th.h.MetricsHandler().ServeHTTP(mw, httptest.NewRequest("GET", "/metrics", nil))
	metricsText := mw.Body.Bytes()
	if !bytes.Contains(metricsText, []byte(HubGroupBlobs)) {
		t.Fatal("no blob metric")
	}
	wire := th.tape.bytes()
	logs := th.logs.bytes()
	th.stop()
	files := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(dbPath + suffix); err == nil {
			files["hub.db"+suffix] = b
		}
	}
	places := map[string][]byte{"traffic": wire, "logs": logs, "metrics": metricsText}
	for k, v := range files {
		places[k] = v
	}
	if len(wire) < 1000 || len(files["hub.db"]) == 0 {
		t.Fatalf("recorded %d bytes of traffic, %d of database", len(wire), len(files["hub.db"]))
	}
	needles := []string{markerScenario, markerLine, markerAddr, markerAddr6, "port 4711", "MARKER-LABEL-web1", "ops-MARKER-GROUP", "MARKER"}
	raw4 := netip.MustParseAddr(markerAddr).As4()
	raw16 := netip.MustParseAddr(markerAddr6).As16()
	for where, hay := range places {
		for _, n := range needles {
			if bytes.Contains(hay, []byte(n)) {
				t.Errorf("%q in the hub's %s", n, where)
			}
		}
		if bytes.Contains(hay, raw4[:]) || bytes.Contains(hay, raw16[:]) {
			t.Errorf("a marker address, raw, in the hub's %s", where)
		}
	}
	if !bytes.Contains(wire, []byte("POST /v1/groups/")) {
		t.Fatal("the tape did not record the requests")
	}

	th2 := startHub(t, dbPath, "127.0.0.1:0")
	c2, _ := client.New(client.Options{URL: th2.url, Key: a.id.Sign})
	bs, err := c2.Blobs(ctx, a.s.Group, 0, 0)
	if err != nil || len(bs) == 0 || bs[len(bs)-1].Seq != lastSeq {
		t.Fatalf("after the restart: %d blobs, last %v (want %d), %v", len(bs), bs, lastSeq, err)
	}
	t.Logf("blob sizes: join %d, commit (add 1) %d, message (2 decisions, 1 evidence line) %d, commit (remove, 1 wrap) %d bytes",
		len(req), len(commit), len(msg), len(rm))
}

// TestGroupLongPoll: a read waiting for the group's next blob returns as
// soon as it is posted.
func TestGroupLongPoll(t *testing.T) {
	th := startHub(t, filepath.Join(t.TempDir(), "hub.db"), "127.0.0.1:0")
	a := newMember(t, th.url)
	var err error
	if a.s, err = group.Create(a.id, "g", th.url, false); err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		bs, err := a.c.Blobs(context.Background(), a.s.Group, 0, 10*time.Second)
		if err == nil && len(bs) == 1 {
			got <- time.Now()
		}
		close(got)
	}()
	time.Sleep(200 * time.Millisecond)
	msg, _ := a.s.Seal(a.id, group.Body{}, time.Now())
	sent := time.Now()
	a.post(t, msg)
	at, ok := <-got
	if !ok {
		t.Fatal("the waiting read got nothing")
	}
	if d := at.Sub(sent); d > 5*time.Second {
		t.Fatalf("the waiting read returned %v after the post", d)
	} else {
		t.Logf("post to waiting reader: %v", d)
	}
}
