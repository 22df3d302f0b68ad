package envelope

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var ref = time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)

func newTestParser() *Parser {
	return NewParser(Options{Location: time.UTC, Reference: ref})
}

type parseCase struct {
	line    string
	format  Format
	time    string // RFC 3339 with nanoseconds; "" for the zero time
	host    string
	program string
	pid     string
	message string
}

// parseCases is the specification of Parse: each line, what it splits into.
var parseCases = []parseCase{
	// RFC 3164 and its BSD relatives.
	{"Oct 11 22:14:15 host sshd[123]: Failed password", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "sshd", "123", "Failed password"},
	{"Mar 15 11:00:00 host sshd[123]: today", FormatRFC3164, "2025-03-15T11:00:00Z", "host", "sshd", "123", "today"},
	{"Mar 16 11:00:00 host sshd: within a day ahead", FormatRFC3164, "2025-03-16T11:00:00Z", "host", "sshd", "", "within a day ahead"},
	{"Mar 17 11:00:00 host sshd: two days ahead is last year", FormatRFC3164, "2024-03-17T11:00:00Z", "host", "sshd", "", "two days ahead is last year"},
	{"Oct 11 2025 22:14:15 host prog: with year", FormatRFC3164, "2025-10-11T22:14:15Z", "host", "prog", "", "with year"},
	{"Oct  1 02:03:04 host prog: padded day", FormatRFC3164, "2024-10-01T02:03:04Z", "host", "prog", "", "padded day"},
	{"May 9 11:11:17 sshd[30876]: Invalid user www", FormatRFC3164, "2024-05-09T11:11:17Z", "", "sshd", "30876", "Invalid user www"},
	{"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", FormatRFC3164, "2024-10-11T22:14:15Z", "mymachine", "su", "", "'su root' failed"},
	{"Oct 11 22:14:15.123456 host postfix/smtpd[99]: connect from x", FormatRFC3164, "2024-10-11T22:14:15.123456Z", "host", "postfix/smtpd", "99", "connect from x"},
	{"Oct 11 22:14:15 host sshd-session[5]: msg", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "sshd-session", "5", "msg"},
	{"Oct 11 22:14:15 web-1.example.org php-fpm_7.4[5]: msg", FormatRFC3164, "2024-10-11T22:14:15Z", "web-1.example.org", "php-fpm_7.4", "5", "msg"},
	{"Oct 11 22:14:15 host kernel:", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "kernel", "", ""},
	{"Oct 11 22:14:15 host sshd[1]:   extra spaces\r\n", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "sshd", "1", "extra spaces"},
	{"Jan  1 00:00:00 <10.5> foxtrot sshd[1234]: Invalid user admin", FormatRFC3164, "2025-01-01T00:00:00Z", "foxtrot", "sshd", "1234", "Invalid user admin"},
	{"Mar 19 23:48:18 <auth.info> pancake sshd[55517]: Invalid user r00t", FormatRFC3164, "2024-03-19T23:48:18Z", "pancake", "sshd", "55517", "Invalid user r00t"},
	{"Mar 19 23:48:18 pancake <auth.info> sshd[55517]: after host", FormatRFC3164, "2024-03-19T23:48:18Z", "pancake", "sshd", "55517", "after host"},
	{"Jun 20 02:18:39 vps auth.info sshd[13482]: Invalid user admin", FormatRFC3164, "2024-06-20T02:18:39Z", "vps", "sshd", "13482", "Invalid user admin"},
	{"Feb 29 10:00:00 host prog: leap day goes to the last leap year", FormatRFC3164, "2024-02-29T10:00:00Z", "host", "prog", "", "leap day goes to the last leap year"},
	{"OCT 11 22:14:15 host prog: upper-case month", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "prog", "", "upper-case month"},
	{"Nov 25 17:12:13 webmail pop(pam_unix)[4920]: authentication failure", FormatRFC3164, "2024-11-25T17:12:13Z", "webmail", "pop(pam_unix)", "4920", "authentication failure"},
	{"Mar 11 22:52:12   lighttpd[53690]: spaces after the stamp", FormatRFC3164, "2025-03-11T22:52:12Z", "", "lighttpd", "53690", "spaces after the stamp"},
	{"Jun 21 16:55:02   <auth.info> machine kernel: [  970.699396] x", FormatRFC3164, "2024-06-21T16:55:02Z", "machine", "kernel", "", "[  970.699396] x"},
	{"Oct 11 22:14:15 host prog: msg with [brackets]: and colons", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "prog", "", "msg with [brackets]: and colons"},

	// RFC 5424.
	{"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed", FormatRFC5424, "2003-10-11T22:14:15.003Z", "mymachine.example.com", "su", "", "BOM'su root' failed"},
	{"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time", FormatRFC5424, "2003-08-24T12:14:15.000003Z", "192.0.2.1", "myproc", "8710", "%% It's time"},
	{`<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"li]cation"][examplePriority@32473 class="high"] ` + "\xef\xbb\xbf" + `An application event`, FormatRFC5424, "2003-10-11T22:14:15.003Z", "host", "evntslog", "", "An application event"},
	{`<165>1 2003-10-11T22:14:15.003Z host app - - [id x="a\]b"]`, FormatRFC5424, "2003-10-11T22:14:15.003Z", "host", "app", "", ""},
	// RFC 5424 without "<PRI>1 " (a relay left it out): the procid must be
	// digits or "-", the structured data "-" or "[...]".
	{"2022-02-24T21:00:42.021457+00:00 evse dropbear 6052 - - Bad password attempt", FormatRFC5424, "2022-02-24T21:00:42.021457Z", "evse", "dropbear", "6052", "Bad password attempt"},
	{`2022-02-24T21:00:42Z host app - ID47 [id x="1"] msg`, FormatRFC5424, "2022-02-24T21:00:42Z", "host", "app", "", "msg"},
	{"2022-02-24T21:00:42Z host app x1 - - msg", FormatNone, "", "", "", "", "2022-02-24T21:00:42Z host app x1 - - msg"},
	{"2022-02-24T21:00:42Z host app 1 - x msg", FormatNone, "", "", "", "", "2022-02-24T21:00:42Z host app 1 - x msg"},
	{"2022-02-24 21:00:42 Error in app 1 - x", FormatNone, "", "", "", "", "2022-02-24 21:00:42 Error in app 1 - x"},
	{"<13>1 - - - - - - no time no host", FormatRFC5424, "", "", "", "", "no time no host"},
	{"1 2024-01-02T03:04:05+01:00 h sshd 42 - - without pri", FormatRFC5424, "2024-01-02T02:04:05Z", "h", "sshd", "42", "without pri"},

	// rsyslog high-precision and journald short-iso.
	{"2024-01-02T03:04:05.123456+01:00 host sshd[77]: Accepted publickey", FormatISO, "2024-01-02T02:04:05.123456Z", "host", "sshd", "77", "Accepted publickey"},
	{"2024-01-02T03:04:05Z host prog: utc", FormatISO, "2024-01-02T03:04:05Z", "host", "prog", "", "utc"},
	{"2024-01-02T03:04:05+0100 host prog: basic offset", FormatISO, "2024-01-02T02:04:05Z", "host", "prog", "", "basic offset"},
	{"2024-01-02 03:04:05 host prog[1]: space form", FormatISO, "2024-01-02T03:04:05Z", "host", "prog", "1", "space form"},
	{"2018-12-20 10:09:05.180218+0000 localhost sshd[67566]: Invalid user git", FormatISO, "2018-12-20T10:09:05.180218Z", "localhost", "sshd", "67566", "Invalid user git"},
	{"<13>2024-01-02T03:04:05Z host prog: with pri", FormatISO, "2024-01-02T03:04:05Z", "host", "prog", "", "with pri"},
	{"2015-05-27T04:31:28.10040 auth.info: May 27 04:31:28 sshd[30993]: Invalid user admin", FormatISO, "2015-05-27T04:31:28.1004Z", "", "sshd", "30993", "Invalid user admin"},
	{"2015-05-27T04:31:28.10040 auth.info: sshd[30993]:  Invalid user admin", FormatISO, "2015-05-27T04:31:28.1004Z", "", "sshd", "30993", "Invalid user admin"},
	{"2015-05-27T04:31:28.10040 auth.info: no program inside", FormatISO, "2015-05-27T04:31:28.1004Z", "", "", "", "no program inside"},
	{"2020-05-29T11:28:56.058908+02:00 bastion sshd[20974] error: PAM: rsyslog 8, no colon", FormatISO, "2020-05-29T09:28:56.058908Z", "bastion", "sshd", "20974", "error: PAM: rsyslog 8, no colon"},
	{"Oct 11 22:14:15 host sshd[1]  two spaces", FormatRFC3164, "2024-10-11T22:14:15Z", "host", "sshd", "1", "two spaces"},
	{"Mar 24 08:58:32 sogod [26818]: program, space, pid", FormatRFC3164, "2024-03-24T08:58:32Z", "", "sogod", "26818", "program, space, pid"},
	{"Mar  3 00:17:22 [sshd]: program in brackets", FormatRFC3164, "2025-03-03T00:17:22Z", "", "sshd", "", "program in brackets"},
	{"Jun 25 23:53:34 [sshd] User root from 192.0.2.1 not allowed: metalog", FormatRFC3164, "2024-06-25T23:53:34Z", "", "sshd", "", "User root from 192.0.2.1 not allowed: metalog"},
	{"Mar 24 08:58:32 host sogod [26818]: after a host", FormatRFC3164, "2024-03-24T08:58:32Z", "host", "sogod", "26818", "after a host"},

	// No time: journal message bodies, multilog's TAI64N labels.
	{"srv sshd[13709]: error: PAM: Authentication failure", FormatBare, "", "srv", "sshd", "13709", "error: PAM: Authentication failure"},
	{"sshd[13709]: no host", FormatBare, "", "", "sshd", "13709", "no host"},
	{"srv sshd-session[5]:", FormatBare, "", "srv", "sshd-session", "5", ""},
	{"@400000004c91b044077a9e94 imap-login: Info: Aborted login", FormatTAI64N, "2010-09-16T05:50:50.1254765Z", "", "imap-login", "", "Info: Aborted login"},
	{"@400000004c91b044077a9e94 dovecot[12]: with a pid", FormatTAI64N, "2010-09-16T05:50:50.1254765Z", "", "dovecot", "12", "with a pid"},
	{"2015-05-27T04:31:28.10040 myprog.x: not a facility", FormatNone, "", "", "", "", "2015-05-27T04:31:28.10040 myprog.x: not a facility"},
	{"2024-01-02 03:04:05 Error: an application's own line", FormatNone, "", "", "", "", "2024-01-02 03:04:05 Error: an application's own line"},
	{"2019-09-24T13:16:50 srv mysqld[1234]: 2019-09-24 13:16:50 8756 [Warning] x", FormatISO, "2019-09-24T13:16:50Z", "srv", "mysqld", "1234", "2019-09-24 13:16:50 8756 [Warning] x"},

	// journalctl -o json.
	{`{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web","SYSLOG_IDENTIFIER":"sshd","_PID":"321","MESSAGE":"Failed password for root"}`, FormatJournalJSON, "2023-11-14T22:13:20.123456Z", "web", "sshd", "321", "Failed password for root"},
	{`{ "MESSAGE" : "tab\there \"q\" \u00e9 \ud83d\ude00 \/" , "__REALTIME_TIMESTAMP" : "1" , "_COMM" : "my prog", "SYSLOG_PID": "9", "_N": [1, {"a": "}"}], "_T": true, "_X": null }`, FormatJournalJSON, "1970-01-01T00:00:00.000001Z", "", "my_prog", "9", "tab\there \"q\" é 😀 /"},
	{`{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":[104,105,0,255],"_COMM":"x","SYSLOG_IDENTIFIER":"y"}`, FormatJournalJSON, "2023-11-14T22:13:20Z", "", "y", "", "hi\x00\xff"},
	{`{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":42,"MESSAGE":"first key wins"}`, FormatJournalJSON, "2023-11-14T22:13:20Z", "", "", "", ""},
	{`{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":[],"_HOSTNAME":"h\u0041"}`, FormatJournalJSON, "2023-11-14T22:13:20Z", "hA", "", "", ""},
	{`{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":null}`, FormatJournalJSON, "2023-11-14T22:13:20Z", "", "", "", ""},
	{`{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"lone \ud800 surrogate"}`, FormatJournalJSON, "2023-11-14T22:13:20Z", "", "", "", "lone \uFFFD surrogate"},

	// Not envelopes: the whole line is the message.
	{"Oct 11 22:14:15 host this is not a program", FormatNone, "", "", "", "", "Oct 11 22:14:15 host this is not a program"},
	{"Oct 11 22:14:15 host last message repeated 3 times", FormatNone, "", "", "", "", "Oct 11 22:14:15 host last message repeated 3 times"},
	{"Oct 11 22:14:15 host prog[abc]: bad pid", FormatNone, "", "", "", "", "Oct 11 22:14:15 host prog[abc]: bad pid"},
	{"Oct 11 22:14:15 host prog:nospace", FormatNone, "", "", "", "", "Oct 11 22:14:15 host prog:nospace"},
	{"Oct 11 22:14:15 host", FormatNone, "", "", "", "", "Oct 11 22:14:15 host"},
	{"Oct 11 22:14:15", FormatNone, "", "", "", "", "Oct 11 22:14:15"},
	{"Feb 30 22:14:15 host prog: no such day", FormatNone, "", "", "", "", "Feb 30 22:14:15 host prog: no such day"},
	{"Oct 11 25:14:15 host prog: hour 25", FormatNone, "", "", "", "", "Oct 11 25:14:15 host prog: hour 25"},
	{"Oct 32 22:14:15 host prog: day 32", FormatNone, "", "", "", "", "Oct 32 22:14:15 host prog: day 32"},
	{"Oct  11 22:14:15 host prog: over-padded", FormatNone, "", "", "", "", "Oct  11 22:14:15 host prog: over-padded"},
	{"Foo 11 22:14:15 host prog: no month", FormatNone, "", "", "", "", "Foo 11 22:14:15 host prog: no month"},
	{"2024-13-02T03:04:05Z host prog: month 13", FormatNone, "", "", "", "", "2024-13-02T03:04:05Z host prog: month 13"},
	{"2024-01-02T03:04:05+25:00 host prog: bad zone", FormatNone, "", "", "", "", "2024-01-02T03:04:05+25:00 host prog: bad zone"},
	{"2018-06-26 13:22:02.108781500 Failed password for woold", FormatISO, "2018-06-26T13:22:02.1087815Z", "", "", "", "Failed password for woold"},
	{"2018-06-26 13:22:02.108781500 host sshd[1]: s6-log stamp, syslog header", FormatISO, "2018-06-26T13:22:02.1087815Z", "host", "sshd", "1", "s6-log stamp, syslog header"},
	{"2018-06-26 13:22:02.108781 Failed: six digits", FormatNone, "", "", "", "", "2018-06-26 13:22:02.108781 Failed: six digits"},
	{"2018-06-26T13:22:02.108781500 Failed: T separator", FormatNone, "", "", "", "", "2018-06-26T13:22:02.108781500 Failed: T separator"},
	{"2018-06-26 13:22:02.108781500Z Failed: zone", FormatNone, "", "", "", "", "2018-06-26 13:22:02.108781500Z Failed: zone"},
	{"2020-05-29T11:28:56.058908+02:00 bastion sshd error: no colon and no pid", FormatNone, "", "", "", "", "2020-05-29T11:28:56.058908+02:00 bastion sshd error: no colon and no pid"},
	{"Oct 11 22:14:15 host sshd[1]", FormatNone, "", "", "", "", "Oct 11 22:14:15 host sshd[1]"},
	{"Oct 11 22:14:15 host sshd [x]: not a pid", FormatNone, "", "", "", "", "Oct 11 22:14:15 host sshd [x]: not a pid"},
	{"srv sshd: no pid, no time", FormatNone, "", "", "", "", "srv sshd: no pid, no time"},
	{"srv sshd[12a]: bad pid", FormatNone, "", "", "", "", "srv sshd[12a]: bad pid"},
	{"srv sshd[12] no colon, no time", FormatNone, "", "", "", "", "srv sshd[12] no colon, no time"},
	{"a b sshd[12]: two words before", FormatNone, "", "", "", "", "a b sshd[12]: two words before"},
	{"2024-01-02 03:04:05 [main]: an application's own line", FormatNone, "", "", "", "", "2024-01-02 03:04:05 [main]: an application's own line"},
	{"Mar  3 00:17:22 [sshd]  two spaces", FormatNone, "", "", "", "", "Mar  3 00:17:22 [sshd]  two spaces"},
	{"Mar  3 00:17:22 [sshd] ", FormatNone, "", "", "", "", "Mar  3 00:17:22 [sshd] "},
	{"Mar  3 00:17:22 [] empty", FormatNone, "", "", "", "", "Mar  3 00:17:22 [] empty"},
	{"Error: x", FormatNone, "", "", "", "", "Error: x"},
	{"@400000004c91b044077a9e9 imap-login: short label", FormatNone, "", "", "", "", "@400000004c91b044077a9e9 imap-login: short label"},
	{"@400000004c91b044077a9e94 no program here", FormatNone, "", "", "", "", "@400000004c91b044077a9e94 no program here"},
	{"<999>Oct 11 22:14:15 host prog: pri too big", FormatNone, "", "", "", "", "<999>Oct 11 22:14:15 host prog: pri too big"},
	{"<34>1 2003-10-11T22:14:15.003Z host app - - [unterminated", FormatNone, "", "", "", "", "<34>1 2003-10-11T22:14:15.003Z host app - - [unterminated"},
	{"<34>1 2003-10-11T22:14:15.003Z host app -", FormatNone, "", "", "", "", "<34>1 2003-10-11T22:14:15.003Z host app -"},
	{`{"remote_addr":"192.0.2.1","request":"GET / HTTP/1.1","status":200}`, FormatNone, "", "", "", "", `{"remote_addr":"192.0.2.1","request":"GET / HTTP/1.1","status":200}`},
	{`{"MESSAGE":"no time"}`, FormatNone, "", "", "", "", `{"MESSAGE":"no time"}`},
	{`{"__REALTIME_TIMESTAMP":"17x","MESSAGE":"bad time"}`, FormatNone, "", "", "", "", `{"__REALTIME_TIMESTAMP":"17x","MESSAGE":"bad time"}`},
	{`{"__REALTIME_TIMESTAMP":"1","MESSAGE":"bad \q escape"}`, FormatNone, "", "", "", "", `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"bad \q escape"}`},
	{`{"__REALTIME_TIMESTAMP":"1","MESSAGE":"truncated`, FormatNone, "", "", "", "", `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"truncated`},
	{`{"__REALTIME_TIMESTAMP":"1","MESSAGE":[256]}`, FormatNone, "", "", "", "", `{"__REALTIME_TIMESTAMP":"1","MESSAGE":[256]}`},
	{`{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"} trailing`, FormatNone, "", "", "", "", `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"} trailing`},
	{"plain text line\n", FormatNone, "", "", "", "", "plain text line"},
	{"", FormatNone, "", "", "", "", ""},
	{"\x00\xff\xfe", FormatNone, "", "", "", "", "\x00\xff\xfe"},
}

