package parse

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// familyGolden holds, per family, lines that the default rules turn into an
// event blaming the address in the line's comment-free form (want). They
// are the records a file of that family carries.
var familyGolden = []struct {
	fam   Family
	line  string
	want  string
	extra string // a second record of the same file, for Detect
}{
	{FamilySyslog, "Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2", "192.0.2.1",
		"Nov 23 08:00:02 web CRON[99]: pam_unix(cron:session): session opened for user root"},
	{FamilySyslog, "2026-11-23T08:00:01.123456+00:00 web sshd[1234]: Invalid user admin from 192.0.2.2 port 4242", "192.0.2.2", ""},
	{FamilyJournal, `{"__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web","SYSLOG_IDENTIFIER":"sshd","_PID":"321","_UID":"0","_COMM":"sshd-session","_EXE":"/usr/lib/openssh/sshd-session","_SYSTEMD_UNIT":"ssh.service","MESSAGE":"Failed password for root from 192.0.2.3 port 22 ssh2"}`, "192.0.2.3", ""},
	{FamilyCLF, `192.0.2.10 - - [23/Nov/2026:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"`, "192.0.2.10",
		`2001:db8::10 - - [23/Nov/2026:08:00:02 +0000] "POST /wp-login.php HTTP/1.1" 200 4521 "-" "Mozilla/5.0"`},
	{FamilyVhost, `www.example.org:443 192.0.2.11 - - [23/Nov/2026:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8"`, "192.0.2.11",
		`example.org:80 2001:db8::11 - - [23/Nov/2026:08:00:02 +0000] "GET / HTTP/1.1" 200 10 "-" "curl/8"`},
	{FamilyJSONAccess, `{"time":"2026-11-23T08:00:04+00:00","remote_addr":"198.51.100.12","request_method":"GET","request_uri":"/wp-admin/setup-config.php","status":404,"body_bytes_sent":0,"http_user_agent":"Mozilla/5.0","host":"example.org"}`, "198.51.100.12", ""},
	{FamilyNginxError, `2026/11/23 08:01:05 [error] 2035#2035: *287 access forbidden by rule, client: 192.0.2.24, server: www.example.org, request: "GET /.git/config HTTP/1.1", host: "www.example.org"`, "192.0.2.24",
		`2026/11/23 08:01:06 [notice] 1#1: signal process started`},
	{FamilyApacheError, `[Mon Nov 23 08:05:10 2026] [error] [client 198.51.100.70] File does not exist: /srv/www/pma, referer: http://example.org/`, "198.51.100.70",
		`[Mon Nov 23 08:02:00.453232 2026] [auth_basic:error] [pid 17512:tid 140123079128832] [client 198.51.100.30:51386] AH01618: user wrongusername not found: /basic/file`},
	{FamilyVsftpd, `Mon Nov 23 08:00:03 2026 [pid 27202] [bob] FAIL LOGIN: Client "192.0.2.12"`, "192.0.2.12",
		`Mon Nov 23 08:00:04 2026 [pid 27203] CONNECT: Client "192.0.2.13"`},
	{FamilyMySQL, `2026-11-23  8:00:01 139845235329792 [Warning] Access denied for user 'root'@'192.0.2.14' (using password: YES)`, "192.0.2.14",
		`261123  8:00:02 [Warning] Access denied for user 'admin'@'192.0.2.15' (using password: NO)`},
	{FamilyDovecot, `2026-11-23 08:05:00 imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<test>, method=PLAIN, rip=192.0.2.30, lip=192.0.2.1, TLS, session=<1MyTfu0USIqsFQAB>`, "192.0.2.30",
		`2026-11-23 08:05:02 auth-worker(default): Info: pam(username,198.51.100.30): pam_authenticate() failed: Authentication failure (password mismatch?)`},
	{FamilyAsterisk, `[2026-11-23 08:00:01] NOTICE[1638] chan_sip.c: Registration from '<sip:301@example.org>' failed for '192.0.2.40' - Wrong password`, "192.0.2.40",
		`[Nov 23 08:00:02] VERBOSE[1638] pbx.c: Executing [s@default:1] Answer("SIP/301", "") in new stack`},
	{FamilyExim, `2026-11-23 08:00:01 [7513] SMTP protocol error in "AUTH LOGIN" H=(ylmf-pc) [192.0.2.41]:60723 I=[192.0.2.1]:587 AUTH command used when not advertised`, "192.0.2.41",
		`2026-11-23 08:00:02 exim 4.96 daemon started: pid=1, -q30m, listening for SMTP on port 25 (IPv4)`},
	{FamilyExim, `2026-11-23 08:00:03 login authenticator failed for (helo) [192.0.2.42]: 535 Incorrect authentication data (set_id=bob)`, "192.0.2.42", ""},
	{FamilyFreeswitch, `2026-11-23 08:00:01.385000 96.03% [WARNING] sofia_reg.c:3223 Can't find user [2501@192.0.2.1] from 192.0.2.43`, "192.0.2.43",
		`2026-11-23 08:00:02.767815 [DEBUG] sofia.c:7954 IP 192.0.2.44 Rejected by acl "domains". Falling back to Digest auth.`},
	{FamilyFreeswitch, `11-23 08:00:03.026292 [WARN] [SOFIA] [sofia_reg.c:2248] SIP auth failure (INVITE) on sofia profile 'external' for [1001@192.0.2.1] from ip 192.0.2.46`, "192.0.2.46", ""},
	{FamilyBind, `23-Nov-2026 08:00:05.330 client @0x7f4e45c07a48 192.0.2.45#55956 (example.ca): zone transfer 'example.ca/AXFR/IN' denied`, "192.0.2.45",
		`23-Nov-2026 08:00:06.330 general: info: zone example.ca/IN: loaded serial 1`},
	{FamilyMongoDB, `{"t":{"$date":"2026-11-23T08:00:01.903+00:00"},"s":"I",  "c":"ACCESS",   "id":20249,   "ctx":"conn1","msg":"Authentication failed","attr":{"mechanism":"SCRAM-SHA-256","speculative":false,"principalName":"root","authenticationDatabase":"admin","remote":"192.0.2.47:4071","extraInfo":{},"error":"AuthenticationFailed: SCRAM authentication failed, storedKey mismatch"}}`, "192.0.2.47",
		`{"t":{"$date":"2026-11-23T08:00:02.000+00:00"},"s":"I",  "c":"NETWORK",  "id":22943,   "ctx":"listener","msg":"Connection accepted","attr":{"remote":"192.0.2.1:50000","connectionId":1,"connectionCount":1}}`},
	{FamilyPostgres, `2026-11-23 08:00:01.536 UTC [147] 192.0.2.48 someone@postgres FATAL:  password authentication failed for user "someone"`, "192.0.2.48",
		`2026-11-23 08:00:00.001 UTC [1] LOG:  database system is ready to accept connections`},
	{FamilyPostgres, `192.0.2.49 2026-11-23 08:00:02.425 UTC [53962] zysk@postgres FATAL:  password authentication failed for user "zysk"`, "192.0.2.49", ""},
	{FamilyRoundcube, `[23-Nov-2026 08:00:17 +0000]: <4z506z6r> Failed login for admin@example.org from 192.0.2.46 in session 4z506z6rvddstv6k7jz08hxo27 (error: 0)`, "192.0.2.46",
		`[23-Nov-2026 08:00:18 +0000]: <4z506z6r> Successful login for admin@example.org (ID: 1) from 192.0.2.1 in session 4z506z6r`},
}

