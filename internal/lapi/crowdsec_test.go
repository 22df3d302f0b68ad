package lapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

func TestHashKeyAndNewKey(t *testing.T) {
	k1, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewKey()
	if len(k1) != 43 || k1 == k2 || strings.ContainsAny(k1, "+/=") {
		t.Errorf("NewKey gave %q and %q; want two different 43-character URL-safe keys", k1, k2)
	}
	if h := HashKey("abc"); len(h) != 32 || h[0] != 0xba || h[31] != 0xad {
		t.Errorf("HashKey(abc) = %x, want SHA-256 ba7816bf...15ad", h)
	}
}

func TestDecisionsQuery(t *testing.T) {
	f := newFixture(t, Options{})
	ssh := f.ban("192.0.2.7", 4*time.Hour, "herd/ssh-bruteforce", "herd")
	rng := f.ban("198.51.100.0/24", time.Hour, "herd/http-probing", "community")
	v6 := f.ban("2001:db8::/64", time.Hour, "herd/ssh-bruteforce", "herd")
	captcha := f.add(store.DecisionRecord{Decision: event.Decision{
		Type: event.Captcha, Scope: mustPrefix("192.0.2.8"), Duration: time.Hour, Scenario: "herd/HTTP-crawl", Origin: "cli",
	}})
	f.add(store.DecisionRecord{Decision: event.Decision{ // simulated: never served
		Type: event.Ban, Scope: mustPrefix("192.0.2.9"), Duration: time.Hour, Scenario: "herd/ssh-bruteforce", Origin: "herd", Simulated: true,
	}})
	short := f.ban("203.0.113.5", time.Minute, "herd/ssh-bruteforce", "herd")
	base := f.serve()
	f.clock.Add(2 * time.Minute) // short has expired, unmarked
	c := &http.Client{}

	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{ssh, rng, v6, captcha}},
		{"ip=192.0.2.7", []int64{ssh}},
		{"ip=198.51.100.77", []int64{rng}},
		{"ip=::ffff:198.51.100.77", []int64{rng}},
		{"ip=2001:db8::1234", []int64{v6}},
		{"ip=192.0.2.9", nil},
		{"ip=203.0.113.5", nil}, // expired
		{"ip=10.0.0.1", nil},
		{"range=198.51.100.0/25", []int64{rng}},
		{"range=198.51.100.0/23", nil},
		{"range=198.51.100.0/23&contains=false", []int64{rng}},
		{"range=192.0.2.0/24&contains=false", []int64{ssh, captcha}},
		{"scope=ip", []int64{ssh, captcha}},
		{"scope=Range", []int64{rng, v6}},
		{"scope=country", nil},
		{"scope=ip&value=192.0.2.7", []int64{ssh}},
		{"value=198.51.100.0/24", []int64{rng}},
		{"value=nonsense", nil},
		{"type=captcha", []int64{captcha}},
		{"type=ban", []int64{ssh, rng, v6}},
		{"origins=herd,cli", []int64{ssh, v6, captcha}},
		{"origins=crowdsec", nil},
		{"scenarios_containing=SSH", []int64{ssh, v6}},
		{"scenarios_containing=probing,crawl", []int64{rng, captcha}},
		{"scenarios_not_containing=ssh", []int64{rng, captcha}},
		{"unknown=1", []int64{ssh, rng, v6, captcha}},
	}
	for _, tc := range tests {
		code, body := get(t, c, base+"/v1/decisions?"+tc.query, testKey)
		if code != http.StatusOK {
			t.Errorf("%q: status %d %s", tc.query, code, body)
			continue
		}
		if tc.want == nil {
			if string(body) != "null" {
				t.Errorf("%q: body %s, want null", tc.query, body)
			}
			continue
		}
		got := ids(decode[[]wireDecision](t, body))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: ids %v, want %v", tc.query, got, tc.want)
		}
	}
	_ = short

	for _, q := range []string{"ip=nonsense", "range=1.2.3.4/99", "contains=maybe", "ip=%zz"} {
		if code, body := get(t, c, base+"/v1/decisions?"+q, testKey); code != http.StatusBadRequest || !strings.Contains(string(body), `"message"`) {
			t.Errorf("%q: status %d %s, want 400 with a message", q, code, body)
		}
	}
}

