package parse

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/textmatch"
)

var ref = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newParser(t testing.TB) *Parser {
	t.Helper()
	p, err := Compile(testRules(), Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// want describes the expected outcome for one line; empty fields are not checked.
type want struct {
	rule    string // "" = no rule matched
	event   bool
	source  string
	user    string
	kind    event.Kind
	status  uint16
	port    uint16
	bytes   int64 // checked when status != 0
	method  string
	path    string
	ua      string
	referer string // checked when not empty
	host    string
	time    string // RFC 3339
	badTime bool
}

func check(t *testing.T, p *Parser, line, hint string, w want) {
	t.Helper()
	var ev event.Event
	res := p.Parse([]byte(line), hint, &ev)
	name := ""
	if res.Rule >= 0 {
		name = p.Rule(res.Rule).Name
	}
	if name != w.rule {
		t.Fatalf("%q: rule %q, want %q", line, name, w.rule)
	}
	if res.BadTime != w.badTime {
		t.Fatalf("%q: BadTime %v, want %v", line, res.BadTime, w.badTime)
	}
	if res.Event != w.event {
		t.Fatalf("%q: Event %v, want %v (source %v)", line, res.Event, w.event, ev.Source)
	}
	if !res.Event {
		return
	}
	if w.source != "" && ev.Source != netip.MustParseAddr(w.source) {
		t.Errorf("%q: source %v, want %s", line, ev.Source, w.source)
	}
	if w.kind != 0 && ev.Kind != w.kind {
		t.Errorf("%q: kind %v, want %v", line, ev.Kind, w.kind)
	}
	if ev.Parser != w.rule {
		t.Errorf("%q: ev.Parser %q", line, ev.Parser)
	}
	for _, f := range []struct {
		name      string
		got, want string
	}{
		{"user", string(ev.User), w.user}, {"method", string(ev.Method), w.method}, {"path", string(ev.Path), w.path},
		{"ua", string(ev.UserAgent), w.ua}, {"host", string(ev.Host), w.host}, {"referer", string(ev.Referer), w.referer},
	} {
		if f.want != "" && f.got != f.want {
			t.Errorf("%q: %s %q, want %q", line, f.name, f.got, f.want)
		}
	}
	if w.status != 0 && (ev.Status != w.status || ev.Bytes != w.bytes) {
		t.Errorf("%q: status %d bytes %d, want %d %d", line, ev.Status, ev.Bytes, w.status, w.bytes)
	}
	if w.port != 0 && ev.Port != w.port {
		t.Errorf("%q: port %d, want %d", line, ev.Port, w.port)
	}
	if w.time != "" {
		wt, err := time.Parse(time.RFC3339Nano, w.time)
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Time.Equal(wt) {
			t.Errorf("%q: time %v, want %v", line, ev.Time, wt)
		}
	}
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		line, hint string
		want       want
	}{
		{"Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2", "",
			want{rule: "sshd-failed-password", event: true, source: "192.0.2.1", user: "root", kind: event.KindAuthFailure, time: "2026-11-23T08:00:01Z"}},
		{"Nov 23 08:00:01 web sshd[1234]: Failed password for invalid user admin from 2001:db8::7 port 50022 ssh2", "",
			want{rule: "sshd-failed-invalid-user", event: true, source: "2001:db8::7", user: "admin"}},
		{"Nov 23 08:00:02 web sshd-session[77]: Invalid user oracle from ::ffff:198.51.100.4 port 4242", "",
			want{rule: "sshd-invalid-user", event: true, source: "198.51.100.4", user: "oracle"}},
		{"Nov 23 08:00:02 web sshd[77]: Accepted publickey for alice from 192.0.2.50 port 5555 ssh2: ED25519 SHA256:abc", "",
			want{rule: "sshd-accepted", event: true, source: "192.0.2.50", kind: event.KindAuthSuccess, user: "alice"}},
		{"Nov 23 08:00:03 web sshd[77]: Server listening on 0.0.0.0 port 22.", "", want{}},
		{"Nov 23 08:00:03 web kernel: [12.3] eth0: link up from 192.0.2.1", "", want{}},
		{"Nov 23 08:00:04 mail postfix/smtpd[9]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", "",
			want{rule: "postfix-sasl", event: true, source: "203.0.113.9"}},
		{"Nov 23 08:00:04 mail postfix/submission/smtpd[9]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: x", "",
			want{}}, // '*' does not cross '/'
		{"Nov 23 08:00:04 mail courierpop3login: LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.10]", "",
			want{rule: "courier", event: true, source: "203.0.113.10", user: "bob"}},
		{"Nov 23 08:00:05 h openvpn[1]: 203.0.113.11:1194 TLS Error: TLS handshake failed", "",
			want{rule: "openvpn", event: true, source: "203.0.113.11", port: 1194}},
		// Raw lines: access logs and error logs with their own stamps.
		{`192.0.2.9 - - [23/Nov/2026:08:01:02 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11)"`, "",
			want{rule: "http-access", event: true, source: "192.0.2.9", kind: event.KindHTTPRequest, status: 404, bytes: 153,
				method: "GET", path: "/wp-login.php", ua: "Mozilla/5.0 (X11)", time: "2026-11-23T07:01:02Z"}},
		{"2026/11/23 08:01:03 [error] 2865#0: *66647 user \"xyz\" was not found in \"/etc/htpasswd\", client: 192.0.2.43, server: www.example.org, request: \"GET / HTTP/1.1\", host: \"www.example.org\"", "",
			want{rule: "nginx-error-raw", event: true, source: "192.0.2.43", user: "xyz", host: "www.example.org", method: "GET", path: "/", time: "2026-11-23T08:01:03Z"}},
		{"2026-11-23T08:01:04.123456Z 8 [Warning] Access denied for user 'root'@'192.0.2.77' (using password: YES)", "",
			want{rule: "mysql-raw", event: true, source: "192.0.2.77", user: "root", time: "2026-11-23T08:01:04.123456Z"}},
		{"2026-13-23T08:01:04Z 8 [Warning] Access denied for user 'root'@'192.0.2.77' (using password: YES)", "",
			want{rule: "mysql-raw", badTime: true}},
		// The hint names the program of envelope-less message bodies.
		{"Failed password for root from 192.0.2.1 port 22 ssh2", "sshd",
			want{rule: "sshd-failed-password", event: true, source: "192.0.2.1"}},
		{"Failed password for root from 192.0.2.1 port 22 ssh2", "", want{}},
	}
	p := newParser(t)
	for _, tt := range tests {
		check(t, p, tt.line, tt.hint, tt.want)
	}
}

// TestHostile holds the rule that an address comes only from the capture the
// rule defines, as a whole valid token: the log-injection family of
// CVE-2013-7176/7177, where attacker-written text (a user name, a client
// banner, a request path) carries someone else's address.
func TestHostile(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{"user name carries a from-clause",
			"Nov 23 08:00:01 h sshd[1]: Failed password for invalid user x from 10.9.9.9 port 22 from 192.0.2.7 port 4242 ssh2",
			want{rule: "sshd-failed-invalid-user", event: true, source: "192.0.2.7", user: "x from 10.9.9.9 port 22"}},
		{"user name carries a whole fake line",
			"Nov 23 08:00:01 h sshd[1]: Failed password for x from 10.9.9.9 port 22 ssh2 from 192.0.2.8 port 1 ssh2",
			want{rule: "sshd-failed-password", event: true, source: "192.0.2.8"}},
		{"user name ends in an address, real one is ipv6",
			"Nov 23 08:00:01 h sshd[1]: Invalid user a from 10.9.9.9 from 2001:db8::9 port 5",
			want{rule: "sshd-invalid-user", event: true, source: "2001:db8::9"}},
		{"address must be a whole token, not a prefix of one",
			"Nov 23 08:00:01 h sshd[1]: Did not receive identification string from 10.9.9.9x",
			want{}},
		{"host names are not addresses",
			"Nov 23 08:00:01 h sshd[1]: Did not receive identification string from 10.9.9.9.evil.example",
			want{}},
		{"leading zeros are not read as another address",
			"Nov 23 08:00:01 h sshd[1]: Did not receive identification string from 010.009.009.009",
			want{}},
		{"banner carries an address, the real one follows",
			"Nov 23 08:00:01 h sshd[1]: Bad protocol version identification 'SSH-2.0 from 10.9.9.9 port 22' from 192.0.2.9 port 3",
			want{rule: "sshd-bad-protocol", event: true, source: "192.0.2.9"}},
		{"pam rhost cannot be spoofed via logname",
			"Nov 23 08:00:01 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= rhost=10.9.9.9 uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.10  user=root",
			want{rule: "sshd-pam-failure", event: true, source: "192.0.2.10", user: "root"}},
		{"access log: request path carries an address",
			`192.0.2.11 - - [23/Nov/2026:08:01:02 +0000] "GET /?ip=10.9.9.9 HTTP/1.1" 200 1 "http://10.9.9.9/" "10.9.9.9"`,
			want{rule: "http-access", event: true, source: "192.0.2.11", status: 200, bytes: 1}},
		{"access log: user field is attacker-written",
			`192.0.2.12 - 10.9.9.9 - [x] "GET" [23/Nov/2026:08:01:02 +0000] "GET / HTTP/1.1" 401 5 "-" "-"`,
			want{}},
		{"nginx error: request carries a fake client",
			"2026/11/23 08:01:03 [error] 1#0: *1 user \"a\" was not found in \"/f\", client: 192.0.2.13, server: s, request: \"GET /, client: 10.9.9.9, server: s HTTP/1.1\", host: \"h\"",
			want{rule: "nginx-error-raw", event: true, source: "192.0.2.13"}},
		{"json: attacker-named header is not a client address",
			`{"ts":1700000000.5,"request":{"remote_ip":"192.0.2.14","method":"GET","uri":"/","host":"h","headers":{"Client_ip":["10.9.9.9"],"remote_ip":["10.9.9.9"],"User-Agent":["curl/8"]}},"status":404,"size":0}`,
			want{rule: "http-json", event: true, source: "192.0.2.14", status: 404, bytes: 0, ua: "curl/8"}},
		{"json: value that looks like a key",
			`{"remote_addr":"192.0.2.15","request":"GET /\",\"remote_addr\":\"10.9.9.9 HTTP/1.1","status":"200","body_bytes_sent":"3"}`,
			want{rule: "http-json", event: true, source: "192.0.2.15", status: 200, bytes: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, newParser(t), tt.line, "", tt.want)
		})
	}
}

