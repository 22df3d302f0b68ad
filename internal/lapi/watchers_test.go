package lapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

const (
	testMachine  = "web1"
	testPassword = "machine-password-0123456789abcdefghijklmnopqrs"
)

// newWatcherFixture is a server with the watcher endpoints on, the
// machine web1 registered and 203.0.113.0/24 allowlisted.
func newWatcherFixture(t testing.TB, o Options) (*fixture, string) {
	t.Helper()
	return newWatcherFixtureWith(t, o, nil)
}

// newWatcherFixtureWith is newWatcherFixture with mod applied to the
// server before it serves (its unexported timeouts, say): changed after,
// they would race with Serve reading them.
func newWatcherFixtureWith(t testing.TB, o Options, mod func(*Server)) (*fixture, string) {
	t.Helper()
	o.NeverBan = ipx.NewNeverBan(nil, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
	f := newFixture(t, o)
	// The fixture's store exists only once newFixture ran: build the
	// server again with it as Watchers.
	o.Store, o.Watchers, o.Logger = f.st, f.st, f.srv.log
	if o.Time == nil {
		o.Time = clock.Func(f.clock.Now)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	if mod != nil {
		mod(srv)
	}
	if err := f.st.AddMachine(f.ctx, testMachine, HashKey(testPassword)); err != nil {
		t.Fatal(err)
	}
	return f, f.serve()
}

func post(t testing.TB, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

func login(t testing.TB, base, machine, password string) (int, loginAnswer) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"machine_id": machine, "password": password, "scenarios": []string{"herd/ssh-bruteforce"}})
	code, b := post(t, base+"/v1/watchers/login", "", body)
	var a loginAnswer
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("login answer %s: %v", b, err)
		}
	}
	return code, a
}

func alertBody(uuid, scope, value, duration string) []byte {
	return fmt.Appendf(nil, `[{"uuid":%q,"scenario":"herd/ssh-bruteforce","message":"ignored","capacity":5,
"source":{"scope":%q,"value":%q},"events_count":6,"start_at":"2026-11-23T07:59:00Z","stop_at":"2026-11-23T08:00:00Z",
"events":[{"timestamp":"2026-11-23T08:00:00Z","meta":[{"key":"line","value":"Failed password for root"}]}],
"decisions":[{"type":"ban","scope":%q,"value":%q,"duration":%q,"origin":"crowdsec","scenario":"herd/ssh-bruteforce"}]}]`,
		uuid, scope, value, scope, value, duration)
}

func TestWatcherLoginAndReport(t *testing.T) {
	f, base := newWatcherFixture(t, Options{})
	code, a := login(t, base, testMachine, testPassword)
	if code != http.StatusOK || a.Code != 200 || a.Token == "" || a.Expire != t0.Add(DefaultTokenTTL).Format(time.RFC3339) {
		t.Fatalf("login = %d %+v", code, a)
	}
	code, b := post(t, base+"/v1/alerts", a.Token, alertBody("inst:1", "Ip", "192.0.2.7", "4h"))
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/alerts = %d %s", code, b)
	}
	ids := decode[[]string](t, b)
	if len(ids) != 1 {
		t.Fatalf("ids %v", ids)
	}
	// The ban is served to bouncers at once (the handler notifies).
	var got []wireDecision
	for range 100 {
		_, body := get(t, http.DefaultClient, base+"/v1/decisions?ip=192.0.2.7", testKey)
		if got = decode[[]wireDecision](t, body); len(got) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 || got[0].Origin != "herd" || got[0].Value != "192.0.2.7" || got[0].Duration != "4h0m0s" {
		t.Fatalf("decisions for 192.0.2.7 = %+v", got)
	}
	var id int64
	fmt.Sscan(ids[0], &id)
	al, err := f.st.Alert(f.ctx, id)
	if err != nil || al.Machine != testMachine || al.RemoteID != "inst:1" || al.Events != 6 || len(al.Lines) != 1 ||
		!al.First.Equal(t0.Add(-time.Minute)) || !al.Remedy {
		t.Errorf("stored alert = %+v, %v", al, err)
	}
	// Sent again (the answer was lost): the same id, no second decision.
	code, b = post(t, base+"/v1/alerts", a.Token, alertBody("inst:1", "Ip", "192.0.2.7", "4h"))
	if code != http.StatusCreated || decode[[]string](t, b)[0] != ids[0] {
		t.Errorf("resent alert = %d %s, want id %s", code, b, ids[0])
	}
	live, _ := f.st.LiveDecisions(f.ctx, t0)
	if len(live) != 1 {
		t.Errorf("%d live decisions after a resend, want 1", len(live))
	}
}

