package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// TestEnrollSignalsAndListing: five agents from three networks enroll,
// wait out MinAge, report one address; the signals are committed before
// the 200 and the next recomputation lists the address, with one change in
// the log that Snapshot and Since agree on.
func TestEnrollSignalsAndListing(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, path := openSQLite(t)
	s := newServer(t, st, clk, nil)
	h := s.Handler()
	froms := []string{"192.0.2.10", "192.0.2.11", "198.51.100.5", "198.51.100.6", "203.0.113.9"}
	var agents []*agent
	for _, f := range froms {
		a := newAgent(t, f, clk)
		a.enroll(t, h)
		agents = append(agents, a)
	}
	// Enrolling again keeps the first enrollment time.
	clk.Add(24 * time.Hour)
	agents[0].enroll(t, h)
	clk.Add(7 * 24 * time.Hour)
	bad := "198.51.100.200"
	for _, a := range agents {
		w := a.send(h, sig(bad, wire.SSHBruteforce, clk.Now()))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"accepted":1`) {
			t.Fatalf("signals: %d %s", w.Code, w.Body)
		}
	}
	// Committed before the 200: another connection to the file sees them.
	other, err := hubstore.Open(context.Background(), hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	other.Signals(context.Background(), 0, 1<<62, 0, func(hubstore.StoredSignal) { n++ })
	other.Close()
	if n != 5 {
		t.Fatalf("%d signals stored, want 5", n)
	}
	v, err := s.Recompute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ver, listed, err := s.Log().Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParsePrefix(bad + "/32")
	if v != 1 || ver != 1 || len(listed) != 1 || listed[0] != want {
		t.Fatalf("version %d/%d listing %v", v, ver, listed)
	}
	to, added, removed, err := s.Log().Since(context.Background(), 0)
	if err != nil || to != 1 || len(added) != 1 || added[0] != want || len(removed) != 0 {
		t.Fatalf("Since(0) = %d %v %v %v", to, added, removed, err)
	}
	x, err := s.Explain(context.Background(), netip.MustParseAddr(bad))
	if err != nil || !x.Listed || x.Reporters != 5 || x.Networks != 3 {
		t.Fatalf("Explain = %+v, %v", x, err)
	}
	// No negative votes: the API has no way to remove; silence does not
	// unlist before the evidence leaves the window.
	for _, m := range []string{http.MethodDelete, http.MethodPut, http.MethodGet} {
		r := agents[0].request("/v1/signals", wire.ContentType, nil, nil, clk.Now())
		r.Method = m
		if w := do(h, r); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /v1/signals: %d", m, w.Code)
		}
	}
	clk.Add(48 * time.Hour)
	if v, _ := s.Recompute(context.Background()); v != 1 {
		t.Fatalf("silence changed the log: version %d", v)
	}
	clk.Add(25 * time.Hour) // past the 72 h window
	if v, _ := s.Recompute(context.Background()); v != 2 {
		t.Fatalf("evidence out of the window: version %d, want 2", v)
	}
	to, added, removed, err = s.Log().Since(context.Background(), 1)
	if err != nil || to != 2 || len(added) != 0 || len(removed) != 1 || removed[0] != want {
		t.Fatalf("Since(1) = %d %v %v %v", to, added, removed, err)
	}
	// Net effect from 0: nothing.
	if to, added, removed, _ := s.Log().Since(context.Background(), 0); to != 2 || len(added)+len(removed) != 0 {
		t.Fatalf("Since(0) = %d %v %v", to, added, removed)
	}
	if _, _, _, err := s.Log().Since(context.Background(), 9); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Since(ahead) err = %v", err)
	}
	if _, err := st.PruneChanges(context.Background(), clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Log().Since(context.Background(), 0); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Since(pruned) err = %v", err)
	}
}

func TestSignedRequestChecks(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, nil)
	h := s.Handler()
	a := newAgent(t, "192.0.2.10", clk)
	a.enroll(t, h)
	body := wire.AppendBatch(nil, []wire.Signal{sig("198.51.100.1", wire.Portscan, clk.Now())})
	nonce := [16]byte{7}
	if w := do(h, a.request("/v1/signals", wire.ContentType, body, &nonce, clk.Now())); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	check := func(name string, r *http.Request, code int) {
		t.Helper()
		w := do(h, r)
		if w.Code != code {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, code)
		}
		// Errors say nothing about which check failed.
		if code >= 400 && strings.ContainsAny(strings.ToLower(w.Body.String()), "0123456789") {
			t.Errorf("%s: error body leaks detail: %s", name, w.Body)
		}
	}
	check("replay", a.request("/v1/signals", wire.ContentType, body, &nonce, clk.Now()), 401)
	check("stale", a.request("/v1/signals", wire.ContentType, body, nil, clk.Now().Add(-3*time.Minute)), 401)
	check("future", a.request("/v1/signals", wire.ContentType, body, nil, clk.Now().Add(3*time.Minute)), 401)
	r := a.request("/v1/signals", wire.ContentType, body, nil, clk.Now())
	r.Header.Set(wire.AuthHeader, strings.Replace(r.Header.Get(wire.AuthHeader), " sig=A", " sig=B", 1)+"")
	bad := a.request("/v1/signals", wire.ContentType, body, nil, clk.Now())
	auth, _ := wire.ParseAuth(bad.Header.Get(wire.AuthHeader))
	auth.Sig[0] ^= 1
	bad.Header.Set(wire.AuthHeader, auth.String())
	check("bad signature", bad, 401)
	other := a.request("/v1/signals", wire.ContentType, append(body[:len(body):len(body)], body[1:]...), nil, clk.Now())
	other.Header.Set(wire.AuthHeader, a.request("/v1/signals", wire.ContentType, body, nil, clk.Now()).Header.Get(wire.AuthHeader))
	check("body changed", other, 401)
	stranger := newAgent(t, "192.0.2.99", clk)
	check("unknown key", stranger.request("/v1/signals", wire.ContentType, body, nil, clk.Now()), 401)
	noAuth := a.request("/v1/signals", wire.ContentType, body, nil, clk.Now())
	noAuth.Header.Del(wire.AuthHeader)
	check("no header", noAuth, 401)
	check("content type", a.request("/v1/signals", "application/json", body, nil, clk.Now()), 415)
	check("garbage body", a.request("/v1/signals", wire.ContentType, []byte{1, 9, 9}, nil, clk.Now()), 400)
	// Enrollment must be signed by the key it enrolls.
	pub := stranger.key.Public().(ed25519.PublicKey)
	check("enroll someone else's key", a.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now()), 401)
	stats := s.Stats()
	if stats.Replays != 1 || stats.StaleTimestamps != 2 || stats.BadSignatures < 2 || stats.UnknownKeys != 1 || stats.Signals != 1 {
		t.Fatalf("stats = %+v", stats)
	}
}

func TestRateLimit(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) { o.SignalRate, o.SignalBurst = 10, 20 })
	h := s.Handler()
	a := newAgent(t, "192.0.2.10", clk)
	a.enroll(t, h)
	var sigs []wire.Signal
	for i := range 15 {
		sigs = append(sigs, sig(fmt.Sprintf("198.51.100.%d", i+1), wire.Portscan, clk.Now()))
	}
	if w := a.send(h, sigs...); w.Code != 200 {
		t.Fatalf("first 15: %d", w.Code)
	}
	if w := a.send(h, sigs...); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second 15 within the burst of 20: %d", w.Code)
	}
	clk.Add(time.Second) // +10 tokens: 15
	if w := a.send(h, sigs...); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}
	// Another reporter has its own bucket.
	b := newAgent(t, "192.0.2.11", clk)
	b.enroll(t, h)
	if w := b.send(h, sigs...); w.Code != 200 {
		t.Fatalf("other reporter: %d", w.Code)
	}
	if s.Stats().RateLimited != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
	// Enrollment per network: a burst of 10, then one a minute.
	s2 := newServer(t, st, clk, nil)
	h2 := s2.Handler()
	for i := range 10 {
		newAgent(t, fmt.Sprintf("203.0.113.%d", i+1), clk).enroll(t, h2)
	}
	c := newAgent(t, "203.0.113.200", clk)
	pub := c.key.Public().(ed25519.PublicKey)
	if w := do(h2, c.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now())); w.Code != 429 {
		t.Fatalf("11th enrollment from one /24: %d", w.Code)
	}
}

func TestSourcesRefused(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) { o.AllowDocumentation = false })
	h := s.Handler()
	a := newAgent(t, "192.0.2.10", clk)
	a.enroll(t, h)
	now := clk.Now()
	cases := map[Refusal][]string{
		RefusedPrivate:       {"10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1"},
		RefusedLoopback:      {"127.0.0.1", "::1"},
		RefusedLinkLocal:     {"169.254.1.1", "fe80::1"},
		RefusedMulticast:     {"224.0.0.1", "239.1.1.1", "ff02::1"},
		RefusedCGNAT:         {"100.64.0.1", "100.127.255.254"},
		RefusedDocumentation: {"192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1"},
		RefusedReserved:      {"0.1.2.3", "240.0.0.1", "255.255.255.255", "198.18.0.1", "2002::1", "64:ff9b::1.2.3.4", "4000::1"},
		RefusedUnspecified:   {"0.0.0.0", "::"},
	}
	var sigs []wire.Signal
	total := 0
	for _, addrs := range cases {
		for _, x := range addrs {
			sigs = append(sigs, sig(x, wire.SSHBruteforce, now))
			total++
		}
	}
	sigs = append(sigs, sig("81.2.69.160", wire.SSHBruteforce, now), sig("2a00:1450:4001::1", wire.SSHBruteforce, now))
	// Out of the window, and in the future.
	sigs = append(sigs, sig("81.2.69.161", wire.SSHBruteforce, now.Add(-80*time.Hour)), sig("81.2.69.162", wire.SSHBruteforce, now.Add(10*time.Minute)))
	w := a.send(h, sigs...)
	if w.Code != 200 || !strings.Contains(w.Body.String(), fmt.Sprintf(`{"accepted":2,"refused":%d}`, total+2)) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	stats := s.Stats()
	for why, addrs := range cases {
		if got := stats.Refused[why]; got != uint64(len(addrs)) {
			t.Errorf("refused %s: %d, want %d", why, got, len(addrs))
		}
	}
	if stats.Refused[RefusedTime] != 2 || stats.Signals != 2 {
		t.Errorf("stats %+v", stats)
	}
}

func TestShippedRanges(t *testing.T) {
	prot := ProtectedRanges()
	if len(prot) < 30 {
		t.Fatalf("%d protected ranges", len(prot))
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "9.9.9.9", "2606:4700:4700::1111", "66.249.66.1", "104.16.1.1"} {
		found := false
		for _, p := range prot {
			found = found || p.Contains(netip.MustParseAddr(a))
		}
		if !found {
			t.Errorf("%s not protected", a)
		}
	}
	if len(NoiseRanges()) == 0 {
		t.Fatal("no noise ranges")
	}
	// Every shipped range is public: none would be refused as a source.
	for _, p := range append(prot, NoiseRanges()...) {
		if r := Classify(p.Addr(), false); r != Accepted {
			t.Errorf("%s: %s", p, r)
		}
	}
}

// TestProtectedNeverListed: every member reports a public resolver and an
// operator range: never listed.
func TestProtectedNeverListed(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) { o.Protected = []netip.Prefix{netip.MustParsePrefix("81.2.69.0/24")} })
	h := s.Handler()
	var agents []*agent
	for i := range 12 {
		a := newAgent(t, fmt.Sprintf("%d.0.0.1", 11+i), clk)
		a.enroll(t, h)
		agents = append(agents, a)
	}
	clk.Add(40 * 24 * time.Hour)
	for _, a := range agents {
		a.send(h, sig("8.8.8.8", wire.SSHBruteforce, clk.Now()), sig("81.2.69.7", wire.SSHBruteforce, clk.Now()), sig("162.142.125.9", wire.Portscan, clk.Now()))
	}
	s.Recompute(context.Background())
	if _, l, _ := s.Log().Snapshot(context.Background()); len(l) != 0 {
		t.Fatalf("listed %v", l)
	}
	x, _ := s.Explain(context.Background(), netip.MustParseAddr("81.2.69.7"))
	if !x.Protected || x.Reporters != 12 {
		t.Fatalf("%+v", x)
	}
	if x, _ := s.Explain(context.Background(), netip.MustParseAddr("162.142.125.9")); !x.Noise {
		t.Fatalf("%+v", x)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("world-readable key accepted")
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("81.2.69.160"), netip.MustParseAddr("2a00:1450::1"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			Classify(a, false)
		}
	}); n != 0 {
		t.Fatalf("Classify allocates %v", n)
	}
}

// TestOnChange: the hook gets the new version after a recomputation that
// appended to the change log, and is not called when nothing changed; a
// node that opens a database with history does not report it as a change.
func TestOnChange(t *testing.T) {
	st, path := openSQLite(t)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var got []uint64
	s := newServer(t, st, clk, func(o *Options) { o.OnChange = func(v uint64) { got = append(got, v) } })
	h := s.Handler()
	var agents []*agent
	for _, f := range []string{"10.1.0.1", "10.1.0.2", "10.2.0.1", "10.3.0.1", "10.3.0.2"} {
		a := newAgent(t, f, clk)
		a.enroll(t, h)
		agents = append(agents, a)
	}
	clk.Add(8 * 24 * time.Hour)
	if v, err := s.Recompute(context.Background()); err != nil || v != 0 || len(got) != 0 {
		t.Fatalf("nothing listed: version %d, %v, hook calls %v", v, err, got)
	}
	for _, a := range agents {
		if w := a.send(h, sig("198.51.100.77", wire.SSHBruteforce, clk.Now())); w.Code != 200 {
			t.Fatalf("signals: %d %s", w.Code, w.Body)
		}
	}
	if v, err := s.Recompute(context.Background()); err != nil || v != 1 {
		t.Fatalf("Recompute = %d, %v", v, err)
	}
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("hook calls %v, want [1]", got)
	}
	s.Recompute(context.Background())
	if len(got) != 1 {
		t.Fatalf("a recomputation that changed nothing called the hook: %v", got)
	}
	// A second node over the same file starts at version 1: no change.
	st2, err := hubstore.Open(context.Background(), hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	var got2 []uint64
	s2 := newServer(t, st2, clk, func(o *Options) { o.OnChange = func(v uint64) { got2 = append(got2, v) } })
	s2.Recompute(context.Background())
	if len(got2) != 0 {
		t.Fatalf("second node reported the existing history as a change: %v", got2)
	}
	// Evidence leaves the window: the unlisting is a change too.
	clk.Add(73 * time.Hour)
	if v, _ := s.Recompute(context.Background()); v != 2 || len(got) != 2 || got[1] != 2 {
		t.Fatalf("unlisting: version %d, hook calls %v", v, got)
	}
	// The other node sees the log moved on its next recomputation.
	s2.Recompute(context.Background())
	if len(got2) != 1 || got2[0] != 2 {
		t.Fatalf("second node hook calls %v, want [2]", got2)
	}
}