func TestParse(t *testing.T) {
	p := newTestParser()
	for _, tc := range parseCases {
		var env Envelope
		ok := p.Parse([]byte(tc.line), &env)
		if ok != (tc.format != FormatNone) || env.Format != tc.format {
			t.Errorf("Parse(%q) = %v, format %v; want format %v", tc.line, ok, env.Format, tc.format)
			continue
		}
		got := ""
		if !env.Time.IsZero() {
			got = env.Time.UTC().Format(time.RFC3339Nano)
		}
		if got != tc.time {
			t.Errorf("Parse(%q) time = %q, want %q", tc.line, got, tc.time)
		}
		checkReference(t, []byte(tc.line), ok, &env)
		if string(env.Host) != tc.host || string(env.Program) != tc.program || string(env.PID) != tc.pid || string(env.Message) != tc.message {
			t.Errorf("Parse(%q) = host %q program %q pid %q message %q; want %q %q %q %q",
				tc.line, env.Host, env.Program, env.PID, env.Message, tc.host, tc.program, tc.pid, tc.message)
		}
	}
}

func TestParseLocation(t *testing.T) {
	loc := time.FixedZone("X", 3*3600)
	p := NewParser(Options{Location: loc, Reference: ref})
	var env Envelope
	if !p.Parse([]byte("Oct 11 22:14:15 host sshd: m"), &env) {
		t.Fatal("no envelope")
	}
	if want := time.Date(2024, 10, 11, 22, 14, 15, 0, loc); !env.Time.Equal(want) || env.Time.Location() != loc {
		t.Errorf("time = %v, want %v", env.Time, want)
	}
	// An explicit zone wins over Location.
	if !p.Parse([]byte("2024-10-11T22:14:15Z host sshd: m"), &env) {
		t.Fatal("no envelope")
	}
	if want := time.Date(2024, 10, 11, 22, 14, 15, 0, time.UTC); !env.Time.Equal(want) {
		t.Errorf("time = %v, want %v", env.Time, want)
	}
}