func TestCLF(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{"common",
			`192.0.2.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
			want{rule: "http-access", event: true, source: "192.0.2.1", user: "bob", status: 200, bytes: 2326, method: "GET", path: "/apache_pb.gif", time: "2000-10-10T20:55:36Z"}},
		{"combined ipv6 and dash bytes",
			`2001:db8::1 - - [10/Oct/2000:13:55:36 +0000] "POST /xmlrpc.php HTTP/1.1" 403 - "-" "python-requests/2.31"`,
			want{rule: "http-access", event: true, source: "2001:db8::1", status: 403, bytes: -1, method: "POST", ua: "python-requests/2.31"}},
		{"vhost_combined",
			`www.example.org:443 192.0.2.2 - - [10/Oct/2000:13:55:36 +0000] "GET /.env HTTP/1.1" 404 196 "-" "Go-http-client/1.1"`,
			want{rule: "http-access", event: true, source: "192.0.2.2", host: "www.example.org", path: "/.env", status: 404, bytes: 196}},
		{"escaped quotes in user agent",
			`192.0.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "a \"quoted\" agent"`,
			want{rule: "http-access", event: true, source: "192.0.2.3", ua: `a \"quoted\" agent`, status: 200, bytes: 1}},
		{"garbage request line",
			`192.0.2.4 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01\x00\xa5\x01" 400 157 "-" "-"`,
			want{rule: "http-access", event: true, source: "192.0.2.4", status: 400, bytes: 157, path: `\x16\x03\x01\x00\xa5\x01`}},
		{"one-word request line",
			`192.0.2.4 - - [10/Oct/2000:13:55:36 +0000] "HELP" 400 157 "-" "-"`,
			want{rule: "http-access", event: true, source: "192.0.2.4", status: 400, bytes: 157, path: "HELP"}},
		{"quoted user",
			`192.0.2.10 - "jeff" [10/Oct/2000:13:55:36 +0000] "GET /secret HTTP/1.1" 401 356 "EvilAgent/2.0"`,
			want{rule: "http-access", event: true, source: "192.0.2.10", user: "jeff", status: 401, bytes: 356, path: "/secret"}},
		{"quoted user with a fake time and request",
			`192.0.2.11 - "a\" [x] \"GET" [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 401 -`,
			want{rule: "http-access", event: true, source: "192.0.2.11", user: `a\" [x] \"GET`, status: 401, bytes: -1}},
		{"quoted user not followed by the time", `192.0.2.12 - "a" x [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 401 -`, want{}},
		{"empty request line",
			`192.0.2.5 - - [10/Oct/2000:13:55:36 +0000] "-" 408 0 "-" "-"`,
			want{rule: "http-access", event: true, source: "192.0.2.5", status: 408, bytes: 0}},
		{"request with spaces in path",
			`192.0.2.6 - - [10/Oct/2000:13:55:36 +0000] "GET /a b/c HTTP/1.1" 400 0`,
			want{rule: "http-access", event: true, source: "192.0.2.6", path: "/a b/c", method: "GET", status: 400, bytes: 0}},
		{"extra fields after the user agent",
			`192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/2.0" 200 5 "https://x/" "ua" "198.51.100.1" rt=0.001`,
			want{rule: "http-access", event: true, source: "192.0.2.7", ua: "ua", referer: "https://x/", status: 200, bytes: 5}},
		{"log4shell in the referer",
			`192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "${jndi:ldap://x/a}" "Mozilla/5.0"`,
			want{rule: "http-access", event: true, source: "192.0.2.7", ua: "Mozilla/5.0", referer: "${jndi:ldap://x/a}", status: 200, bytes: 5}},
		{"bad timestamp",
			`192.0.2.8 - - [10/Foo/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 5`,
			want{rule: "http-access", badTime: true}},
		{"not an address", `example.com - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 5`, want{}},
		{"no status", `192.0.2.9 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1"`, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, newParser(t), tt.line, "", tt.want)
		})
	}
}