func TestWatcherNeverBanAndBounds(t *testing.T) {
	f, base := newWatcherFixture(t, Options{})
	_, a := login(t, base, testMachine, testPassword)
	cases := []struct {
		name        string
		body        []byte
		code        int
		wantBan     string // scope expected live afterwards, "" for none
		wantTimeout time.Duration
	}{
		{"loopback", alertBody("n:1", "Ip", "127.0.0.1", "4h"), http.StatusCreated, "", 0},
		{"allowlisted", alertBody("n:2", "Ip", "203.0.113.9", "4h"), http.StatusCreated, "", 0},
		{"range over the allowlist", alertBody("n:3", "Range", "203.0.0.0/16", "4h"), http.StatusCreated, "", 0},
		{"clamped", alertBody("n:4", "Ip", "192.0.2.50", "9000h"), http.StatusCreated, "192.0.2.50/32", DefaultMaxBanDuration},
		{"ipv4-mapped", alertBody("n:5", "Ip", "::ffff:192.0.2.51", "1h"), http.StatusCreated, "192.0.2.51/32", time.Hour},
		{"captcha", bytes.Replace(alertBody("n:6", "Ip", "192.0.2.52", "1h"), []byte(`"type":"ban"`), []byte(`"type":"captcha"`), 1), http.StatusBadRequest, "", 0},
		{"too wide", alertBody("n:7", "Range", "10.0.0.0/8", "1h"), http.StatusBadRequest, "", 0},
		{"bad address", alertBody("n:8", "Ip", "192.0.2.999", "1h"), http.StatusBadRequest, "", 0},
		{"zone", alertBody("n:9", "Ip", "fe80::1%eth0", "1h"), http.StatusBadRequest, "", 0},
		{"negative", alertBody("n:10", "Ip", "192.0.2.53", "-1h"), http.StatusBadRequest, "", 0},
		{"not an array", []byte(`{"scenario":"x"}`), http.StatusBadRequest, "", 0},
		{"too big", append(alertBody("n:11", "Ip", "192.0.2.54", "1h"), bytes.Repeat([]byte(" "), MaxAlertsBody)...), http.StatusRequestEntityTooLarge, "", 0},
	}
	for _, c := range cases {
		code, b := post(t, base+"/v1/alerts", a.Token, c.body)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, c.code)
			continue
		}
		if c.wantBan == "" {
			continue
		}
		live, err := f.st.LiveDecisions(f.ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range live {
			if d.Scope.String() == c.wantBan {
				found = d.Duration == c.wantTimeout && d.Origin == RemoteDecisionOrigin
			}
		}
		if !found {
			t.Errorf("%s: no %s ban for %v among %+v", c.name, c.wantBan, c.wantTimeout, live)
		}
	}
	live, _ := f.st.LiveDecisions(f.ctx, t0)
	for _, d := range live {
		if s := d.Scope.String(); s != "192.0.2.50/32" && s != "192.0.2.51/32" {
			t.Errorf("unexpected live decision %v", d.Scope)
		}
	}
	// The never-banned alerts are stored all the same, without remedy.
	as, err := f.st.Alerts(f.ctx, storeAlertFilter(netip.MustParseAddr("127.0.0.1")))
	if err != nil || len(as) != 1 || as[0].Remedy || as[0].Machine != testMachine {
		t.Errorf("alert for 127.0.0.1 = %+v, %v", as, err)
	}
}