// TestParseDST checks that the zone cache agrees with time.Date across a
// year of local times in a zone with daylight saving time.
func TestParseDST(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	p := NewParser(Options{Location: loc, Reference: ref})
	var env Envelope
	for d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 2024; d = d.Add(37 * time.Minute) {
		line := d.Format("2006-01-02 15:04:05") + " h p: m"
		if !p.Parse([]byte(line), &env) {
			t.Fatalf("Parse(%q) failed", line)
		}
		want := time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, loc)
		if !env.Time.Equal(want) {
			t.Fatalf("Parse(%q) time = %v, want %v", line, env.Time, want)
		}
	}
}

func TestSetReference(t *testing.T) {
	p := newTestParser()
	var env Envelope
	line := []byte("Dec 31 23:59:59 host prog: m")
	p.SetReference(time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC))
	if !p.Parse(line, &env) || env.Time.Year() != 2025 {
		t.Errorf("December line replayed in January: year %d, want 2025", env.Time.Year())
	}
	p.SetReference(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))
	if !p.Parse(line, &env) || env.Time.Year() != 2026 {
		t.Errorf("year %d, want 2026", env.Time.Year())
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatNone: "none", FormatRFC3164: "rfc3164", FormatRFC5424: "rfc5424", FormatISO: "iso", FormatJournalJSON: "journal-json", 99: "invalid"} {
		if got := f.String(); got != want {
			t.Errorf("Format(%d).String() = %q, want %q", f, got, want)
		}
	}
}

