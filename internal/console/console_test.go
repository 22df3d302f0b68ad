package console

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

const testPassword = "correct horse battery"

type harness struct {
	t   testing.TB
	srv *httptest.Server
	c   *http.Client
	st  *store.Store
	clk *clock.Fake
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	st, err := store.Open(context.Background(), store.Options{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db"), Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pwFile := filepath.Join(dir, "console.password")
	if err := SetPassword(pwFile, testPassword); err != nil {
		t.Fatal(err)
	}
	h, err := LoadPassword(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Password: h, NeverBan: ipx.NewNeverBan(nil, nil), Time: clk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &harness{t: t, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, st: st, clk: clk}
}

var tokenRE = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// page fetches a page and returns its status and anti-forgery token.
func (h *harness) page(path string) (int, string) {
	resp, err := h.c.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		h.t.Errorf("%s: Content-Security-Policy %q", path, csp)
	}
	m := tokenRE.FindSubmatch(b)
	if m == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, string(m[1])
}

func (h *harness) post(path, tok, body string) int {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set(csrfHeader, tok)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) getJSON(path string, v any) int {
	resp, err := h.c.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			h.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (h *harness) login() string {
	h.t.Helper()
	_, tok := h.page("/login")
	if code := h.post("/login", tok, `{"password":"`+testPassword+`"}`); code != http.StatusNoContent {
		h.t.Fatalf("login: %d", code)
	}
	code, csrf := h.page("/")
	if code != 200 || csrf == "" {
		h.t.Fatalf("console page after login: %d, token %q", code, csrf)
	}
	return csrf
}

func TestLoginAndCSRF(t *testing.T) {
	h := newHarness(t)
	if code, _ := h.page("/"); code != http.StatusSeeOther {
		t.Errorf("console page without a session: %d, want a redirect to /login", code)
	}
	if code := h.getJSON("/api/decisions", nil); code != http.StatusUnauthorized {
		t.Errorf("API without a session: %d", code)
	}
	_, tok := h.page("/login")
	if code := h.post("/login", "", `{"password":"`+testPassword+`"}`); code != http.StatusForbidden {
		t.Errorf("login without the anti-forgery token: %d", code)
	}
	if code := h.post("/login", tok, `{"password":"wrong password"}`); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", code)
	}
	csrf := h.login()
	if code := h.getJSON("/api/decisions", nil); code != 200 {
		t.Errorf("API with a session: %d", code)
	}
	// State-changing requests need the session's token.
	if code := h.post("/api/decisions/ban", "", `{"scope":"192.0.2.1"}`); code != http.StatusForbidden {
		t.Errorf("ban without token: %d", code)
	}
	if code := h.post("/api/decisions/ban", tok, `{"scope":"192.0.2.1"}`); code != http.StatusForbidden {
		t.Errorf("ban with the login page's token: %d", code)
	}
	if code := h.post("/api/decisions/ban", csrf, `{"scope":"192.0.2.1","duration":"1h"}`); code != 200 {
		t.Errorf("ban: %d", code)
	}
	if code := h.post("/api/decisions/ban", csrf, `{"scope":"127.0.0.1"}`); code != http.StatusUnprocessableEntity {
		t.Errorf("ban of loopback: %d, want refused", code)
	}
	var d struct {
		Live      int `json:"live"`
		Decisions []struct {
			Scope, Origin string
		} `json:"decisions"`
	}
	h.getJSON("/api/decisions?q=192.0.2.1", &d)
	if d.Live != 1 || len(d.Decisions) != 1 || d.Decisions[0].Scope != "192.0.2.1/32" || d.Decisions[0].Origin != event.OriginConsole {
		t.Fatalf("decisions after the ban: %+v", d)
	}
	if code := h.post("/api/decisions/unban", csrf, `{"scope":"192.0.2.1"}`); code != 200 {
		t.Errorf("unban: %d", code)
	}
	live, _ := h.st.LiveDecisions(context.Background(), h.clk.Now())
	if len(live) != 0 {
		t.Errorf("live after unban: %v", live)
	}
	// A session ends when idle too long.
	h.clk.Advance(SessionIdle + time.Second)
	if code := h.getJSON("/api/decisions", nil); code != http.StatusUnauthorized {
		t.Errorf("API after the session's idle time: %d", code)
	}
}

func TestLoginRateLimited(t *testing.T) {
	h := newHarness(t)
	_, tok := h.page("/login")
	var codes []int
	for range LoginBurst + 1 {
		codes = append(codes, h.post("/login", tok, `{"password":"guess guess guess"}`))
	}
	if codes[LoginBurst-1] != http.StatusUnauthorized || codes[LoginBurst] != http.StatusTooManyRequests {
		t.Fatalf("codes of %d attempts: %v", LoginBurst+1, codes)
	}
	// Even the right password is refused until the limit lifts.
	if code := h.post("/login", tok, `{"password":"`+testPassword+`"}`); code != http.StatusTooManyRequests {
		t.Errorf("right password while limited: %d", code)
	}
	h.clk.Advance(LoginEvery)
	if code := h.post("/login", tok, `{"password":"`+testPassword+`"}`); code != http.StatusNoContent {
		t.Errorf("right password after %s: %d", LoginEvery, code)
	}
}

func TestGlobalLoginLimit(t *testing.T) {
	var l limiter
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := 0
	for i := range 200 {
		if l.allow(netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(i%250 + 1)}), now) {
			ok++
		}
	}
	if ok != GlobalBurst {
		t.Errorf("%d attempts allowed from 200 sources at once, want the global burst %d", ok, GlobalBurst)
	}
}