// TestRefererDash: "-" is no referrer.
func TestRefererDash(t *testing.T) {
	p := newParser(t)
	for _, line := range []string{
		`192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"`,
		`{"remote_addr":"192.0.2.28","status":200,"http_referer":"-"}`,
	} {
		var ev event.Event
		if res := p.Parse([]byte(line), "", &ev); !res.Event || ev.Referer != nil {
			t.Errorf("%q: event %v referer %q", line, res.Event, ev.Referer)
		}
	}
}

func TestJSONAccess(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{"nginx flat",
			`{"time_local":"23/Nov/2026:08:01:02 +0000","remote_addr":"192.0.2.20","request":"GET /admin HTTP/1.1","status":"403","body_bytes_sent":"12","http_user_agent":"curl/8.0","host":"example.org"}`,
			want{rule: "http-json", event: true, source: "192.0.2.20", method: "GET", path: "/admin", status: 403, bytes: 12, ua: "curl/8.0", host: "example.org", time: "2026-11-23T08:01:02Z"}},
		{"nginx iso and escapes",
			`{"time_iso8601":"2026-11-23T08:01:02+00:00","remote_addr":"2001:db8::20","request":"GET /a\"b\u0041\\ HTTP/1.1","status":200,"body_bytes_sent":0,"http_user_agent":"x\/y"}`,
			want{rule: "http-json", event: true, source: "2001:db8::20", path: `/a"bA\`, status: 200, bytes: 0, ua: "x/y"}},
		{"caddy",
			`{"level":"info","ts":1700000000.25,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"192.0.2.21","remote_port":"41342","client_ip":"192.0.2.22","proto":"HTTP/2.0","method":"POST","host":"example.org","uri":"/login","headers":{"Accept":["*/*"],"User-Agent":["Mozilla/5.0"]}},"bytes_read":0,"duration":0.0009,"size":10900,"status":401}`,
			want{rule: "http-json", event: true, source: "192.0.2.21", method: "POST", path: "/login", host: "example.org", ua: "Mozilla/5.0", status: 401, bytes: 10900, time: "2023-11-14T22:13:20.25Z"}},
		{"referer keys",
			`{"remote_addr":"192.0.2.28","request":"GET / HTTP/1.1","status":200,"http_referer":"https://example.org/a"}`,
			want{rule: "http-json", event: true, source: "192.0.2.28", referer: "https://example.org/a", status: 200, bytes: -1}},
		{"traefik",
			`{"ClientAddr":"192.0.2.29:5000","ClientHost":"192.0.2.29","DownstreamStatus":404,"DownstreamContentSize":19,"RequestMethod":"GET","RequestPath":"/.env","RequestHost":"example.org","request_User-Agent":"zgrab","request_Referer":"${jndi:x}","StartUTC":"2026-11-23T08:00:05.5Z"}`,
			want{rule: "http-json", event: true, source: "192.0.2.29", method: "GET", path: "/.env", host: "example.org", ua: "zgrab", referer: "${jndi:x}", status: 404, bytes: 19, time: "2026-11-23T08:00:05.5Z"}},
		{"method and uri keys",
			`{"remote_addr":"192.0.2.23","method":"PUT","uri":"/x","status":201}`,
			want{rule: "http-json", event: true, source: "192.0.2.23", method: "PUT", path: "/x", status: 201, bytes: -1}},
		{"garbage request line",
			`{"remote_addr":"192.0.2.26","request":"\\x16\\x03\\x01","status":400}`,
			want{rule: "http-json", event: true, source: "192.0.2.26", path: `\x16\x03\x01`, status: 400, bytes: -1}},
		{"missing status", `{"remote_addr":"192.0.2.24","request":"GET / HTTP/1.1"}`, want{}},
		{"host name client", `{"remote_addr":"example.org","status":200}`, want{}},
		{"truncated", `{"remote_addr":"192.0.2.25","status":200`, want{}},
		{"trailing garbage", `{"remote_addr":"192.0.2.25","status":200} x`, want{}},
		{"deep nesting", `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"remote_addr":"192.0.2.26","status":200}`, want{}},
		{"bad time", `{"time_local":"99/Nov/2026:08:01:02 +0000","remote_addr":"192.0.2.27","status":200}`, want{rule: "http-json", badTime: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, newParser(t), tt.line, "", tt.want)
		})
	}
}

// TestSession covers Session: "pid": a line without an address takes the one
// last seen for the same program and pid.
func TestSession(t *testing.T) {
	p := newParser(t)
	check(t, p, "Nov 28 09:16:03 srv sshd[32310]: Connection from 192.0.2.111 port 57910 on 192.0.2.1 port 22 rdomain \"\"", "",
		want{rule: "sshd-connection"}) // kind none: records only
	check(t, p, "Nov 28 09:16:05 srv sshd[32310]: Disconnecting: Too many authentication failures for git [preauth]", "",
		want{rule: "sshd-too-many", event: true, source: "192.0.2.111", user: "git"})
	// Another pid, or the same pid under another program, knows nothing.
	check(t, p, "Nov 28 09:16:05 srv sshd[32311]: Disconnecting: Too many authentication failures for git [preauth]", "",
		want{rule: "sshd-too-many"})
	check(t, p, "Nov 28 09:16:05 srv sshd-session[32310]: Disconnecting: Too many authentication failures for git [preauth]", "",
		want{rule: "sshd-too-many"})
	// A later line of the session with an address replaces the remembered one.
	check(t, p, "Nov 28 09:16:06 srv sshd[32310]: Failed password for git from 192.0.2.112 port 1 ssh2", "",
		want{rule: "sshd-failed-password", event: true, source: "192.0.2.112"})
	check(t, p, "Nov 28 09:16:07 srv sshd[32310]: Disconnecting: Too many authentication failures for git [preauth]", "",
		want{rule: "sshd-too-many", event: true, source: "192.0.2.112"})
}

// TestSessionFromOtherRules: a line matched by a rule without session: pid
// still records its source when the rule shares a program with a session
// rule (fail2ban's "Failed publickey …" then "Disconnecting: Too many
// authentication failures" case, without a "Connection from" line).
func TestSessionFromOtherRules(t *testing.T) {
	p := newParser(t)
	check(t, p, "Nov 28 09:16:05 srv sshd[32310]: Failed publickey for git from 192.0.2.111 port 57910 ssh2: ECDSA 1e:fe:xx", "",
		want{})
	check(t, p, "Nov 28 09:16:05 srv sshd[32310]: Accepted password for git from 192.0.2.113 port 57910 ssh2", "",
		want{rule: "sshd-accepted", event: true, source: "192.0.2.113"})
	check(t, p, "Nov 28 09:16:05 srv sshd[32310]: Disconnecting: Too many authentication failures for git [preauth]", "",
		want{rule: "sshd-too-many", event: true, source: "192.0.2.113"})
}

// TestSessionUser: with session: user, a connection's failure for a second
// user name, or its success after failures for another name, is an
// auth_failure of reason user_switch; the same name again, another pid, or
// the same pid from another address (a reused pid) is not.
func TestSessionUser(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "fail", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_failure", Reason: "pam_failure", Session: "user",
			Patterns: []string{"fail %{user} from %{source}"}},
		{Name: "ok", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_success", Session: "user",
			Patterns: []string{"ok %{user} from %{source}"}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		line   string
		kind   event.Kind
		reason string
	}{
		{"Mar  7 18:53:20 h sshd[10]: fail rda from 192.0.2.1", event.KindAuthFailure, "pam_failure"},
		{"Mar  7 18:53:20 h sshd[10]: fail rda from 192.0.2.1", event.KindAuthFailure, "pam_failure"},
		{"Mar  7 18:53:20 h sshd[10]: ok rda from 192.0.2.1", event.KindAuthSuccess, ""},
		{"Mar  7 18:53:22 h sshd[11]: fail root from 192.0.2.2", event.KindAuthFailure, "pam_failure"},
		{"Mar  7 18:53:23 h sshd[11]: fail sudoer from 192.0.2.2", event.KindAuthFailure, ReasonUserSwitch},
		{"Mar  7 18:53:24 h sshd[11]: ok known from 192.0.2.2", event.KindAuthFailure, ReasonUserSwitch},
		// Another process knows nothing of pid 11's names.
		{"Mar  7 18:53:25 h sshd[12]: ok known from 192.0.2.2", event.KindAuthSuccess, ""},
		// pid 11 reused by another client: its success is its own.
		{"Mar  7 18:53:26 h sshd[11]: ok known from 192.0.2.3", event.KindAuthSuccess, ""},
		{"Mar  7 18:53:27 h sshd[11]: fail known from 192.0.2.3", event.KindAuthFailure, "pam_failure"},
		// A success with no failure before it records nothing.
		{"Mar  7 18:53:28 h sshd[13]: ok alice from 192.0.2.4", event.KindAuthSuccess, ""},
		{"Mar  7 18:53:29 h sshd[13]: fail bob from 192.0.2.4", event.KindAuthFailure, "pam_failure"},
	}
	for _, s := range steps {
		var ev event.Event
		res := p.Parse([]byte(s.line), "", &ev)
		if !res.Event || ev.Kind != s.kind || ev.Reason != s.reason {
			t.Errorf("%q: event %v kind %v reason %q, want %v %q", s.line, res.Event, ev.Kind, ev.Reason, s.kind, s.reason)
		}
	}
}

// TestSessionConn: session: conn keys by the line's %{session} capture. A
// failure takes the address its connection's opening line recorded; one
// whose address is not known yet waits for the connection's closing line
// (at most maxPending); an opening line drops what an earlier connection of
// the same number left; connection numbers and pids never mix.
func TestSessionConn(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "open", Programs: []string{"db"}, Service: "db", Kind: "none", Session: "conn-open",
			Patterns: []string{"%{time:iso8601} accepted from %{source} #%{session}"}},
		{Name: "fail", Programs: []string{"db"}, Service: "db", Kind: "auth_failure", Reason: "failed_password", Session: "conn",
			Patterns: []string{"%{time:iso8601} [conn%{session}] auth failed"}},
		{Name: "end", Programs: []string{"db"}, Service: "db", Kind: "none", Session: "conn",
			Patterns: []string{"%{time:iso8601} [conn%{session}] end connection %{source}"}},
		{Name: "pidfail", Programs: []string{"db"}, Service: "db", Kind: "auth_failure", Session: "pid",
			Patterns: []string{"pid auth failed"}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		line   string
		event  bool
		source string
		reason string
	}{
		// Forward: the opening line names the connection's address.
		{"Mar  7 10:00:00 h db[1]: 2026-03-07T10:00:00 accepted from 192.0.2.1 #7", false, "", ""},
		{"Mar  7 10:00:01 h db[1]: 2026-03-07T10:00:01 [conn7] auth failed", true, "192.0.2.1", "failed_password"},
		{"Mar  7 10:00:02 h db[1]: 2026-03-07T10:00:02 [conn7] end connection 192.0.2.1", false, "", ""},
		// The connection number is no pid: pid 7 knows nothing.
		{"Mar  7 10:00:03 h db[7]: pid auth failed", false, "", ""},
		// Backward: the failure waits for the end of its connection.
		{"Mar  7 10:00:04 h db[1]: 2026-03-07T10:00:04 [conn8] auth failed", false, "", ""},
		{"Mar  7 10:00:05 h db[1]: 2026-03-07T10:00:05 [conn8] end connection 192.0.2.2", true, "192.0.2.2", "failed_password"},
		{"Mar  7 10:00:06 h db[1]: 2026-03-07T10:00:06 [conn8] end connection 192.0.2.2", false, "", ""},
		// A restart numbers connections afresh: the new connection 9 opens
		// and closes without the old one's failure.
		{"Mar  7 10:00:07 h db[1]: 2026-03-07T10:00:07 [conn9] auth failed", false, "", ""},
		{"Mar  7 10:00:08 h db[2]: 2026-03-07T10:00:08 accepted from 192.0.2.3 #9", false, "", ""},
		{"Mar  7 10:00:09 h db[2]: 2026-03-07T10:00:09 [conn9] end connection 192.0.2.3", false, "", ""},
		// A failure left waiting too long is dropped.
		{"Mar  7 10:00:10 h db[2]: 2026-03-07T10:00:10 [conn10] auth failed", false, "", ""},
		{"Mar  7 10:20:00 h db[2]: 2026-03-07T10:20:00 [conn10] end connection 192.0.2.4", false, "", ""},
	}
	for _, s := range steps {
		var ev event.Event
		res := p.Parse([]byte(s.line), "", &ev)
		if res.Rule < 0 {
			t.Fatalf("%q: no rule", s.line)
		}
		if res.Event != s.event || (s.event && (ev.Source.String() != s.source || ev.Reason != s.reason || ev.Kind != event.KindAuthFailure)) {
			t.Errorf("%q: event %v source %v kind %v reason %q, want %v %s %q", s.line, res.Event, ev.Source, ev.Kind, ev.Reason, s.event, s.source, s.reason)
		}
	}
}

// TestSessionHeader: a `session: header` line's time dates the next line
// of the same program when that line has no time of its own, and only that
// line.
func TestSessionHeader(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "head", Programs: []string{"app"}, Service: "app", Kind: "none", Session: "header",
			Patterns: []string{"=REPORT %{time:iso8601} ="}},
		{Name: "fail", Programs: []string{"app", "other"}, Service: "app", Kind: "auth_failure",
			Patterns: []string{"failed from %{source}"}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	head := "=REPORT 2013-07-14 17:53:40 ="
	steps := []struct {
		line, hint, time string
	}{
		{head, "app", ""},
		{"failed from 192.0.2.1", "app", "2013-07-14T17:53:40Z"},
		// Only the line right after the header.
		{"failed from 192.0.2.1", "app", ref.Format(time.RFC3339)},
		// Another program's line is not the header's record.
		{head, "app", ""},
		{"failed from 192.0.2.1", "other", ref.Format(time.RFC3339)},
		// A line with its own time keeps it.
		{head, "app", ""},
		{"Mar  7 10:00:00 h app[1]: failed from 192.0.2.1", "", "2026-03-07T10:00:00Z"},
	}
	for _, s := range steps {
		var ev event.Event
		res := p.Parse([]byte(s.line), s.hint, &ev)
		if res.Rule < 0 {
			t.Fatalf("%q: no rule", s.line)
		}
		if s.time != "" && ev.Time.UTC().Format(time.RFC3339) != s.time {
			t.Errorf("%q (%s): time %v, want %s", s.line, s.hint, ev.Time, s.time)
		}
	}
}

// TestSessionByConn: a daemon serving many clients in one process (charon)
// tags each line with the client's connection; session: conn keys the
// session by that tag, so that interleaved clients never lend each other an
// address.
func TestSessionByConn(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "pkt", Programs: []string{"vpnd"}, Service: "vpn", Kind: "none", Session: "conn",
			Patterns: []string{"<%{session}> packet from %{source}"}},
		{Name: "fail", Programs: []string{"vpnd"}, Service: "vpn", Kind: "auth_failure", Session: "conn",
			Patterns: []string{"<%{session}> auth failed"}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, "Nov 23 08:00:01 h vpnd[7]: <1> packet from 192.0.2.1", "", want{rule: "pkt"})
	check(t, p, "Nov 23 08:00:01 h vpnd[7]: <2> packet from 192.0.2.2", "", want{rule: "pkt"})
	check(t, p, "Nov 23 08:00:02 h vpnd[7]: <1> auth failed", "", want{rule: "fail", event: true, source: "192.0.2.1"})
	check(t, p, "Nov 23 08:00:02 h vpnd[7]: <2> auth failed", "", want{rule: "fail", event: true, source: "192.0.2.2"})
	// An unknown tag knows nothing, nor does a pid that reads like a tag.
	check(t, p, "Nov 23 08:00:03 h vpnd[7]: <3> auth failed", "", want{rule: "fail"})
	check(t, p, "Nov 23 08:00:03 h vpnd[3]: <3> auth failed", "", want{rule: "fail"})
}

func TestSessionTableBounded(t *testing.T) {
	st := newSessionTable(64)
	if len(st.sets)*4 != 64 {
		t.Fatalf("%d entries", len(st.sets)*4)
	}
	a := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 10000; i++ {
		st.put([]byte("sshd"), []byte(strings.Repeat("1", 1+i%7)+string(rune('0'+i%10))), a)
	}
	st.put([]byte("sshd"), []byte("42"), netip.MustParseAddr("192.0.2.42"))
	if got := st.get([]byte("sshd"), []byte("42")); got != netip.MustParseAddr("192.0.2.42") {
		t.Fatalf("most recent entry lost: %v", got)
	}
	if got := st.get([]byte("sshd"), []byte("43")); got.IsValid() {
		t.Fatalf("unknown pid: %v", got)
	}
}

func TestSet(t *testing.T) {
	specs := []rules.ParserSpec{{Name: "root-refused", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_failure",
		Patterns: []string{"ROOT LOGIN REFUSED FROM %{source}"}, Set: map[string]string{"user": "root", "port": "22", "status": "401", "bytes": "-"}}}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	res := p.Parse([]byte("Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM 1.2.3.4"), "", &ev)
	if !res.Event || string(ev.User) != "root" || ev.Port != 22 || ev.Status != 401 || ev.Bytes != -1 || ev.Source != netip.MustParseAddr("1.2.3.4") {
		t.Fatalf("res %+v ev %+v", res, ev)
	}
}

func TestCompileErrors(t *testing.T) {
	base := rules.ParserSpec{Pos: rules.Pos{File: "x.yaml", Line: 7}, Name: "r", Programs: []string{"p"}, Service: "s", Kind: "scan", Patterns: []string{"a %{source}"}}
	tests := []struct {
		name   string
		mutate func(*rules.ParserSpec)
	}{
		{"bad template", func(s *rules.ParserSpec) { s.Patterns = []string{"%{nope}"} }},
		{"bad regexp group", func(s *rules.ParserSpec) { s.Patterns = nil; s.Regexps = []string{"(?P<who>x)"} }},
		{"bad kind", func(s *rules.ParserSpec) { s.Kind = "nope" }},
		{"bad format", func(s *rules.ParserSpec) { s.Patterns = nil; s.Format = "xml" }},
		{"format and patterns", func(s *rules.ParserSpec) { s.Format = "clf" }},
		{"bad session", func(s *rules.ParserSpec) { s.Session = "tcp" }},
		{"conn session without a session capture", func(s *rules.ParserSpec) { s.Session = "conn" }},
		{"header session of an event kind", func(s *rules.ParserSpec) { s.Session = "header" }},
		{"bad set", func(s *rules.ParserSpec) { s.Set = map[string]string{"status": "abc"} }},
		{"unknown set", func(s *rules.ParserSpec) { s.Set = map[string]string{"colour": "red"} }},
		{"glob class", func(s *rules.ParserSpec) { s.Programs = []string{"post[fx]"} }},
		{"nothing to match", func(s *rules.ParserSpec) { s.Patterns = nil }},
	}
	for _, tt := range tests {
		s := base
		tt.mutate(&s)
		_, err := Compile([]rules.ParserSpec{s}, Options{})
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "parse: rule r (x.yaml:7): ") {
			t.Errorf("%s: error %q does not name the rule", tt.name, err)
		}
	}
}

func TestRegexpRule(t *testing.T) {
	specs := []rules.ParserSpec{{Name: "re", Programs: []string{"app"}, Service: "app", Kind: "auth_failure",
		Regexps: []string{`^login failed for (?P<user>\S+) from (?P<source>\S+) at (?P<time_iso8601>\S+)$`}}}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, "Nov 23 08:00:01 h app[3]: login failed for bob from 192.0.2.5 at 2026-01-02T03:04:05Z", "",
		want{rule: "re", event: true, source: "192.0.2.5", user: "bob", time: "2026-01-02T03:04:05Z"})
	check(t, p, "Nov 23 08:00:01 h app[3]: login failed for bob from 192.0.2.5x at 2026-01-02T03:04:05Z", "", want{})
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		glob, name string
		want       bool
	}{
		{"postfix/*", "postfix/smtpd", true},
		{"postfix/*", "postfix/a/b", false},
		{"postfix/*", "postfix", false},
		{"courier*", "courierpop3login", true},
		{"sshd?", "sshd2", true},
		{"*", "anything", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	}
	for _, tt := range tests {
		if got := globMatch([]byte(tt.glob), []byte(tt.name)); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.glob, tt.name, got)
		}
	}
}

var allocLines = []struct{ name, line string }{
	{"sshd", "Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2"},
	{"sshd-invalid", "Nov 23 08:00:01 web sshd[1234]: Invalid user admin from 198.51.100.7 port 50022"},
	{"nginx-combined", `192.0.2.9 - - [23/Nov/2026:08:01:02 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11; Linux x86_64)"`},
	{"json", `{"ts":1700000000.25,"request":{"remote_ip":"192.0.2.22","method":"POST","host":"h","uri":"/a\u0041","headers":{"User-Agent":["M"]}},"size":1,"status":401}`},
	{"session", "Nov 28 09:16:05 srv sshd[32310]: Disconnecting: Too many authentication failures for git [preauth]"},
	{"no-match", "Nov 23 08:00:03 web systemd[1]: Started Session 42 of user alice."},
	{"no-match-sshd", "Nov 23 08:00:03 web sshd[77]: Server listening on 0.0.0.0 port 22."},
	{"glob", "Nov 23 08:00:04 mail courierpop3login: LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.10]"},
	{"glob-no-match", "Nov 23 08:00:04 mail postfix/qmgr[9]: 4F1A2: removed"},
}

func TestParseAllocs(t *testing.T) {
	p := newParser(t)
	var ev event.Event
	for _, l := range allocLines {
		line := []byte(l.line)
		if n := testing.AllocsPerRun(200, func() { p.Parse(line, "", &ev) }); n != 0 {
			t.Errorf("%s: %v allocs per line, want 0", l.name, n)
		}
	}
	line := []byte("Failed password for root from 192.0.2.1 port 22 ssh2")
	if n := testing.AllocsPerRun(200, func() { p.Parse(line, "sshd", &ev) }); n != 0 {
		t.Errorf("hint: %v allocs per line, want 0", n)
	}
}

func BenchmarkParse(b *testing.B) {
	p := newParser(b)
	for _, l := range allocLines {
		line := []byte(l.line)
		b.Run(l.name, func(b *testing.B) {
			var ev event.Event
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			n, start := 0, cpuTime()
			for b.Loop() {
				p.Parse(line, "", &ev)
				n++
			}
			if cpu := cpuTime() - start; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
			}
		})
	}
}

