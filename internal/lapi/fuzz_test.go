package lapi

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

func TestFormatDuration(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 59 * time.Second, time.Minute, 61 * time.Second,
		time.Hour, 4*time.Hour - 2*time.Second, 100 * time.Hour, -time.Second, -90 * time.Minute, 1500 * time.Millisecond} {
		if got := string(appendDuration(nil, d)); got != d.String() {
			t.Errorf("appendDuration(%v) = %q, want %q", d, got, d.String())
		}
	}
}

func TestAppendDecisionIsJSON(t *testing.T) {
	d := store.DecisionRecord{ID: 42, Decision: event.Decision{
		Type: event.Ban, Scope: netip.MustParsePrefix("2001:db8::7/128"),
		Until: t0.Add(time.Hour), Scenario: "odd \"name\"\n\x01\xff<é>", Origin: "herd",
	}}
	b := appendDecision(nil, &d, t0)
	var w wireDecision
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := wireDecision{ID: 42, Origin: "herd", Type: "ban", Scope: "Ip", Value: "2001:db8::7",
		Duration: "1h0m0s", Scenario: "odd \"name\"\n\x01\uFFFD<é>", Until: "2026-11-23T09:00:00Z"}
	if w != want {
		t.Errorf("decoded %+v\nwant    %+v", w, want)
	}
}

// FuzzJSONString checks appendJSONString against encoding/json: the output
// always decodes, to the input with invalid UTF-8 replaced.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "ssh", "a\"b\\c", "\x00\x1f\x7f", "é\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q gave %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want && got != fixEach(s) {
			t.Fatalf("%q round-tripped to %q, want %q", s, got, want)
		}
	})
}

// fixEach replaces each invalid byte by U+FFFD, as encoding/json does
// (strings.ToValidUTF8 replaces a run of them by one).
func fixEach(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// FuzzDecisionQuery feeds arbitrary query strings to both query parsers and
// the filter: no panic, and a parsed filter's address fields are valid
// unmapped values.
func FuzzDecisionQuery(f *testing.F) {
	for _, s := range []string{"", "ip=192.0.2.7", "range=198.51.100.0/24&contains=false", "scope=Ip&value=1.2.3.4",
		"origins=herd,,community&scenarios_containing=SSH&scenarios_not_containing=http", "startup=true&scopes=ip,range",
		"ip=%zz", "ip=::ffff:1.2.3.4", "range=::ffff:1.2.3.0/120", "ip=fe80::1%25eth0", "type=ban&type=captcha"} {
		f.Add(s)
	}
	ds := []store.DecisionRecord{
		{ID: 1, Decision: event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("192.0.2.7/32"), Scenario: "herd/ssh", Origin: "herd"}},
		{ID: 2, Decision: event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("198.51.100.0/24"), Scenario: "herd/HTTP", Origin: "community"}},
		{ID: 3, Decision: event.Decision{Type: event.Captcha, Scope: netip.MustParsePrefix("2001:db8::/64"), Scenario: "", Origin: "cli"}},
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, stream := range []bool{false, true} {
			q, err := parseQuery(raw, stream)
			if err != nil {
				continue
			}
			if q.ip.IsValid() && (q.ip.Is4In6() || q.ip.Zone() != "") {
				t.Fatalf("%q: ip %v not unmapped and zoneless", raw, q.ip)
			}
			if q.rng.IsValid() && q.rng != q.rng.Masked() {
				t.Fatalf("%q: range %v not masked", raw, q.rng)
			}
			for i := range ds {
				q.match(&ds[i])
			}
		}
	})
}

// FuzzForwardedFor feeds arbitrary X-Forwarded-For and X-Real-IP values to
// forwardedClient, checked against a slow reference: split every header
// line on commas, walk from the right past trusted proxies.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range [][2]string{{"192.0.2.7", ""}, {"192.0.2.7, 10.1.2.3", ""}, {"junk, 192.0.2.7", ""},
		{"", "192.0.2.9"}, {" , ,", "2001:db8::1"}, {"[2001:db8::1]:443", ""}, {"10.1.0.1,10.1.0.2", ""},
		{"192.0.2.7\n, 10.1.0.1", ""}, {"fe80::1%eth0", ""}} {
		f.Add(s[0], s[1])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, xff, realIP string) {
		h := http.Header{}
		if xff != "" {
			// Two header lines when there is a ';', to cover that case.
			for line := range strings.SplitSeq(xff, ";") {
				h.Add("X-Forwarded-For", line)
			}
		}
		if realIP != "" {
			h.Set("X-Real-Ip", realIP)
		}
		got, ok := forwardedClient(h, trusted)
		want, wok := referenceForwarded(h, trusted)
		if got != want || ok != wok {
			t.Fatalf("xff %q real %q: got %v %v, reference %v %v", xff, realIP, got, ok, want, wok)
		}
		if ok && (!got.IsValid() || got.Is4In6() || got.Zone() != "") {
			t.Fatalf("xff %q real %q: %v is not a clean address", xff, realIP, got)
		}
	})
}

func referenceForwarded(h http.Header, trusted []netip.Prefix) (netip.Addr, bool) {
	var items []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, it := range strings.Split(line, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
	}
	var last netip.Addr
	for i, n := len(items)-1, 0; i >= 0 && n < maxForwardedHops; i, n = i-1, n+1 {
		a, ok := parseForwarded(items[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !trustedBy(trusted, a) {
			return a, true
		}
		last = a
	}
	if last.IsValid() {
		return last, true
	}
	if v := strings.TrimSpace(h.Get("X-Real-Ip")); v != "" {
		return parseForwarded(v)
	}
	return netip.Addr{}, false
}