func defaultParser(t testing.TB, o Options) *Parser {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	o.Location, o.Reference = time.UTC, ref
	p, err := Compile(set.Parsers, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFamilyNames(t *testing.T) {
	for f := range numFamilies {
		g, ok := FamilyByName(f.String())
		if !ok || g != f {
			t.Errorf("FamilyByName(%q) = %v, %v", f, g, ok)
		}
	}
	for _, alias := range []string{"common", "combined"} {
		if f, _ := FamilyByName(alias); f != FamilyCLF {
			t.Errorf("%s: %v", alias, f)
		}
	}
	if _, ok := FamilyByName("sshd"); ok {
		t.Error("FamilyByName accepted an unknown name")
	}
	// rules.RawFamilies is what rule files may name: each must be a raw family here.
	for _, n := range rules.RawFamilies {
		if f, ok := FamilyByName(n); !ok || !f.raw() {
			t.Errorf("rules.RawFamilies %q is not a raw family of parse", n)
		}
	}
}

// TestDefaultRawRulesHaveFamily: a raw rule without a family would never
// meet a line of a bound source. Every default raw rule must get one.
func TestDefaultRawRulesHaveFamily(t *testing.T) {
	p := defaultParser(t, Options{})
	for i := range p.NumRules() {
		if p.Rule(i).Raw && len(p.RawFamily(i)) == 0 {
			t.Errorf("raw rule %s (%s:%d): no family inferred; give it family:", p.Rule(i).Name, p.Rule(i).Pos.File, p.Rule(i).Pos.Line)
		}
	}
}

// TestFamilyGolden is the positive control: each family's records give
// their event when parsed as that family.
func TestFamilyGolden(t *testing.T) {
	p := defaultParser(t, Options{})
	var ev event.Event
	for _, g := range familyGolden {
		res := p.ParseAs([]byte(g.line), g.fam, "", &ev)
		if !res.Event || ev.Source != netip.MustParseAddr(g.want) {
			t.Errorf("%s: %q: %+v source %v, want %s", g.fam, g.line, res, ev.Source, g.want)
		}
	}
}

// TestContinuationNeverParsed hunts the class "any format in any file":
// for every family, every other family's record, written into a file of the
// first family (as raw newlines in a PHP message or a stack trace put it
// there), yields no event, whatever address it names.
func TestContinuationNeverParsed(t *testing.T) {
	p := defaultParser(t, Options{})
	var ev event.Event
	for f := FamilySyslog; f < numFamilies; f++ {
		if f == FamilyMessage {
			continue // a program's bare messages: no record prefix to hold
		}
		for _, g := range familyGolden {
			if g.fam == f || (f == FamilyCLF && g.fam == FamilyVhost) || (f == FamilyVhost && g.fam == FamilyCLF) {
				continue
			}
			for _, line := range []string{g.line, g.extra, " " + g.line, "\t" + g.line} {
				if line == "" || strings.TrimSpace(line) == "" {
					continue
				}
				res := p.ParseAs([]byte(line), f, "", &ev)
				if res.Event {
					t.Errorf("a %s record inside a %s file gave an event for %v (rule %s): %q", g.fam, f, ev.Source, p.Rule(res.Rule).Name, line)
				}
			}
		}
	}
}

// TestPHPStderrForgery: the concrete attack of the class above. PHP-FPM's
// stderr reaches the nginx and Apache error logs with raw newlines; the
// text after one is the attacker's.
func TestPHPStderrForgery(t *testing.T) {
	p := defaultParser(t, Options{})
	const decoy = "203.0.113.66"
	forged := []string{
		"Nov 23 08:00:01 host sshd[1]: Failed password for root from " + decoy + " port 1 ssh2",
		decoy + ` - - [23/Nov/2026:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "x"`,
		`{"remote_addr":"` + decoy + `","status":404,"request":"GET /.env HTTP/1.1"}`,
		"[Mon Nov 23 08:05:10 2026] [error] [client " + decoy + "] File does not exist: /srv/www/pma",
		`Mon Nov 23 08:00:03 2026 [pid 1] [bob] FAIL LOGIN: Client "` + decoy + `"`,
	}
	files := map[Family]string{
		FamilyNginxError:  `2026/11/23 08:01:05 [error] 2035#2035: *287 FastCGI sent in stderr: "PHP message: PHP Warning:  login failed for user x` + "\n%s\" while reading response header from upstream, client: 192.0.2.50, server: example.org",
		FamilyApacheError: "[Mon Nov 23 08:05:10.123456 2026] [proxy_fcgi:error] [pid 1:tid 2] [client 192.0.2.51:4242] AH01071: Got error 'PHP message: login failed\n%s'",
		FamilyCLF:         `192.0.2.52 - - [23/Nov/2026:08:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "x"` + "\n2026/11/23 08:01:05 [error] 1#1: *1 access forbidden by rule, client: " + decoy + ", server: s, request: \"GET / HTTP/1.1\", host: \"h\"\n%s",
		FamilySyslog:      "Nov 23 08:00:01 web php-fpm[1]: message\n%s",
	}
	var ev event.Event
	for fam, text := range files {
		for _, fl := range forged {
			if f, _ := p.Detect([]byte(fl + "\n")); f == fam {
				// A forged record of the file's own format is not told
				// from a real one by its start: that is the daemon's
				// escaping to prevent (docs/sources.md).
				continue
			}
			for _, line := range strings.Split(fmt.Sprintf(text, fl), "\n") {
				res := p.ParseAs([]byte(line), fam, "", &ev)
				if res.Event && ev.Source == netip.MustParseAddr(decoy) {
					t.Errorf("%s file: line %q blamed the decoy (rule %s)", fam, line, p.Rule(res.Rule).Name)
				}
			}
		}
	}
}

func TestDetect(t *testing.T) {
	p := defaultParser(t, Options{})
	for _, g := range familyGolden {
		head := g.line + "\n"
		if g.extra != "" {
			head += g.extra + "\n"
		}
		f, ok := p.Detect([]byte(head))
		if !ok || f != g.fam {
			t.Errorf("Detect(%q) = %v, %v; want %v", head, f, ok, g.fam)
		}
	}
	for _, c := range []struct {
		head string
		want Family
	}{
		{"Nov 23 08:05:04 auth(info@example.com,198.51.100.32,sasl:plain)<CvN+E95Uf4e7eEnk>: Info: sql: Password mismatch\n", FamilyDovecot},
		{"Nov 23 08:05:04 imap-login: Info: Login: user=<u>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2\n", FamilyDovecot},
		{"2026-11-23 08:00:01 0 [Note] Starting MariaDB 10.11.6 as process 1\n", FamilyMySQL},
		{"240101 12:00:00 mysqld_safe Starting mariadbd daemon with databases from /var/lib/mysql\n", FamilyMySQL},
		{"2024-01-01T00:00:00.123456Z 0 [System] [MY-010116] [Server] /usr/sbin/mysqld (mysqld 8.0.36) starting as process 1\n", FamilyMySQL},
		{"2024-01-01T00:00:00.123456+00:00 web sshd[1]: Server listening on 0.0.0.0 port 22.\n", FamilySyslog},
		{"<38>1 2024-01-01T00:00:00Z web sshd 1 - - Server listening\n", FamilySyslog},
		// Applications' own JSON logs (Nextcloud, GitLab, ModSecurity's
		// audit log): objects that are not access lines.
		{`{"reqId":"a","level":1,"time":"2022-01-16T15:42:37+00:00","remoteAddr":"192.0.2.1","user":"--","app":"core","method":"GET","url":"/","message":"x"}` + "\n", FamilyJSONAccess},
		{`{"transaction":{"client_ip":"192.0.2.1","time_stamp":"Mon Nov 23 08:00:34 2026"}}` + "  \n", FamilyJSONAccess},
	} {
		if f, ok := p.Detect([]byte(c.head)); !ok || f != c.want {
			t.Errorf("Detect(%q) = %v, %v; want %v", c.head, f, ok, c.want)
		}
	}
	if _, ok := p.Detect(nil); ok {
		t.Error("Detect of an empty head: ok")
	}
	if _, ok := p.Detect([]byte("hello world\nno format here\n")); ok {
		t.Error("Detect of free text: ok")
	}
	if _, ok := p.Detect([]byte("{ not closed\n")); ok {
		t.Error("Detect of an unclosed brace: ok")
	}
	// The first record decides: any number of lines of another format
	// after it (continuations an attacker wrote) do not outvote it.
	head := "\n  \n# written by logrotate\n" + familyGolden[6].line + "\n" + strings.Repeat(familyGolden[0].line+"\n", 100)
	if f, _ := p.Detect([]byte(head)); f != FamilyNginxError {
		t.Errorf("first record: %v", f)
	}
	// A first line of no known format is final: no later line is asked.
	head = "[23-Nov-2026 08:00:00] WARNING: [pool www] child 1 said into stderr\n" + familyGolden[0].line + "\n"
	if f, ok := p.Detect([]byte(head)); ok {
		t.Errorf("unknown first line: detected %v from a later line", f)
	}
}

// TestVhostByPosition: in vhost_combined the virtual host comes first and
// may be whatever the client's Host: header said, an address included. The
// client is the second field, by position.
func TestVhostByPosition(t *testing.T) {
	p := defaultParser(t, Options{})
	var ev event.Event
	const client = "192.0.2.77"
	for _, vhost := range []string{"203.0.113.9", "203.0.113.9:80", "[2001:db8::9]:443", "2001:db8::9", "::ffff:203.0.113.9", "example.org", "-"} {
		line := vhost + " " + client + ` - - [23/Nov/2026:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "x"`
		res := p.ParseAs([]byte(line), FamilyVhost, "", &ev)
		if !res.Event || ev.Source != netip.MustParseAddr(client) {
			t.Errorf("vhost %q: %+v source %v, want %s", vhost, res, ev.Source, client)
		}
	}
	// A CLF file never takes a second field for the client.
	line := `example.org 192.0.2.78 - - [23/Nov/2026:08:00:01 +0000] "GET / HTTP/1.1" 404 1 "-" "x"`
	if res := p.ParseAs([]byte(line), FamilyCLF, "", &ev); res.Event {
		t.Errorf("clf file took %v from a vhost line", ev.Source)
	}
	// A line whose layout no file declares (sent through syslog, or
	// FamilyAny) is vhost_combined when its second field is an address:
	// the address-looking vhost is never the client.
	for _, fam := range []Family{FamilyAny, FamilySyslog} {
		line := "203.0.113.9 " + client + ` - - [23/Nov/2026:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "x"`
		if fam == FamilySyslog {
			line = "Nov 23 08:00:01 web apache2: " + line
		}
		res := p.ParseAs([]byte(line), fam, "", &ev)
		if !res.Event || ev.Source != netip.MustParseAddr(client) {
			t.Errorf("%s: %q: %+v source %v, want %s", fam, line, res, ev.Source, client)
		}
	}
	// Detection reads a first line with an address for a vhost as
	// vhost_combined.
	if f, _ := p.Detect([]byte("203.0.113.9 " + client + ` - - [23/Nov/2026:08:00:01 +0000] "GET / HTTP/1.1" 404 1 "-" "x"` + "\n")); f != FamilyVhost {
		t.Errorf("Detect, address vhost: %v", f)
	}
	// A vhost_combined file detected from its name-first lines stays so
	// for a line whose vhost is an address.
	head := familyGolden[4].line + "\n" + familyGolden[4].extra + "\n203.0.113.9 " + client + ` - - [23/Nov/2026:08:00:01 +0000] "GET / HTTP/1.1" 404 1 "-" "x"` + "\n"
	if f, _ := p.Detect([]byte(head)); f != FamilyVhost {
		t.Errorf("Detect: %v, want vhost_combined", f)
	}
}

// TestJSONClientFields: by default a JSON access line's client is the
// server's peer address only; client_ip and header-filled fields count
// only when configured.
func TestJSONClientFields(t *testing.T) {
	const peer, header = "192.0.2.80", "203.0.113.80"
	lines := []string{
		`{"remote_addr":"` + peer + `","client_ip":"` + header + `","http_x_forwarded_for":"` + header + `","status":404,"request":"GET / HTTP/1.1"}`,
		`{"client_ip":"` + header + `","remote_addr":"` + peer + `","status":404,"request":"GET / HTTP/1.1"}`,
		`{"ts":1700000000.25,"request":{"client_ip":"` + header + `","remote_ip":"` + peer + `","method":"GET","uri":"/","headers":{"X-Forwarded-For":["` + header + `"]}},"status":404}`,
		`{"ts":1700000000.25,"request":{"remote_ip":"` + peer + `","client_ip":"` + header + `","method":"GET","uri":"/"},"status":404}`,
	}
	var ev event.Event
	p := defaultParser(t, Options{})
	for _, l := range lines {
		if res := p.ParseAs([]byte(l), FamilyJSONAccess, "", &ev); !res.Event || ev.Source != netip.MustParseAddr(peer) {
			t.Errorf("default: %q: %+v %v, want %s", l, res, ev.Source, peer)
		}
	}
	// Without a peer field, a header-filled field alone gives nothing.
	only := `{"client_ip":"` + header + `","http_x_forwarded_for":"` + header + `","status":404}`
	if res := p.ParseAs([]byte(only), FamilyJSONAccess, "", &ev); res.Event {
		t.Errorf("default: took %v from client_ip", ev.Source)
	}
	// Configured, the operator's field comes first.
	p = defaultParser(t, Options{JSONClientFields: []string{"request.client_ip", "client_ip", "remote_addr"}})
	for _, l := range lines {
		if res := p.ParseAs([]byte(l), FamilyJSONAccess, "", &ev); !res.Event || ev.Source != netip.MustParseAddr(header) {
			t.Errorf("configured: %q: %+v %v, want %s", l, res, ev.Source, header)
		}
	}
	set, _ := rules.Defaults()
	for _, bad := range [][]string{{}, {"request"}, {"a.b"}, {"x", "x"}, {"remote_addr", "a", "b", "c", "d", "e", "f", "g", "h"}, {"request."}} {
		if _, err := Compile(set.Parsers, Options{JSONClientFields: bad}); err == nil {
			t.Errorf("JSONClientFields %q: no error", bad)
		}
	}
}

// journalEntry builds a `journalctl -o json` line.
func journalEntry(ident, comm, exe, unit, uid, msg string) string {
	var b strings.Builder
	b.WriteString(`{"__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web","_PID":"321"`)
	for _, kv := range [][2]string{{"SYSLOG_IDENTIFIER", ident}, {"_COMM", comm}, {"_EXE", exe}, {"_SYSTEMD_UNIT", unit}, {"_UID", uid}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, `,"%s":"%s"`, kv[0], kv[1])
		}
	}
	fmt.Fprintf(&b, `,"MESSAGE":"%s"}`, msg)
	return b.String()
}