// FuzzParse feeds lines (split on '\n', so that sessions span lines) and
// checks that Parse never panics and that every event blames an address
// written in one of the lines fed so far.
func FuzzParse(f *testing.F) {
	for _, l := range allocLines {
		f.Add([]byte(l.line))
	}
	f.Add([]byte("Nov 28 09:16:03 srv sshd[1]: Connection from 192.0.2.111 port 57910 on 192.0.2.1 port 22\nNov 28 09:16:05 srv sshd[1]: Disconnecting: Too many authentication failures for git [preauth]"))
	f.Add([]byte(`www.example.org:80 192.0.2.2 - - [10/Oct/2000:13:55:36 +0000] "GET /.env HTTP/1.1" 404 196 "-" "Go"`))
	f.Add([]byte(`{"remote_addr":"192.0.2.15","request":"GET / HTTP/1.1","status":"200","body_bytes_sent":"3"}`))
	f.Add([]byte("2026/11/23 08:01:03 [error] 1#0: *1 user \"a\" was not found in \"/f\", client: 192.0.2.13, server: s, request: \"GET / HTTP/1.1\", host: \"h\""))
	p, err := Compile(testRules(), Options{Location: time.UTC, Reference: ref, MaxSessions: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		clear(p.sessions.sets) // sessions span the lines of one input only
		var ev event.Event
		lines := bytes.Split(in, []byte("\n"))
		for i, line := range lines {
			for _, hint := range []string{"", "sshd"} {
				res := p.Parse(line, hint, &ev)
				if res.Rule < -1 || res.Rule >= p.NumRules() {
					t.Fatalf("rule %d", res.Rule)
				}
				if !res.Event {
					continue
				}
				if !ev.Source.IsValid() || ev.Source.Is4In6() || ev.Source.Zone() != "" {
					t.Fatalf("%q: bad source %v", line, ev.Source)
				}
				if !writtenIn(ev.Source, lines[:i+1]) {
					t.Fatalf("%q: source %v is not written in the input", line, ev.Source)
				}
			}
		}
	})
}