// benchLines holds one typical line per format.
var benchLines = []struct {
	name string
	line []byte
}{
	{"RFC3164", []byte("Oct 11 22:14:15 myhost sshd[12345]: Failed password for invalid user admin from 192.0.2.7 port 52814 ssh2")},
	{"RFC3164Local", []byte("Oct 11 22:14:15 myhost sshd[12345]: Failed password for invalid user admin from 192.0.2.7 port 52814 ssh2")},
	{"RFC5424", []byte(`<34>1 2025-10-11T22:14:15.003Z myhost sshd 12345 - [meta x="1"] Failed password for invalid user admin from 192.0.2.7 port 52814 ssh2`)},
	{"ISO", []byte("2025-10-11T22:14:15.123456+02:00 myhost sshd[12345]: Failed password for invalid user admin from 192.0.2.7 port 52814 ssh2")},
	{"JournalJSON", []byte(`{"__CURSOR":"s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7c6013a8674a0a9e4c3b4e6b3c9a5f;m=13c2a9a6d;t=5f1b0e2c3a1b2;x=8d4b3e0b7a7d2c1f","__REALTIME_TIMESTAMP":"1700000000123456","__MONOTONIC_TIMESTAMP":"5305440877","_BOOT_ID":"6c7c6013a8674a0a9e4c3b4e6b3c9a5f","PRIORITY":"6","SYSLOG_FACILITY":"4","_UID":"0","_GID":"0","_SYSTEMD_SLICE":"system.slice","_MACHINE_ID":"0d6e3c1c3e6a4a0f8b8e0d6b1c2a3f4e","_HOSTNAME":"myhost","_TRANSPORT":"syslog","SYSLOG_IDENTIFIER":"sshd","_PID":"12345","_COMM":"sshd","_EXE":"/usr/sbin/sshd","_SYSTEMD_UNIT":"ssh.service","MESSAGE":"Failed password for invalid user \"admin\" from 192.0.2.7 port 52814 ssh2"}`)},
	{"Bare", []byte("myhost sshd[12345]: Failed password for invalid user admin from 192.0.2.7 port 52814 ssh2")},
	{"TAI64N", []byte("@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): user=<a>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1")},
	{"None", []byte("192.0.2.7 - - [11/Oct/2025:22:14:15 +0000] \"GET / HTTP/1.1\" 200 512")},
}