// TestJournalIdentity: an entry is attributed by what journald itself
// records about its sender, never by SYSLOG_IDENTIFIER alone.
func TestJournalIdentity(t *testing.T) {
	p := defaultParser(t, Options{})
	const x = "203.0.113.7"
	ssh := "Failed password for root from " + x + " port 1 ssh2"
	smtpd := "warning: unknown[" + x + "]: SASL LOGIN authentication failed: authentication failure"
	cases := []struct {
		name                        string
		ident, comm, exe, unit, uid string
		msg                         string
		believed                    bool
	}{
		{"logger as a user", "sshd", "logger", "/usr/bin/logger", "session-3.scope", "1000", ssh, false},
		{"logger as root", "sshd", "logger", "/usr/bin/logger", "session-3.scope", "0", ssh, false},
		{"systemd-cat in a user unit", "sshd", "cat", "/usr/bin/cat", "user@1000.service", "1000", ssh, false},
		{"a user's own binary called sshd", "sshd", "sshd", "/home/eve/sshd", "session-3.scope", "1000", ssh, false},
		{"no trusted fields", "sshd", "", "", "", "", ssh, false},
		{"sshd in its unit", "sshd", "sshd", "/usr/sbin/sshd", "ssh.service", "0", ssh, true},
		{"sshd-session (OpenSSH 9.8+)", "sshd", "sshd-session", "/usr/lib/openssh/sshd-session", "ssh.service", "0", ssh, true},
		{"socket-activated sshd", "sshd", "sshd", "/usr/sbin/sshd", "sshd@3-192.0.2.1:22-203.0.113.7:4242.service", "0", ssh, true},
		{"root sshd outside systemd", "sshd", "sshd", "/usr/sbin/sshd", "", "0", ssh, true},
		{"smtpd as postfix", "postfix/smtpd", "smtpd", "/usr/lib/postfix/sbin/smtpd", "postfix@-.service", "107", smtpd, true},
		{"cleanup posing as smtpd", "postfix/smtpd", "cleanup", "/usr/lib/postfix/sbin/cleanup", "postfix@-.service", "107", smtpd, false},
		{"smtpd outside postfix's unit", "postfix/smtpd", "smtpd", "/tmp/smtpd", "session-3.scope", "1000", smtpd, false},
	}
	var ev event.Event
	for _, c := range cases {
		line := journalEntry(c.ident, c.comm, c.exe, c.unit, c.uid, c.msg)
		for _, fam := range []Family{FamilyJournal, FamilyAny} {
			res := p.ParseAs([]byte(line), fam, "", &ev)
			got := res.Event && ev.Source == netip.MustParseAddr(x)
			if got != c.believed {
				t.Errorf("%s (%s): event %v, want %v (%+v)", c.name, fam, got, c.believed, res)
			}
			if !c.believed && !res.Doubt {
				t.Errorf("%s (%s): not counted as in doubt", c.name, fam)
			}
		}
	}
}