func TestDecisionFields(t *testing.T) {
	f := newFixture(t, Options{})
	id := f.ban("192.0.2.7", 4*time.Hour, "herd/ssh-bruteforce", "herd")
	f.ban("2001:db8::/64", time.Hour, "herd/ssh-bruteforce", "herd")
	base := f.serve()
	f.clock.Add(1600 * time.Millisecond)
	_, body := get(t, &http.Client{}, base+"/v1/decisions?ip=192.0.2.7", testKey)
	want := `[{"id":` + itoa(id) + `,"origin":"herd","type":"ban","scope":"Ip","value":"192.0.2.7",` +
		`"duration":"3h59m58s","scenario":"herd/ssh-bruteforce","until":"2026-11-23T12:00:00Z","simulated":false}]`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	_, body = get(t, &http.Client{}, base+"/v1/decisions?ip=2001:db8::1", testKey)
	if d := decode[[]wireDecision](t, body); len(d) != 1 || d[0].Scope != "Range" || d[0].Value != "2001:db8::/64" {
		t.Errorf("IPv6 /64 ban: %s, want scope Range, value 2001:db8::/64", body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{AuthBurst: 4, AuthEvery: time.Minute})
	base := f.serve()
	c := &http.Client{}
	for _, path := range []string{"/v1/decisions", "/v1/decisions/stream", "/v1/herd/stream", "/v1/forward-auth"} {
		code, body := get(t, c, base+path, "")
		if code != http.StatusForbidden || string(body) != `{"message":"access forbidden"}` {
			t.Errorf("%s without key: %d %s, want 403 access forbidden", path, code, body)
		}
	}
	// Four failures so far from 127.0.0.1, a burst of 4: the next
	// wrong key, and a right key not yet verified, are refused with 429.
	if code, _ := get(t, c, base+"/v1/decisions", "wrong"); code != http.StatusTooManyRequests {
		t.Errorf("wrong key after the burst: %d, want 429", code)
	}
	if code, _ := get(t, c, base+"/v1/decisions", testKey); code != http.StatusTooManyRequests {
		t.Errorf("right key while limited: %d, want 429", code)
	}
	// A minute later one token is back.
	f.clock.Add(time.Minute)
	if code, _ := get(t, c, base+"/v1/decisions", testKey); code != http.StatusOK {
		t.Errorf("right key after refill: %d, want 200", code)
	}
	// A verified key is cached and passes even while the address is limited.
	get(t, c, base+"/v1/decisions", "wrong")
	if code, _ := get(t, c, base+"/v1/decisions", testKey); code != http.StatusOK {
		t.Errorf("cached key while limited: %d, want 200", code)
	}
	// A bouncer added after the start is found in the store.
	if err := f.st.AddBouncer(f.ctx, "nginx", HashKey("second-key")); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	if code, _ := get(t, c, base+"/v1/decisions", "second-key"); code != http.StatusOK {
		t.Errorf("new bouncer: %d, want 200", code)
	}
	// A deleted bouncer's cached key stops working at the next reload.
	if err := f.st.DeleteBouncer(f.ctx, "nginx"); err != nil {
		t.Fatal(err)
	}
	bs, err := f.st.Bouncers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.keys.reload(bs)
	if code, _ := get(t, c, base+"/v1/decisions", "second-key"); code != http.StatusForbidden {
		t.Errorf("deleted bouncer: %d, want 403", code)
	}
}

func TestLimiterIsBounded(t *testing.T) {
	l := newLimiter(2, int64(time.Second), 100)
	for i := range 10000 {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), int64(i))
	}
	if n := len(l.buckets); n > 100 {
		t.Errorf("limiter holds %d clients, want at most 100", n)
	}
}

// stream polls the CrowdSec stream as bouncer key.
func stream(t *testing.T, base, query string) wireStream {
	t.Helper()
	code, body := get(t, &http.Client{}, base+"/v1/decisions/stream?"+query, testKey)
	if code != http.StatusOK {
		t.Fatalf("stream %q: %d %s", query, code, body)
	}
	return decode[wireStream](t, body)
}