// writtenIn reports whether some substring of the lines is a token for a.
func writtenIn(a netip.Addr, lines [][]byte) bool {
	for _, l := range lines {
		for i := range l {
			for j := i + 1; j <= len(l) && j-i <= 64; j++ {
				if b, ok := textmatch.ParseToken(l[i:j]); ok && b == a {
					return true
				}
			}
		}
	}
	return false
}

func TestLearnedProgramsBounded(t *testing.T) {
	p := newParser(t)
	var ev event.Event
	for i := 0; i < maxLearned+500; i++ {
		line := "Nov 23 08:00:04 h prog" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + ": hello"
		p.Parse([]byte(line), "", &ev)
	}
	if len(p.learned) > maxLearned {
		t.Fatalf("%d programs remembered", len(p.learned))
	}
	check(t, p, "Nov 23 08:00:04 mail courierpop3login: LOGIN FAILED, user=bob, ip=[203.0.113.10]", "",
		want{rule: "courier", event: true, source: "203.0.113.10"})
}

// BenchmarkYardstick times a fixed piece of standard-library work next to
// the parser benchmarks: on a shared, overloaded machine ns/op of both
// inflate alike, so Parse's cost can be read as a multiple of this one.
func BenchmarkYardstick(b *testing.B) {
	in := []byte("Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2")
	lit := []byte(" port ")
	n, start := 0, cpuTime()
	for b.Loop() {
		if bytes.Index(in, lit) < 0 {
			b.Fatal("no")
		}
		if _, err := netip.ParseAddr("192.0.2.1"); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}