// TestParseAsAllocs: binding a family costs no allocation. A record costs
// what its rule costs under Parse (zero but for rules of Go regular
// expressions, whose matcher may allocate), a continuation nothing.
func TestParseAsAllocs(t *testing.T) {
	p := defaultParser(t, Options{})
	var ev event.Event
	for _, g := range familyGolden {
		line := []byte(g.line)
		base := testing.AllocsPerRun(200, func() { p.Parse(line, "", &ev) })
		if n := testing.AllocsPerRun(200, func() { p.ParseAs(line, g.fam, "", &ev) }); n > base {
			t.Errorf("%s %q: %v allocs per line, Parse %v", g.fam, line, n, base)
		}
		other := []byte(familyGolden[0].line)
		if g.fam == FamilySyslog {
			other = []byte(familyGolden[3].line)
		}
		if n := testing.AllocsPerRun(200, func() { p.ParseAs(other, g.fam, "", &ev) }); n != 0 {
			t.Errorf("%s continuation %q: %v allocs per line, want 0", g.fam, other, n)
		}
	}
	doubt := []byte(journalEntry("sshd", "logger", "/usr/bin/logger", "session-3.scope", "1000", "Failed password for root from 203.0.113.7 port 1 ssh2"))
	if n := testing.AllocsPerRun(200, func() { p.ParseAs(doubt, FamilyJournal, "", &ev) }); n != 0 {
		t.Errorf("journal doubt: %v allocs per line, want 0", n)
	}
}