func BenchmarkParse(b *testing.B) {
	for _, bl := range benchLines {
		b.Run(bl.name, func(b *testing.B) {
			loc := time.UTC
			if bl.name == "RFC3164Local" {
				l, err := time.LoadLocation("Europe/Paris")
				if err != nil {
					b.Skip(err)
				}
				loc = l
			}
			p := NewParser(Options{Location: loc, Reference: ref})
			var env Envelope
			b.SetBytes(int64(len(bl.line)))
			b.ReportAllocs()
			for b.Loop() {
				p.Parse(bl.line, &env)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		loc = time.FixedZone("X", 3600)
	}
	for _, l := range []*time.Location{time.UTC, loc} {
		p := NewParser(Options{Location: l, Reference: ref})
		var env Envelope
		for _, tc := range parseCases {
			line := []byte(tc.line)
			if n := testing.AllocsPerRun(50, func() { p.Parse(line, &env) }); n != 0 {
				t.Errorf("Parse(%q) allocates %v times", tc.line, n)
			}
		}
		for _, bl := range benchLines {
			if n := testing.AllocsPerRun(50, func() { p.Parse(bl.line, &env) }); n != 0 {
				t.Errorf("Parse(%q) allocates %v times", bl.line, n)
			}
		}
	}
}

// checkEnvelope states the properties every Parse result must have.
func checkEnvelope(t *testing.T, line []byte, ok bool, env *Envelope) {
	t.Helper()
	trimmed := bytes.TrimRight(line, "\r\n")
	if !ok {
		if env.Format != FormatNone || !bytes.Equal(env.Message, trimmed) || !env.Time.IsZero() || env.Host != nil || env.Program != nil || env.PID != nil {
			t.Fatalf("Parse(%q) = false with envelope %+v", line, env)
		}
		return
	}
	if env.Format == FormatNone {
		t.Fatalf("Parse(%q) = true with FormatNone", line)
	}
	if bytes.ContainsAny(env.Program, " \t\r\n\x00") {
		t.Fatalf("Parse(%q): program %q holds a space", line, env.Program)
	}
	if env.Format != FormatJournalJSON && !bytes.HasSuffix(trimmed, env.Message) {
		t.Fatalf("Parse(%q): message %q is not a suffix of the line", line, env.Message)
	}
}

func TestScratchBounded(t *testing.T) {
	p := newTestParser()
	var env Envelope
	big := `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"` + strings.Repeat(`\n`, 1<<20) + `"}`
	if !p.Parse([]byte(big), &env) || len(env.Message) != 1<<20 {
		t.Fatalf("big line: %v %d", env.Format, len(env.Message))
	}
	if !p.Parse([]byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":"a\tb"}`), &env) || string(env.Message) != "a\tb" {
		t.Fatalf("small line: %q", env.Message)
	}
	if cap(p.scratch) > maxKeptScratch {
		t.Errorf("scratch keeps %d bytes after a small line", cap(p.scratch))
	}
}