func TestAlertShownWithItsLines(t *testing.T) {
	h := newHarness(t)
	h.login()
	src := netip.MustParseAddr("203.0.113.9")
	hostile := `203.0.113.9 - - "GET /.env HTTP/1.1" 404 0 "-" "<img src=x onerror=alert(1)>"`
	id, err := h.st.AddAlert(context.Background(), store.AlertRecord{Alert: event.Alert{Scenario: "http-probing", Source: src,
		Scope: netip.PrefixFrom(src, 32), First: h.clk.Now(), Last: h.clk.Now(), Events: 5, Remedy: true,
		Geo: event.Geo{Country: "NL", ASN: 64500, ASOrg: "Example Net"}}, Lines: []string{hostile}})
	if err != nil {
		t.Fatal(err)
	}
	var a alertView
	if code := h.getJSON("/api/alerts/"+itoa(id), &a); code != 200 {
		t.Fatal(code)
	}
	if a.Service != "http" || len(a.Lines) != 1 || a.Lines[0] != hostile || a.Country != "NL" || a.ASN != 64500 || a.ASOrg != "Example Net" {
		t.Errorf("alert: %+v", a)
	}
	var o struct {
		Alerts    int     `json:"alerts"`
		Sources   []count `json:"sources"`
		Countries []count `json:"countries"`
		ASNs      []count `json:"asns"`
	}
	h.getJSON("/api/overview?period=1h", &o)
	if o.Alerts != 1 || len(o.Sources) != 1 || o.Sources[0].Key != "203.0.113.9" ||
		len(o.Countries) != 1 || o.Countries[0].Key != "NL" || len(o.ASNs) != 1 || !strings.HasPrefix(o.ASNs[0].Key, "AS64500") {
		t.Errorf("overview: %+v", o)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestHashRoundTrip(t *testing.T) {
	h, err := NewHash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseHash(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify(testPassword) || p.Verify(testPassword+"x") || p.Verify("") {
		t.Error("verify")
	}
	if _, err := NewHash("short"); err == nil {
		t.Error("a short password was accepted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=4294967295,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "$2a$10$abc", "plain"} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
}

// FuzzParseHash: the password file is read at start; a damaged or hostile
// one is an error, never a crash or an unbounded key derivation.
func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.memory > 1<<20 || h.time > 16 || h.threads > 16 {
			t.Fatalf("out-of-bounds parameters accepted: %+v", h)
		}
	})
}

// FuzzParseScope: the scope of a ban or unban comes from a request body.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::/64", "::ffff:1.2.3.4", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseScope(s)
		if err == nil && (!p.IsValid() || p != p.Masked()) {
			t.Fatalf("parseScope(%q) = %v", s, p)
		}
	})
}

// The embedded assets stay small (the issue asks for a few hundred KB),
// and every third-party file has its licence beside it.
func TestAssetsSmallWithLicences(t *testing.T) {
	var total int64
	dirs := map[string]bool{}
	licensed := map[string]bool{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		if dir := path.Dir(p); strings.HasPrefix(dir, "assets/vendor/") {
			dirs[dir] = true
			if path.Base(p) == "LICENSE" {
				licensed[dir] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded assets: %d bytes", total)
	if total > 400<<10 {
		t.Errorf("embedded assets are %d bytes, over 400 KiB", total)
	}
	if len(dirs) < 2 {
		t.Errorf("vendor directories: %v", dirs)
	}
	for d := range dirs {
		if !licensed[d] {
			t.Errorf("%s has no LICENSE", d)
		}
	}
}