func BenchmarkParseAs(b *testing.B) {
	p := defaultParser(b, Options{})
	for _, g := range familyGolden {
		line := []byte(g.line)
		b.Run(g.fam.String(), func(b *testing.B) {
			var ev event.Event
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				p.ParseAs(line, g.fam, "", &ev)
			}
		})
	}
}

// FuzzContinuation splits a record of each family at a fuzzed position, as
// a raw newline in attacker text would, and starts the second part with a
// forged record of another family naming a decoy: no line of the file may
// blame the decoy. Lines of arbitrary bytes in any family must not panic,
// and a continuation never gives an event.
func FuzzContinuation(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint16(40), "")
	f.Add(uint8(6), uint8(0), uint16(90), "PHP message: ")
	f.Add(uint8(3), uint8(9), uint16(0), "\x00")
	p := defaultParser(f, Options{})
	const decoy = "203.0.113.66"
	forged := make([]string, len(familyGolden))
	for i, g := range familyGolden {
		forged[i] = strings.ReplaceAll(g.line, g.want, decoy)
	}
	f.Fuzz(func(t *testing.T, gi, fi uint8, pos uint16, glue string) {
		g := familyGolden[int(gi)%len(familyGolden)]
		fg := int(fi) % len(forged)
		var ev event.Event
		// Arbitrary text as a head and as a line of every family.
		p.Detect([]byte(glue))
		for fam := range numFamilies {
			res := p.ParseAs([]byte(glue), fam, "", &ev)
			if res.Continuation && (res.Event || res.Rule >= 0) {
				t.Fatalf("%s: a continuation matched rule %d", fam, res.Rule)
			}
		}
		if k, _ := p.Detect([]byte(forged[fg] + "\n")); k == g.fam {
			return // a record of the file's own format: the daemon's escaping is what stops it
		}
		cut := int(pos) % (len(g.line) + 1)
		for _, line := range []string{g.line[:cut] + glue, forged[fg] + g.line[cut:]} {
			if strings.ContainsAny(line, "\n") {
				continue // the file reader splits there; the parts are tested on their own
			}
			res := p.ParseAs([]byte(line), g.fam, "", &ev)
			if res.Event && ev.Source == netip.MustParseAddr(decoy) {
				t.Fatalf("%s file: %q blamed the decoy (rule %s)", g.fam, line, p.Rule(res.Rule).Name)
			}
		}
	})
}

