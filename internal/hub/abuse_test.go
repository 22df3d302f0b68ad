package hub

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// forged returns a request with a random key and a random signature:
// free for an attacker to make.
func forged(from string, path string, body []byte, at time.Time) *http.Request {
	var a wire.Auth
	rand.Read(a.Key[:])
	rand.Read(a.Nonce[:])
	rand.Read(a.Sig[:])
	a.Time = at.Unix()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(from), 40000).String()
	r.Header.Set("Content-Type", wire.ContentType)
	r.Header.Set(wire.AuthHeader, a.String())
	return r
}

// TestRefusedRequestsKeepNothing: every kind of request from a client
// that has not proven an enrolled key, and every request a rate limit
// refuses, leaves the replay cache and the enrollment tables as they
// were; enrollments accepted are bounded by the hub-wide budget whatever
// the number of networks they come from.
func TestRefusedRequestsKeepNothing(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) { o.SignalRate, o.SignalBurst = 10, 10 })
	h := s.Handler()
	member := newAgent(t, "192.0.2.10", clk)
	member.enroll(t, h)
	body := wire.AppendBatch(nil, []wire.Signal{sig("198.51.100.1", wire.Portscan, clk.Now())})
	base := s.Stats()
	if base.Nonces != 0 || base.EnrollNetworks != 1 {
		t.Fatalf("after one enrollment: %+v", base)
	}

	// Strangers: self-signed signals, forged enrollments, garbage and
	// duplicate headers, from many networks.
	for i := range 2000 {
		from := fmt.Sprintf("%d.%d.%d.7", 11+i%50, i/50%250, i%250)
		stranger := newAgent(t, from, clk)
		codes := map[string]int{}
		codes["signals"] = do(h, stranger.request("/v1/signals", wire.ContentType, body, nil, clk.Now())).Code
		pub := stranger.key.Public().(ed25519.PublicKey)
		codes["forged enroll"] = do(h, forged(from, "/v1/enroll", pub, clk.Now())).Code
		codes["forged signals"] = do(h, forged(from, "/v1/signals", body, clk.Now())).Code
		two := stranger.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now())
		two.Header.Add(wire.AuthHeader, two.Header.Get(wire.AuthHeader))
		codes["two headers"] = do(h, two).Code
		for what, c := range codes {
			if c < 400 {
				t.Fatalf("%s from %s: %d", what, from, c)
			}
		}
	}
	if st := s.Stats(); st.Nonces != 0 || st.EnrollNetworks != 1 || st.Enrolled != 1 {
		t.Fatalf("strangers left state: %+v", st)
	}

	// Self-signed enrollments of fresh keys from 2,000 networks: the hub's
	// budget (burst 100, the member took one) admits 99, and the rest
	// leave nothing.
	ok := 0
	for i := range 2000 {
		from := fmt.Sprintf("%d.%d.%d.8", 11+i%50, i/50%250, i%250)
		a := newAgent(t, from, clk)
		pub := a.key.Public().(ed25519.PublicKey)
		w := do(h, a.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now()))
		switch w.Code {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("enroll %d: %d", i, w.Code)
		}
	}
	if st := s.Stats(); ok != DefaultEnrollAllBurst-1 || st.Nonces != 0 || st.EnrollNetworks != uint64(1+ok) {
		t.Fatalf("%d enrolled; stats %+v", ok, st)
	}

	// A member beyond its rate: refused requests store no nonce.
	accepted, limited := 0, 0
	for range 100 {
		w := do(h, member.request("/v1/signals", wire.ContentType, body, nil, clk.Now()))
		switch w.Code {
		case 200:
			accepted++
		case 429:
			limited++
		default:
			t.Fatalf("member: %d %s", w.Code, w.Body)
		}
	}
	if accepted != 10 || limited != 90 || s.Stats().Nonces != 10 {
		t.Fatalf("member: %d accepted, %d limited; stats %+v", accepted, limited, s.Stats())
	}
}

// TestNonceQuota: a member that sends as fast as its rate limit allows
// fills its own quota and gets 429; another member is not affected, and
// when the whole cache is full a member below the floor is still served.
func TestNonceQuota(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) {
		o.SignalRate, o.SignalBurst, o.RequestRate, o.RequestBurst = 1e9, 1e9, 1e9, 1e9
		o.MaxNonces, o.NonceQuota, o.NonceFloor = 200, 60, 5
	})
	h := s.Handler()
	var greedy []*agent
	for i := range 3 {
		a := newAgent(t, fmt.Sprintf("192.0.2.%d", 20+i), clk)
		a.enroll(t, h)
		greedy = append(greedy, a)
	}
	honest := newAgent(t, "198.51.100.10", clk)
	honest.enroll(t, h)
	send := func(a *agent) int {
		return a.send(h, sig("81.2.69.1", wire.Portscan, clk.Now())).Code
	}
	count := func(a *agent, n int) map[int]int {
		m := map[int]int{}
		for range n {
			m[send(a)]++
		}
		return m
	}
	if m := count(greedy[0], 100); m[200] != 60 || m[429] != 40 {
		t.Fatalf("greedy member over its quota: %v", m)
	}
	if m := count(greedy[1], 60); m[200] != 40 || m[503] != 20 {
		// 60+40 = 100 = a full generation.
		t.Fatalf("second greedy member with the cache full: %v", m)
	}
	if m := count(honest, 5); m[200] != 5 {
		t.Fatalf("honest member below the floor with the cache full: %v", m)
	}
	if m := count(greedy[2], 8); m[200] != 5 || m[503] != 3 {
		t.Fatalf("third greedy member with the cache full: %v, want 5 (its floor) then 503", m)
	}
	// The generation rotates after 2×ClockSkew: everyone is served again.
	clk.Add(2*DefaultClockSkew + time.Second)
	for _, a := range append(greedy, honest) {
		if c := send(a); c != 200 {
			t.Fatalf("after rotation: %d", c)
		}
	}
	if st := s.Stats(); st.NoncesFull != 23 {
		t.Fatalf("stats %+v", st)
	}
}

