package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testConfig(kind string, lines int, seed uint64) config {
	return config{kind: kind, lines: lines, seed: seed, out: "-",
		start: time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC), span: 4 * time.Hour, host: "web1", attackers: 6000}
}

func gen(t testing.TB, cfg config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := generate(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lines(b []byte) []string {
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestDeterministic(t *testing.T) {
	for _, kind := range []string{"auth", "nginx"} {
		a := sha256.Sum256(gen(t, testConfig(kind, 50_000, 7)))
		b := sha256.Sum256(gen(t, testConfig(kind, 50_000, 7)))
		c := sha256.Sum256(gen(t, testConfig(kind, 50_000, 8)))
		if a != b {
			t.Errorf("%s: same seed gave different output", kind)
		}
		if a == c {
			t.Errorf("%s: different seeds gave the same output", kind)
		}
	}
}

func TestLineCount(t *testing.T) {
	for _, kind := range []string{"auth", "nginx"} {
		for _, n := range []int{0, 1, 7, 12_345} {
			out := gen(t, testConfig(kind, n, 1))
			if got := bytes.Count(out, []byte("\n")); got != n {
				t.Errorf("%s -lines %d: wrote %d lines", kind, n, got)
			}
		}
	}
}

var (
	authLine = regexp.MustCompile(`^(Nov 23) ([0-9]{2}:[0-9]{2}:[0-9]{2}) web1 (sshd|CRON|sudo|systemd-logind)\[[0-9]+\]: (.+)$`)
	// authAddr finds the address in the sshd messages that name one.
	authAddr = regexp.MustCompile(`(?: from | by (?:(?:invalid|authenticating) user \S+ )?|rhost=|with |user \S+ )([0-9a-f.:]+)(?: port |$|  user=)`)
	nginxRe  = regexp.MustCompile(`^(\S+) - - \[23/Nov/2026:([0-9:]{8}) \+0000\] "([^"]*)" ([0-9]{3}) ([0-9]+) "([^"]*)" "([^"]*)"$`)
)

// TestAuthShape checks every auth line against the RFC 3164 shape, that timestamps never go
// backwards, that addresses parse, and that the mix contains what the benchmark needs.
func TestAuthShape(t *testing.T) {
	const n = 100_000
	out := gen(t, testConfig("auth", n, 3))
	var last string
	addrs := map[netip.Addr]int{}
	v6 := 0
	counts := map[string]int{}
	for i, l := range lines(out) {
		m := authLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d: not syslog: %q", i+1, l)
		}
		if m[2] < last {
			t.Fatalf("line %d: time goes backwards: %s after %s", i+1, m[2], last)
		}
		last = m[2]
		msg := m[4]
		for _, k := range []string{"Failed password for invalid user", "Failed password for root",
			"Invalid user", "Connection closed by authenticating user", "[preauth]", "Received disconnect",
			"Disconnected from", "kex_exchange_identification", "banner exchange", "pam_unix(sshd:auth): authentication failure",
			"Accepted publickey for admin", "pam_unix(cron:session)", "New session", "COMMAND="} {
			if strings.Contains(msg, k) {
				counts[k]++
			}
		}
		if m[3] != "sshd" {
			continue
		}
		if a := authAddr.FindStringSubmatch(msg); a != nil {
			ip, err := netip.ParseAddr(a[1])
			if err != nil {
				t.Fatalf("line %d: bad address %q: %v", i+1, a[1], err)
			}
			if addrs[ip] == 0 && ip.Is6() {
				v6++
			}
			addrs[ip]++
		}
	}
	for k, n := range counts {
		t.Logf("%-45s %d", k, n)
	}
	for _, k := range []string{"Failed password for invalid user", "Failed password for root", "Invalid user",
		"Connection closed by authenticating user", "Received disconnect", "Disconnected from",
		"kex_exchange_identification", "banner exchange", "pam_unix(sshd:auth): authentication failure",
		"Accepted publickey for admin", "pam_unix(cron:session)", "New session", "COMMAND="} {
		if counts[k] == 0 {
			t.Errorf("no line with %q", k)
		}
	}
	if len(addrs) < 3000 || v6 < 100 {
		t.Errorf("%d distinct addresses, %d IPv6: want thousands, some IPv6", len(addrs), v6)
	}
	top := 0
	for _, n := range addrs {
		top = max(top, n)
	}
	if top < n/50 {
		t.Errorf("busiest address has %d of %d lines: want heavy hitters", top, n)
	}
}

func TestNginxShape(t *testing.T) {
	out := gen(t, testConfig("nginx", 100_000, 3))
	var last string
	status := map[string]int{}
	counts := map[string]int{}
	addrs := map[string]bool{}
	for i, l := range lines(out) {
		m := nginxRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d: not combined format: %q", i+1, l)
		}
		if _, err := netip.ParseAddr(m[1]); err != nil {
			t.Fatalf("line %d: bad address: %v", i+1, err)
		}
		if m[2] < last {
			t.Fatalf("line %d: time goes backwards", i+1)
		}
		last = m[2]
		addrs[m[1]] = true
		status[m[4]]++
		for _, k := range []string{"/.env", "/.git/", "POST /wp-login.php", "sqlmap", "etc/passwd", "/assets/",
			"/healthz", "Googlebot", "phpmyadmin", "/api/v1/"} {
			if strings.Contains(l, k) {
				counts[k]++
			}
		}
	}
	t.Logf("status %v", status)
	t.Logf("counts %v, %d addresses", counts, len(addrs))
	for k, n := range counts {
		if n == 0 {
			t.Errorf("no line with %q", k)
		}
	}
	if len(counts) != 10 {
		t.Errorf("only %d of 10 kinds of traffic present: %v", len(counts), counts)
	}
	if ok := status["200"] + status["304"] + status["204"]; ok*10 < len(lines(out))*6 {
		t.Errorf("%d successful of %d lines: want mostly normal traffic", ok, len(lines(out)))
	}
	if status["404"] == 0 || status["400"] == 0 {
		t.Errorf("status mix %v lacks 404 or 400", status)
	}
}

// TestTimeSpan checks that the last line lands near start+span.
func TestTimeSpan(t *testing.T) {
	out := gen(t, testConfig("auth", 100_000, 1))
	ls := lines(out)
	lastLine := ls[len(ls)-1]
	ts, err := time.Parse("Jan _2 15:04:05", lastLine[:15])
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(ts.Hour())*time.Hour + time.Duration(ts.Minute())*time.Minute
	if got < 9*time.Hour+30*time.Minute || got > 10*time.Hour+30*time.Minute {
		t.Errorf("last line at %s, want about 10:00", lastLine[:15])
	}
}

func TestFlags(t *testing.T) {
	for _, bad := range [][]string{{"-kind", "apache"}, {"-lines", "-1"}, {"-span", "0s"}, {"-start", "yesterday"},
		{"-attackers", "3"}, {"stray"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	cfg, err := parseFlags([]string{"-kind", "nginx", "-lines", "5", "-seed", "9"})
	if err != nil || cfg.kind != "nginx" || cfg.lines != 5 || cfg.seed != 9 {
		t.Errorf("parseFlags = %+v, %v", cfg, err)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, kind := range []string{"auth", "nginx"} {
		b.Run(kind, func(b *testing.B) {
			cfg := testConfig(kind, 1_000_000, 1) // large enough that building the address pools is noise
			w := bufio.NewWriterSize(io.Discard, 1<<20)
			for b.Loop() {
				if err := generate(w, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(cfg.lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