// TestRawFamilyKey: a raw rule's family: key binds it, whatever its
// patterns; without it, a rule whose family cannot be inferred meets no
// line of a bound file.
func TestRawFamilyKey(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "keyed", Raw: true, Family: "nginx-error", Service: "x", Kind: "auth_failure", Patterns: []string{"%{_} %{_} [%{_}] bad user from %{source}"}},
		{Name: "unkeyed", Raw: true, Service: "x", Kind: "auth_failure", Patterns: []string{"%{time:unix} bad login from %{source}"}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.RawFamily(0); len(got) != 1 || got[0] != "nginx-error" {
		t.Errorf("keyed: %v", got)
	}
	if got := p.RawFamily(1); len(got) != 0 {
		t.Errorf("unkeyed: %v", got)
	}
	var ev event.Event
	line := []byte("2026/11/23 08:00:00 [error] bad user from 192.0.2.9")
	if res := p.ParseAs(line, FamilyNginxError, "", &ev); !res.Event || p.Rule(res.Rule).Name != "keyed" {
		t.Errorf("keyed rule in its family: %+v", res)
	}
	if res := p.ParseAs(line, FamilyApacheError, "", &ev); res.Event {
		t.Errorf("keyed rule outside its family: %+v", res)
	}
	unix := []byte("1700000000 bad login from 192.0.2.9")
	for f := FamilySyslog; f < numFamilies; f++ {
		if res := p.ParseAs(unix, f, "", &ev); res.Event {
			t.Errorf("an unkeyed rule of no family matched in %s", f)
		}
	}
	if res := p.ParseAs(unix, FamilyAny, "", &ev); !res.Event {
		t.Errorf("FamilyAny: the unkeyed rule should still run: %+v", res)
	}
}