func TestStreamStartupDeltaDeleted(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd")
	r := f.ban("198.51.100.0/24", 2*time.Hour, "herd/http-probing", "community")
	base := f.serve()

	s := stream(t, base, "startup=true")
	if got := ids(s.New); !slices.Equal(got, []int64{a, r}) || len(s.Deleted) != 0 {
		t.Fatalf("startup: new %v deleted %v, want new [%d %d] and none deleted", got, ids(s.Deleted), a, r)
	}
	if s.New == nil || s.Deleted == nil {
		t.Errorf("startup: lists must be arrays, not null")
	}
	// Nothing changed: both lists empty.
	if s := stream(t, base, "startup=false"); len(s.New)+len(s.Deleted) != 0 {
		t.Errorf("idle poll: %+v, want nothing", s)
	}
	// One added, one deleted.
	b := f.ban("192.0.2.2", time.Hour, "herd/ssh-bruteforce", "herd")
	if _, err := f.st.DeleteDecisions(f.ctx, store.DecisionFilter{IDs: []int64{a}}); err != nil {
		t.Fatal(err)
	}
	s = stream(t, base, "startup=false")
	if !slices.Equal(ids(s.New), []int64{b}) || !slices.Equal(ids(s.Deleted), []int64{a}) {
		t.Errorf("delta: new %v deleted %v, want [%d] and [%d]", ids(s.New), ids(s.Deleted), b, a)
	}
	// Added and deleted between two polls: in neither list.
	c := f.ban("192.0.2.3", time.Hour, "herd/ssh-bruteforce", "herd")
	if _, err := f.st.DeleteDecisions(f.ctx, store.DecisionFilter{IDs: []int64{c}}); err != nil {
		t.Fatal(err)
	}
	if s := stream(t, base, ""); len(s.New)+len(s.Deleted) != 0 {
		t.Errorf("added then deleted: %+v, want nothing", s)
	}
	// b expires at t0+1h: reported as deleted once, before the store marks
	// it, and not again when it does.
	f.clock.Add(time.Hour)
	s = stream(t, base, "")
	if len(s.New) != 0 || !slices.Equal(ids(s.Deleted), []int64{b}) {
		t.Errorf("expiry: new %v deleted %v, want [] and [%d]", ids(s.New), ids(s.Deleted), b)
	}
	if !strings.HasPrefix(s.Deleted[0].Duration, "0s") && !strings.HasPrefix(s.Deleted[0].Duration, "-") {
		t.Errorf("expired decision's duration %q, want 0s or negative", s.Deleted[0].Duration)
	}
	if _, err := f.st.ExpireDecisions(f.ctx, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if s := stream(t, base, ""); len(s.New)+len(s.Deleted) != 0 {
		t.Errorf("after the store marks the expiry: %+v, want nothing", s)
	}
	// HEAD answers without moving the cursor.
	d := f.ban("192.0.2.4", time.Hour, "herd/ssh-bruteforce", "herd")
	req, _ := http.NewRequest(http.MethodHead, base+"/v1/decisions/stream", nil)
	req.Header.Set("X-Api-Key", testKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if s := stream(t, base, ""); !slices.Equal(ids(s.New), []int64{d}) {
		t.Errorf("after HEAD: new %v, want [%d]", ids(s.New), d)
	}
}

func TestStreamFilters(t *testing.T) {
	f := newFixture(t, Options{})
	ip := f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd")
	rng := f.ban("198.51.100.0/24", time.Hour, "herd/http-probing", "community")
	base := f.serve()
	tests := []struct {
		query string
		want  []int64
	}{
		{"startup=true", []int64{ip, rng}}, // default scopes ip,range
		{"startup=true&scopes=ip", []int64{ip}},
		{"startup=true&scopes=Range", []int64{rng}},
		{"startup=true&scopes=ip,range&origins=community", []int64{rng}},
		{"startup=true&scenarios_containing=ssh", []int64{ip}},
		{"startup=true&scenarios_not_containing=ssh", []int64{rng}},
	}
	for _, tc := range tests {
		if got := ids(stream(t, base, tc.query).New); !slices.Equal(got, tc.want) {
			t.Errorf("%q: new %v, want %v", tc.query, got, tc.want)
		}
	}
	// A delta is filtered too.
	stream(t, base, "startup=true&scopes=ip")
	f.ban("198.51.101.0/24", time.Hour, "herd/http-probing", "community")
	ip2 := f.ban("192.0.2.2", time.Hour, "herd/ssh-bruteforce", "herd")
	if got := ids(stream(t, base, "scopes=ip").New); !slices.Equal(got, []int64{ip2}) {
		t.Errorf("filtered delta: new %v, want [%d]", got, ip2)
	}
	if code, _ := get(t, &http.Client{}, base+"/v1/decisions/stream?startup=maybe", testKey); code != http.StatusBadRequest {
		t.Errorf("startup=maybe: %d, want 400", code)
	}
}

func TestStreamPerBouncerCursor(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.st.AddBouncer(f.ctx, "other", HashKey("other-key")); err != nil {
		t.Fatal(err)
	}
	base := f.serve()
	stream(t, base, "startup=true")
	a := f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd")
	if got := ids(stream(t, base, "").New); !slices.Equal(got, []int64{a}) {
		t.Errorf("fw: new %v, want [%d]", got, a)
	}
	// "other" never polled: its first poll, even without startup, gets
	// everything.
	_, body := get(t, &http.Client{}, base+"/v1/decisions/stream", "other-key")
	if got := ids(decode[wireStream](t, body).New); !slices.Equal(got, []int64{a}) {
		t.Errorf("other: new %v, want [%d]", got, a)
	}
}

func TestNotLoaded(t *testing.T) {
	f := newFixture(t, Options{})
	h := f.srv.Handler()
	for _, path := range []string{"/v1/decisions", "/v1/forward-auth"} {
		rec := newRecorder()
		req := newRequest(path, "127.0.0.1:1234")
		req.Header.Set("X-Api-Key", testKey)
		h.ServeHTTP(rec, req)
		if rec.code != http.StatusServiceUnavailable {
			t.Errorf("%s before Sync: %d, want 503", path, rec.code)
		}
	}
}

func newRequest(path, remote string) *http.Request {
	u, _ := url.Parse("http://herd" + path)
	return &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, RemoteAddr: remote, Host: "herd"}
}

// recorder is a minimal ResponseWriter that allocates nothing per request.
type recorder struct {
	h    http.Header
	code int
	n    int
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.n += len(b)
	return len(b), nil
}

func (r *recorder) reset() {
	r.code, r.n = 0, 0
}