func TestWatcherAuthentication(t *testing.T) {
	f, base := newWatcherFixture(t, Options{AuthBurst: 3, AuthEvery: time.Hour})
	body := alertBody("a:1", "Ip", "192.0.2.7", "1h")
	if code, _ := post(t, base+"/v1/alerts", "", body); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	_, a := login(t, base, testMachine, testPassword)
	key, err := f.srv.signer.get(f.ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := SignToken([]byte("not the key"), Claims{Machine: testMachine, Expires: t0.Add(time.Hour).Unix()})
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		strings.Split(a.Token, ".")[1] + "."
	expired, _ := SignToken(key, Claims{Machine: testMachine, Expires: t0.Unix(), Gen: passwordGen(HashKey(testPassword))})
	other, _ := SignToken(key, Claims{Machine: "ghost", Expires: t0.Add(time.Hour).Unix()})
	for _, c := range []struct{ name, tok string }{{"expired", expired}, {"unknown machine", other}} {
		if code, b := post(t, base+"/v1/alerts", c.tok, body); code != http.StatusUnauthorized {
			t.Errorf("%s token: %d %s, want 401", c.name, code, b)
		}
	}
	// Failures so far: the missing token. Two more forged ones reach the
	// burst of 3; then a wrong password and even the right one are refused
	// with 429 from that address, and so is a forged token, while a token
	// issued before still works.
	for _, c := range []struct{ name, tok string }{{"forged", forged}, {"alg none", none}} {
		if code, b := post(t, base+"/v1/alerts", c.tok, body); code != http.StatusUnauthorized {
			t.Errorf("%s token: %d %s, want 401", c.name, code, b)
		}
	}
	if code, _ := login(t, base, testMachine, "wrong"); code != http.StatusTooManyRequests {
		t.Errorf("login after 3 failures: %d, want 429", code)
	}
	if code, _ := login(t, base, testMachine, testPassword); code != http.StatusTooManyRequests {
		t.Errorf("right password after 3 failures: %d, want 429", code)
	}
	if code, b := post(t, base+"/v1/alerts", forged, body); code != http.StatusTooManyRequests {
		t.Errorf("forged token after 3 failures: %d %s, want 429", code, b)
	}
	if code, b := post(t, base+"/v1/alerts", a.Token, body); code != http.StatusCreated {
		t.Errorf("valid token after 3 failures: %d %s, want 201", code, b)
	}
	// Expired tokens do not count: a fresh server, three expired tries,
	// then a wrong password still gets its 401.
	f2, base2 := newWatcherFixture(t, Options{AuthBurst: 1, AuthEvery: time.Hour})
	key2, _ := f2.srv.signer.get(f2.ctx, f2.st)
	expired2, _ := SignToken(key2, Claims{Machine: testMachine, Expires: t0.Unix(), Gen: passwordGen(HashKey(testPassword))})
	for range 3 {
		if code, _ := post(t, base2+"/v1/alerts", expired2, body); code != http.StatusUnauthorized {
			t.Errorf("expired: %d, want 401", code)
		}
	}
	if code, _ := login(t, base2, testMachine, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code, _ := login(t, base2, testMachine, testPassword); code != http.StatusTooManyRequests {
		t.Errorf("right password after the failure: %d, want 429", code)
	}
}

func TestWatcherTokenLifetime(t *testing.T) {
	f, base := newWatcherFixture(t, Options{})
	_, a := login(t, base, testMachine, testPassword)
	body := alertBody("l:1", "Ip", "192.0.2.7", "1h")
	f.clock.Add(DefaultTokenTTL)
	if code, b := post(t, base+"/v1/alerts", a.Token, body); code != http.StatusUnauthorized || !strings.Contains(string(b), "expired") {
		t.Errorf("token after its TTL: %d %s, want 401 expired", code, b)
	}
	_, a = login(t, base, testMachine, testPassword)
	// A machine deleted and added again with a new password: the old
	// token stops working.
	if err := f.st.DeleteMachine(f.ctx, testMachine); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, base+"/v1/alerts", a.Token, body); code != http.StatusUnauthorized {
		t.Errorf("token of a deleted machine: %d, want 401", code)
	}
	if err := f.st.AddMachine(f.ctx, testMachine, HashKey("new password")); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, base+"/v1/alerts", a.Token, body); code != http.StatusUnauthorized {
		t.Errorf("token of a re-added machine: %d, want 401", code)
	}
}