// TestMessageLineLikeAHeader: a line of a source bound to a program whose
// text only looks like a syslog header (Emby's "TIME Level Component:
// ..."), naming a program no rule knows, is read whole by the bound
// program's rules; a header naming a program herd knows keeps its program.
func TestMessageLineLikeAHeader(t *testing.T) {
	p := defaultParser(t, Options{})
	var ev event.Event
	for _, f := range []Family{FamilyMessage, FamilyAny} {
		res := p.ParseAs([]byte("2026-11-23 08:00:01.092 Warn Server: AUTH-ERROR: 192.0.2.9 - Invalid username or password entered."), f, "emby", &ev)
		if !res.Event || ev.Source != netip.MustParseAddr("192.0.2.9") || string(res.Program) != "emby" {
			t.Errorf("%s: Emby's own line: %+v source %v", f, res, ev.Source)
		}
		res = p.ParseAs([]byte("Nov 23 08:00:01 host sshd[1]: Failed password for root from 192.0.2.10 port 1 ssh2"), f, "emby", &ev)
		if !res.Event || string(res.Program) != "sshd" {
			t.Errorf("%s: sshd's line in emby's stream: %+v", f, res)
		}
		res = p.ParseAs([]byte("Nov 23 08:00:01 host Server: AUTH-ERROR: 192.0.2.11 - Invalid username or password entered."), f, "", &ev)
		if res.Event {
			t.Errorf("%s: a line of program Server outside a bound source gave an event: %+v", f, res)
		}
	}
}
