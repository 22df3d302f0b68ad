package textmatch

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// match compiles tmpl, matches msg and returns the captures by field name.
func match(t *testing.T, tmpl, msg string) (map[string]string, bool) {
	t.Helper()
	tp, err := Compile(tmpl)
	if err != nil {
		t.Fatalf("Compile(%q): %v", tmpl, err)
	}
	var c Captures
	if !tp.Match([]byte(msg), &c) {
		return nil, false
	}
	got := map[string]string{}
	for f := Field(0); f < NumFields; f++ {
		if b, ok := c.Get(f, []byte(msg)); ok {
			got[f.String()] = string(b)
		}
	}
	if c.Has(FieldSource) {
		got["addr"] = c.Source.String()
	}
	return got, true
}

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		name, tmpl, msg string
		want            map[string]string // nil: no match
	}{
		{
			"sshd failed password",
			"Failed password for %{user} from %{source} port %{port} ssh2",
			"Failed password for root from 192.0.2.1 port 22 ssh2",
			map[string]string{"user": "root", "source": "192.0.2.1", "addr": "192.0.2.1", "port": "22"},
		},
		{
			// CVE-2013-7176 family: the attacker writes " from <victim> port 22" into the user name.
			"injected address in user name",
			"Failed password for invalid user %{user} from %{source} port %{port} ssh2",
			"Failed password for invalid user x from 10.9.9.9 port 22 from 192.0.2.7 port 4242 ssh2",
			map[string]string{"user": "x from 10.9.9.9 port 22", "source": "192.0.2.7", "addr": "192.0.2.7", "port": "4242"},
		},
		{
			"injected tail without port is not enough",
			"Failed password for %{user} from %{source} port %{port} ssh2",
			"Failed password for x from 10.9.9.9 port 22 ssh2 from 192.0.2.7",
			nil,
		},
		{
			"ipv4 with port",
			"%{source}:%{port} %{*}",
			"1.2.3.4:5678 hello",
			map[string]string{"source": "1.2.3.4", "addr": "1.2.3.4", "port": "5678"},
		},
		{
			"bracketed ipv6 with port",
			"%{source}:%{port} %{*}",
			"[2001:db8::1]:22 x",
			map[string]string{"source": "[2001:db8::1]", "addr": "2001:db8::1", "port": "22"},
		},
		{
			"unbracketed ipv6 with port is ambiguous and refused",
			"%{source}:%{port} %{*}",
			"2001:db8::1:22 x",
			nil,
		},
		{
			"ipv4-mapped address is unmapped",
			"from %{source}",
			"from ::ffff:192.0.2.33",
			map[string]string{"source": "::ffff:192.0.2.33", "addr": "192.0.2.33"},
		},
		{
			"zone dropped",
			"from %{source} x",
			"from fe80::1%eth0 x",
			map[string]string{"source": "fe80::1%eth0", "addr": "fe80::1"},
		},
		{
			"host name refused",
			"from %{source}",
			"from example.com",
			nil,
		},
		{
			"leading zeros refused",
			"from %{source}",
			"from 192.030.0.6",
			nil,
		},
		{
			"partial address refused: trailing digits",
			"from %{source}%{*}",
			"from 1.2.3.45",
			map[string]string{"source": "1.2.3.45", "addr": "1.2.3.45"},
		},
		{
			"partial address refused: out of range",
			"from %{source}%{*}",
			"from 1.2.3.456",
			nil,
		},
		{
			"partial address refused: five fields",
			"from %{source}%{*}",
			"from 1.2.3.4.5",
			nil,
		},
		{
			"address then sentence end",
			"Connection closed by %{source}%{*}",
			"Connection closed by 192.0.2.4. bye",
			map[string]string{"source": "192.0.2.4", "addr": "192.0.2.4"},
		},
		{
			"address as a hostname prefix refused",
			"from %{source}%{*}",
			"from 1.2.3.4.example.com",
			nil,
		},
		{
			"source after a capture must start a word",
			"%{user}%{source} x",
			"ab1.2.3.4 x",
			nil,
		},
		{
			"greedy user keeps the real trailing fields",
			"user %{user} from %{source}",
			"user a from 1.1.1.1 from 2.2.2.2",
			map[string]string{"user": "a from 1.1.1.1", "source": "2.2.2.2", "addr": "2.2.2.2"},
		},
		{
			"empty user",
			"user %{user} from %{source}",
			"user  from 2.2.2.2",
			map[string]string{"user": "", "source": "2.2.2.2", "addr": "2.2.2.2"},
		},
		{
			"word captures backtrack",
			"%{path}?%{*}",
			"/a?b?c",
			map[string]string{"path": "/a?b"},
		},
		{
			"status is three digits",
			"%{status} %{bytes}",
			"2000 12",
			nil,
		},
		{
			"bytes dash",
			"%{status} %{bytes}",
			"404 -",
			map[string]string{"status": "404", "bytes": "-"},
		},
		{
			"port range",
			"port %{port}",
			"port 65536",
			nil,
		},
		{
			"combined log",
			`%{source} - %{user} [%{time:clf}] "%{request}" %{status} %{bytes} "%{*}" "%{ua}"`,
			`192.0.2.9 - - [10/Oct/2000:13:55:36 -0700] "GET /x.php?a=1 HTTP/1.1" 404 153 "-" "Mozilla/5.0 (x) \"q\""`,
			map[string]string{"source": "192.0.2.9", "addr": "192.0.2.9", "user": "-", "time": "10/Oct/2000:13:55:36 -0700",
				"request": "GET /x.php?a=1 HTTP/1.1", "method": "GET", "path": "/x.php?a=1", "proto": "HTTP/1.1",
				"status": "404", "bytes": "153", "ua": `Mozilla/5.0 (x) \"q\"`},
		},
		{
			"garbage request keeps status",
			`%{source} "%{request}" %{status}`,
			`192.0.2.9 "\x16\x03\x01" 400`,
			map[string]string{"source": "192.0.2.9", "addr": "192.0.2.9", "request": `\x16\x03\x01`, "status": "400"},
		},
		{
			"rfc3164 time",
			"%{time:rfc3164} %{host} %{*}",
			"Oct  1 14:32:52 web1 hello",
			map[string]string{"time": "Oct  1 14:32:52", "host": "web1"},
		},
		{
			"iso time with zone",
			"%{time:iso8601} [%{source}]:%{port}",
			"2024-01-02T03:04:05.678+01:00 [::ffff:1.2.3.4]:80",
			map[string]string{"time": "2024-01-02T03:04:05.678+01:00", "source": "::ffff:1.2.3.4", "addr": "1.2.3.4", "port": "80"},
		},
		{
			"literal percent",
			"100%% %{_}",
			"100% done",
			map[string]string{},
		},
		{
			"lone percent is literal",
			"50% %{_}",
			"50% done",
			map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := match(t, tt.tmpl, tt.msg)
			if tt.want == nil {
				if ok {
					t.Fatalf("matched %v, want no match", got)
				}
				return
			}
			if !ok {
				t.Fatalf("no match, want %v", tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestTrailingTextNeedsStar(t *testing.T) {
	if got, ok := match(t, "Invalid user %{user} from %{source}", "Invalid user bob from 192.0.2.1 port 22"); ok {
		t.Fatalf("matched %v: a template ends where the message ends", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tmpl := range []string{
		"", "%{nope}", "%{source", "%{source} %{source}", "%{time:weird}", "%{time}",
		"%{request} %{method}", "%{path} %{request}",
	} {
		if _, err := Compile(tmpl); err == nil {
			t.Errorf("Compile(%q) succeeded, want error", tmpl)
		}
	}
}

func TestPrefilterLiteral(t *testing.T) {
	tp, err := Compile("Failed %{_} for %{user} from %{source} port %{port} ssh2")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(tp.Prefilter()); got != "Failed " {
		t.Errorf("Prefilter = %q", got)
	}
	tp, _ = Compile("Accepted publickey for %{user} from %{source}%{*}")
	if got := string(tp.Prefilter()); got != "Accepted publickey for " {
		t.Errorf("Prefilter = %q", got)
	}
}

func TestSplitRequest(t *testing.T) {
	tests := []struct{ in, method, target, proto string }{
		{"GET / HTTP/1.1", "GET", "/", "HTTP/1.1"},
		{"GET /a b HTTP/1.0", "GET", "/a b", "HTTP/1.0"},
		{"POST /login", "POST", "/login", ""},
		{"-", "", "", ""},
		{"", "", "", ""},
		{"GET", "", "", ""},
		{"G3T / HTTP/1.1", "", "", ""},
		{"\\x16\\x03\\x01", "", "", ""},
	}
	for _, tt := range tests {
		m, p, pr, ok := SplitRequest([]byte(tt.in))
		var gm, gp, gpr string
		if ok {
			gm, gp = tt.in[m.Start:m.End], tt.in[p.Start:p.End]
			if pr.Start >= 0 {
				gpr = tt.in[pr.Start:pr.End]
			}
		}
		if gm != tt.method || gp != tt.target || gpr != tt.proto {
			t.Errorf("SplitRequest(%q) = %q %q %q, want %q %q %q", tt.in, gm, gp, gpr, tt.method, tt.target, tt.proto)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	tp, _ := Compile(`%{source} - %{user} [%{time:clf}] "%{request}" %{status} %{bytes} "%{*}" "%{ua}"`)
	msg := []byte(`2001:db8::7 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "curl"`)
	ssh, _ := Compile("Failed password for invalid user %{user} from %{source} port %{port} ssh2")
	sshMsg := []byte("Failed password for invalid user x from 10.9.9.9 port 22 from 192.0.2.7 port 4242 ssh2")
	var c Captures
	if n := testing.AllocsPerRun(100, func() {
		if !tp.Match(msg, &c) || !ssh.Match(sshMsg, &c) {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Errorf("Match: %v allocs, want 0", n)
	}
}

func TestMatchStepBound(t *testing.T) {
	tp, _ := Compile("%{*} %{*} %{*} %{*} %{*}x")
	msg := []byte(strings.Repeat("a ", 2000))
	var c Captures
	if tp.Match(msg, &c) {
		t.Fatal("matched")
	}
}

// TestLongInjectedUser checks that the work bound leaves room for a long
// line whose user name is stuffed with fake clauses: the real tail still wins.
func TestLongInjectedUser(t *testing.T) {
	user := strings.Repeat("x from 10.9.9.9 port 22 ssh2 ", 250) // ~7 KB
	msg := "Failed password for invalid user " + user + " from 192.0.2.7 port 4242 ssh2"
	got, ok := match(t, "Failed %{_} for invalid user %{user} from %{source} port %{_} ssh2", msg)
	if !ok || got["addr"] != "192.0.2.7" || got["user"] != user {
		t.Fatalf("ok %v addr %q", ok, got["addr"])
	}
	got, ok = match(t, "error: PAM: %{*} for illegal user %{user} from %{source}",
		"error: PAM: "+strings.Repeat("a for illegal user b ", 100)+"for illegal user "+user+" from 192.0.2.8")
	if !ok || got["addr"] != "192.0.2.8" {
		t.Fatalf("two greedy captures: ok %v addr %q", ok, got["addr"])
	}
}

func TestCapturesSourceValue(t *testing.T) {
	tp, _ := Compile("from %{source}")
	var c Captures
	if !tp.Match([]byte("from [::ffff:10.0.0.1]"), &c) || c.Source != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("Source = %v", c.Source)
	}
}

func BenchmarkTemplateMatch(b *testing.B) {
	cases := []struct{ name, tmpl, msg string }{
		{"sshd", "Failed password for %{user} from %{source} port %{port} ssh2", "Failed password for root from 192.0.2.1 port 22 ssh2"},
		{"sshd-invalid", "Failed password for invalid user %{user} from %{source} port %{port} ssh2", "Failed password for invalid user admin from 2001:db8::1 port 50022 ssh2"},
		{"combined", `%{source} - %{user} [%{time:clf}] "%{request}" %{status} %{bytes} "%{*}" "%{ua}"`,
			`192.0.2.9 - - [10/Oct/2000:13:55:36 -0700] "GET /wp-login.php HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11; Linux x86_64)"`},
	}
	for _, tc := range cases {
		tp, err := Compile(tc.tmpl)
		if err != nil {
			b.Fatal(err)
		}
		msg := []byte(tc.msg)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var c Captures
			n, start := 0, cpuTime()
			for b.Loop() {
				if !tp.Match(msg, &c) {
					b.Fatal("no match")
				}
				n++
			}
			reportCPU(b, n, start)
		})
	}
}

// BenchmarkTemplateWorstCase measures a message built to make the matcher
// backtrack as much as MaxWork allows: two greedy captures, each with
// hundreds of candidate ends, and a tail that never matches.
func BenchmarkTemplateWorstCase(b *testing.B) {
	tp, err := Compile("error: PAM: %{*} for illegal user %{user} from %{source}")
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("error: PAM: " + strings.Repeat(" for illegal user ", 150) + strings.Repeat(" from 1.2.3.4x", 150) + " from 1.2.3.4x")
	var c Captures
	b.ReportAllocs()
	n, start := 0, cpuTime()
	for b.Loop() {
		if tp.Match(msg, &c) {
			b.Fatal("matched")
		}
		n++
	}
	reportCPU(b, n, start)
}

// reportCPU adds the CPU time per operation since start to b's results.
func reportCPU(b *testing.B, n int, start time.Duration) {
	if cpu := cpuTime() - start; cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}