func TestWatcherEndpointsOffWithoutWatchers(t *testing.T) {
	f := newFixture(t, Options{})
	base := f.serve()
	if code, _ := login(t, base, testMachine, testPassword); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("login without Watchers: %d, want 404/405", code)
	}
}

func TestParseToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	good, err := SignToken(key, Claims{Machine: "m", Expires: t0.Add(time.Minute).Unix(), Issued: t0.Unix(), Gen: "g"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseToken(key, good, t0)
	if err != nil || c.Machine != "m" || c.Gen != "g" {
		t.Fatalf("ParseToken(good) = %+v, %v", c, err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"id":"admin","exp":9999999999}`)) + "." + parts[2]
	cases := []struct {
		name string
		tok  string
		at   time.Time
		want error
	}{
		{"expired", good, t0.Add(time.Minute), ErrTokenExpired},
		{"tampered payload", tampered, t0, ErrTokenSignature},
		{"other key", mustSign(t, []byte("k"), Claims{Machine: "m", Expires: t0.Add(time.Hour).Unix()}), t0, ErrTokenSignature},
		{"two parts", parts[0] + "." + parts[1], t0, ErrTokenMalformed},
		{"four parts", good + ".x", t0, ErrTokenMalformed},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", t0, ErrTokenMalformed},
		{"bad base64", parts[0] + "." + parts[1] + ".!!", t0, ErrTokenMalformed},
		{"too long", strings.Repeat("a", maxTokenBytes+1), t0, ErrTokenMalformed},
		{"empty", "", t0, ErrTokenMalformed},
		{"no machine", mustSign(t, key, Claims{Expires: t0.Add(time.Hour).Unix()}), t0, ErrTokenMalformed},
	}
	for _, c := range cases {
		if _, err := ParseToken(key, c.tok, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

func mustSign(t *testing.T, key []byte, c Claims) string {
	t.Helper()
	s, err := SignToken(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func FuzzParseToken(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	good, _ := SignToken(key, Claims{Machine: "m", Expires: t0.Add(time.Hour).Unix()})
	f.Add(good)
	f.Add("a.b.c")
	f.Add(jwtHeader + ".e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseToken(key, tok, t0)
		if err == nil {
			// Only a token signed with the key passes.
			head, _, _ := strings.Cut(tok, ".")
			if head != jwtHeader || c.Machine == "" {
				t.Fatalf("accepted %q as %+v", tok, c)
			}
			again, err := SignToken(key, c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseToken(key, again, t0); err != nil {
				t.Fatalf("re-signed claims refused: %v", err)
			}
		}
	})
}

func FuzzDecodeAlerts(f *testing.F) {
	f.Add(alertBody("u:1", "Ip", "192.0.2.7", "4h"))
	f.Add(alertBody("u:2", "Range", "2001:db8::/48", "1h"))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"scenario":"s","source":{"scope":"range","range":"192.0.2.0/24","ip":"192.0.2.1"}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ras, err := DecodeAlerts(body, t0, DefaultMaxBanDuration)
		if err != nil {
			return
		}
		if len(ras) > MaxAlertsPerRequest {
			t.Fatalf("%d alerts accepted", len(ras))
		}
		for _, ra := range ras {
			if ra.Alert.Scenario == "" || !ra.Alert.Scope.IsValid() {
				t.Fatalf("accepted alert without scenario or scope: %+v", ra)
			}
			for _, d := range ra.Decisions {
				if d.Type.String() != "ban" || !d.Scope.IsValid() || d.Duration <= 0 || d.Duration > DefaultMaxBanDuration ||
					d.Scope.Addr().Is4In6() || d.Scope.Addr().Zone() != "" || (d.Scope.Addr().Is4() && d.Scope.Bits() < minReportedBitsV4) {
					t.Fatalf("accepted decision %+v", d)
				}
			}
		}
	})
}

func storeAlertFilter(a netip.Addr) store.AlertFilter { return store.AlertFilter{Source: a} }