// TestKnownKeyEnrollsWithoutBudget: with the enrollment budgets spent by
// a flood, a member restarting (its agent enrolls again, on a node that
// just started or another node) is answered 200 with its first
// enrollment, and a new key gets 429.
func TestKnownKeyEnrollsWithoutBudget(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, func(o *Options) { o.EnrollAllBurst = 3 })
	member := newAgent(t, "192.0.2.10", clk)
	member.enroll(t, s.Handler())
	enrolledAt := clk.Now()
	clk.Add(time.Hour)
	// A second node over the same database that has not seen the key in
	// memory (as one started before the member enrolled elsewhere).
	late := newServer(t, st, clk, func(o *Options) { o.EnrollAllBurst = 3 })
	late.keys.Range(func(k, _ any) bool { late.keys.Delete(k); return true })
	h := late.Handler()
	for i := range 3 {
		newAgent(t, fmt.Sprintf("%d.0.0.1", 11+i), clk).enroll(t, h)
	}
	stranger := newAgent(t, "81.2.69.1", clk)
	pub := stranger.key.Public().(ed25519.PublicKey)
	if w := do(h, stranger.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now())); w.Code != 429 {
		t.Fatalf("new key past the budget: %d", w.Code)
	}
	pub = member.key.Public().(ed25519.PublicKey)
	w := do(h, member.request("/v1/enroll", "application/octet-stream", pub, nil, clk.Now()))
	if w.Code != 200 || !strings.Contains(w.Body.String(), enrolledAt.Format(time.RFC3339)) {
		t.Fatalf("member enrolling again past the budget: %d %s", w.Code, w.Body)
	}
	if w := member.send(h, sig("81.2.69.9", wire.Portscan, clk.Now())); w.Code != 200 {
		t.Fatalf("member's signals: %d", w.Code)
	}
}

// TestRequestRate: a member sending one-signal batches as fast as it can
// gets RequestBurst of them committed, then RequestRate a second, however
// many signal tokens it holds.
func TestRequestRate(t *testing.T) {
	clk := &fakeClock{t: t0}
	st, _ := openSQLite(t)
	s := newServer(t, st, clk, nil)
	h := s.Handler()
	a := newAgent(t, "192.0.2.10", clk)
	a.enroll(t, h)
	count := func(n int) map[int]int {
		m := map[int]int{}
		for range n {
			m[a.send(h, sig("81.2.69.1", wire.Portscan, clk.Now())).Code]++
		}
		return m
	}
	if m := count(100); m[200] != DefaultRequestBurst || m[429] != 100-DefaultRequestBurst {
		t.Fatalf("burst: %v", m)
	}
	clk.Add(2 * time.Second)
	if m := count(20); m[200] != 2*DefaultRequestRate || m[429] != 20-2*DefaultRequestRate {
		t.Fatalf("two seconds later: %v", m)
	}
	if n := s.Stats().Nonces; n != DefaultRequestBurst+2*DefaultRequestRate {
		t.Fatalf("%d nonces held, want one per accepted request", n)
	}
	// Requests in the member's name with a wrong signature: refused
	// without a signature check while its budget is empty, and they never
	// spend its budget.
	forge := func() int {
		r := a.request("/v1/signals", wire.ContentType, wire.AppendBatch(nil, []wire.Signal{sig("81.2.69.1", wire.Portscan, clk.Now())}), nil, clk.Now())
		auth, _ := wire.ParseAuth(r.Header.Get(wire.AuthHeader))
		auth.Sig[5] ^= 1
		r.Header.Set(wire.AuthHeader, auth.String())
		return do(h, r).Code
	}
	bad := s.Stats().BadSignatures
	if c := forge(); c != 429 || s.Stats().BadSignatures != bad {
		t.Fatalf("forged request with the budget empty: %d, signature checked: %v", c, s.Stats().BadSignatures != bad)
	}
	clk.Add(time.Second)
	for range 50 {
		if c := forge(); c != 401 {
			t.Fatalf("forged request: %d", c)
		}
	}
	if m := count(10); m[200] != DefaultRequestRate {
		t.Fatalf("after 50 forged requests in its name, the member's second: %v, want %d accepted", m, DefaultRequestRate)
	}
}
