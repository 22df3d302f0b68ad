package rules_test

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// The default scenarios' thresholds are promises made in docs/rules.md; these
// tests keep them. Each case pours a timed sequence of events from one source
// into the real engine built from the defaults and checks which scenarios
// alert.

type timed struct {
	at time.Duration
	ev event.Event
}

func pourDefaults(t *testing.T, evs []timed) []string {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := scenario.Compile(set.Scenarios, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var alerts []event.Alert
	var poured []int
	for _, e := range evs {
		ev := e.ev
		ev.Time = base.Add(e.at)
		if !ev.Source.IsValid() {
			ev.Source = netip.MustParseAddr("192.0.2.7")
		}
		poured, alerts = eng.Pour(&ev, poured[:0], alerts)
	}
	var names []string
	for _, a := range alerts {
		if !slices.Contains(names, a.Scenario) {
			names = append(names, a.Scenario)
		}
	}
	slices.Sort(names)
	return names
}

func sshFail(reason, user string) event.Event {
	return event.Event{Service: "ssh", Kind: event.KindAuthFailure, Reason: reason, User: []byte(user), Bytes: -1}
}

func httpReq(method, path string, status uint16, ua string) event.Event {
	return event.Event{Service: "http", Kind: event.KindHTTPRequest, Method: []byte(method), Path: []byte(path),
		Status: status, UserAgent: []byte(ua), Bytes: -1}
}

// every returns n copies of ev spaced by step.
func every(n int, step time.Duration, ev event.Event) []timed {
	out := make([]timed, n)
	for i := range out {
		out[i] = timed{time.Duration(i) * step, ev}
	}
	return out
}

func TestDefaultScenarioThresholds(t *testing.T) {
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	var typos []timed
	// An admin mistypes twice, gives up, comes back and mistypes twice
	// again, each attempt leaving sshd's and PAM's lines.
	for _, at := range []time.Duration{0, 5 * time.Second, 2 * time.Minute, 2*time.Minute + 4*time.Second} {
		typos = append(typos, timed{at, sshFail("failed_password", "alice")}, timed{at, sshFail("pam_failure", "alice")})
	}
	typos = append(typos, timed{2*time.Minute + 10*time.Second, sshFail("preauth_close", "alice")})

	var spa []timed
	// A single-page application: 400 assets and 150 API calls in 10 seconds.
	for i := range 400 {
		spa = append(spa, timed{time.Duration(i) * 25 * time.Millisecond, httpReq("GET", "/static/chunk-"+strconv.Itoa(i)+".js", 200, browser)})
	}
	for i := range 150 {
		spa = append(spa, timed{time.Duration(i) * 66 * time.Millisecond, httpReq("GET", "/api/items/"+strconv.Itoa(i), 200, browser)})
	}
	var users []timed
	for i, u := range []string{"admin", "test", "oracle", "postgres", "ubuntu", "pi"} {
		users = append(users, timed{time.Duration(i) * time.Minute, sshFail("invalid_user", u)})
	}
	var slowUsers []timed
	for i, u := range []string{"root", "mysql", "oracle", "postgres"} {
		slowUsers = append(slowUsers, timed{time.Duration(i) * 30 * time.Minute, sshFail("invalid_user", u)})
	}
	var dailyUsers []timed
	for i, u := range []string{"jdoe", "john", "johnd", "j.doe"} {
		dailyUsers = append(dailyUsers, timed{time.Duration(i) * 6 * time.Hour, sshFail("invalid_user", u)})
	}
	var probe []timed
	for i := range 11 {
		probe = append(probe, timed{time.Duration(i) * 200 * time.Millisecond, httpReq("GET", "/admin"+strconv.Itoa(i)+".php", 404, browser)})
	}

	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"burst of 6 failures", every(6, time.Second, sshFail("failed_password", "root")), []string{"ssh-bruteforce"}},
		{"5 failures stay below", every(5, time.Second, sshFail("failed_password", "root")), nil},
		{"3 failures a minute for 10 minutes", every(30, 20*time.Second, sshFail("failed_password", "root")), []string{"ssh-slow-bruteforce"}},
		{"an admin's typos", typos, nil},
		{"6 user names in 6 minutes", users, []string{"ssh-invalid-users-slow", "ssh-user-enum"}},
		{"4 invalid user names over 90 minutes", slowUsers, []string{"ssh-invalid-users-slow"}},
		{"4 invalid user names a day", dailyUsers, nil},
		{"a stale password every 10 minutes for 5 hours", every(30, 10*time.Minute, sshFail("failed_password", "backup")), nil},
		{"4 grace timeouts in 90 seconds", every(4, 30*time.Second, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "timeout", Bytes: -1}), []string{"ssh-grace-timeouts"}},
		{"a forgotten password prompt every 5 minutes", every(24, 5*time.Minute, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "timeout", Bytes: -1}), nil},
		{"a health check a minute for an hour", every(60, time.Minute, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "preauth_disconnect", Bytes: -1}), nil},
		{"scanner burst", every(6, time.Second, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "kex_error", Bytes: -1}), []string{"ssh-scanner"}},
		{"4 tarpit connections in 9 minutes", every(4, 3*time.Minute, event.Event{Service: "endlessh", Kind: event.KindScan, Reason: "tarpit", Bytes: -1}), []string{"endlessh-tarpit"}},
		{"a tarpit connection every 15 minutes", every(8, 15*time.Minute, event.Event{Service: "endlessh", Kind: event.KindScan, Reason: "tarpit", Bytes: -1}), nil},
		{"single-page application", spa, nil},
		{"monitoring probe every 10s for an hour", every(360, 10*time.Second, httpReq("GET", "/healthz", 200, "kube-probe/1.30")), nil},
		{"11 distinct 404s", probe, []string{"http-probing"}},
		{"11 missing static files", every(11, 100*time.Millisecond, httpReq("GET", "/img/missing.png", 404, browser)), nil},
		{"crawler at 20 requests a second", every(3000, 50*time.Millisecond, httpReq("GET", "/page", 200, browser)), []string{"http-crawl-aggressive"}},
		{"three .env probes", []timed{{0, httpReq("GET", "/.env", 404, browser)}, {time.Second, httpReq("GET", "/api/.env", 404, browser)}, {2 * time.Second, httpReq("GET", "/.git/config", 404, browser)}}, []string{"http-sensitive-files"}},
		{"archive downloads are not backups", every(5, time.Second, httpReq("GET", "/downloads/herd-1.0.tar.gz", 200, browser)), nil},
		{"backup probes", []timed{{0, httpReq("GET", "/backup.zip", 404, browser)}, {time.Second, httpReq("GET", "/db.sql", 404, browser)}, {2 * time.Second, httpReq("GET", "/www.tar.gz", 404, browser)}}, []string{"http-backup-probing"}},
		{"path traversal", every(3, time.Second, httpReq("GET", "/download?file=../../../../etc/passwd", 400, browser)), []string{"http-path-traversal"}},
		{"encoded traversal", every(3, time.Second, httpReq("GET", "/static/%2e%2e/%2e%2e/etc/shadow", 400, browser)), []string{"http-path-traversal"}},
		{"sqli", every(4, time.Second, httpReq("GET", "/item?id=1%20UNION%20SELECT%20user,password%20FROM%20users", 500, browser)), []string{"http-sqli-probing"}},
		{"search for a union", every(4, time.Second, httpReq("GET", "/search?q=european+union+membership+or+1+vote", 200, browser)), nil},
		{"xss", every(4, time.Second, httpReq("GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", 200, browser)), []string{"http-xss-probing"}},
		{"scanner user agent", every(2, time.Second, httpReq("GET", "/", 200, "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)")), []string{"http-bad-user-agent"}},
		{"wp-login brute force", every(6, 2*time.Second, httpReq("POST", "/wp-login.php", 200, browser)), []string{"http-login-bruteforce"}},
		{"mail brute force", every(11, time.Second, event.Event{Service: "imap", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), []string{"mail-auth-bruteforce"}},
		{"phone with an old password", every(60, 3*time.Minute, event.Event{Service: "imap", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), nil},
		{"ftp brute force", every(6, time.Second, event.Event{Service: "ftp", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), []string{"ftp-bruteforce"}},
		{"mysql brute force", every(6, time.Second, event.Event{Service: "mysql", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), []string{"mysql-bruteforce"}},
		{"relay probing", every(6, time.Second, event.Event{Service: "smtp", Kind: event.KindAbuse, Reason: "relay_denied", Bytes: -1}), []string{"postfix-relay-abuse"}},
		{"4 corrupted SSH packets in a second", every(4, 300*time.Millisecond, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "mac_error", Bytes: -1}), []string{"ssh-mac-errors"}},
		{"a corrupted SSH packet every 15 seconds", every(5, 15*time.Second, event.Event{Service: "ssh", Kind: event.KindScan, Reason: "mac_error", Bytes: -1}), nil},
		{"4 WireGuard handshake failures in 3 seconds", every(4, time.Second, event.Event{Service: "wireguard", Kind: event.KindAuthFailure, Reason: "invalid_handshake", Bytes: -1}), []string{"wireguard-handshake-failures"}},
		{"a stale WireGuard key retrying every 5 seconds", every(60, 5*time.Second, event.Event{Service: "wireguard", Kind: event.KindAuthFailure, Reason: "invalid_handshake", Bytes: -1}), nil},
		{"4 OpenVPN HMAC failures in 3 seconds", every(4, time.Second, event.Event{Service: "vpn", Kind: event.KindAuthFailure, Reason: "hmac_failure", Bytes: -1}), []string{"openvpn-hmac-failures"}},
		{"an IPsec user mistyping twice", every(2, 15*time.Second, event.Event{Service: "vpn", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), nil},
		{"6 IPsec failures in a burst", every(6, time.Second, event.Event{Service: "vpn", Kind: event.KindAuthFailure, Reason: "failed_password", Bytes: -1}), []string{"remote-access-bruteforce"}},
		{"port-share redirects at 3 a second for 5 minutes", every(900, 333*time.Millisecond, event.Event{Service: "vpn", Kind: event.KindScan, Reason: "port_share", Bytes: -1}), nil},
		{"port-share redirects at 20 a second", every(2000, 50*time.Millisecond, event.Event{Service: "vpn", Kind: event.KindScan, Reason: "port_share", Bytes: -1}), []string{"openvpn-port-share-flood"}},
		{"ApisCP login guessing", every(6, time.Second, httpReq("POST", "/apps/login", 200, browser)), []string{"apiscp-login-bruteforce"}},
		{"an ApisCP login that succeeds", []timed{{0, httpReq("POST", "/apps/login", 200, browser)}, {5 * time.Second, httpReq("POST", "/apps/login", 302, browser)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := pourDefaults(t, c.evs); !slices.Equal(got, c.want) {
				t.Errorf("alerts from %v, want %v", got, c.want)
			}
		})
	}
}
