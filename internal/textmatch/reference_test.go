package textmatch

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// This file holds a slow, readable reference matcher for the template
// language, written from docs/CONTRACTS.md independently of the fast one:
// it re-parses the template text, tries every extent of every capture from
// the longest to the shortest, and checks tokens with net/netip and
// timestamps with regular expressions. FuzzTemplate holds the two together.

type refPart struct {
	lit    string // literal text, when name == ""
	name   string // capture name ("source", "*", "time")
	layout string
}

var refCaptureRE = regexp.MustCompile(`%%|%\{[^}]*\}`)

func refParse(tmpl string) []refPart {
	var parts []refPart
	addLit := func(s string) {
		if s == "" {
			return
		}
		if n := len(parts); n > 0 && parts[n-1].name == "" {
			parts[n-1].lit += s
			return
		}
		parts = append(parts, refPart{lit: s})
	}
	last := 0
	for _, m := range refCaptureRE.FindAllStringIndex(tmpl, -1) {
		addLit(tmpl[last:m[0]])
		last = m[1]
		tok := tmpl[m[0]:m[1]]
		if tok == "%%" {
			addLit("%")
			continue
		}
		name := tok[2 : len(tok)-1]
		if l, ok := strings.CutPrefix(name, "time:"); ok {
			parts = append(parts, refPart{name: "time", layout: l})
		} else {
			parts = append(parts, refPart{name: name})
		}
	}
	addLit(tmpl[last:])
	return parts
}

var refTimeRE = map[string]*regexp.Regexp{
	"clf":     regexp.MustCompile(`^\d{1,2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}( [+-]\d{4})?`),
	"iso8601": regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?`),
	"apache":  regexp.MustCompile(`^[A-Za-z]{3} [A-Za-z]{3} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(\.\d{1,9})? \d{4}`),
	"nginx":   regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}`),
	"rfc3164": regexp.MustCompile(`^[A-Za-z]{3} {1,2}\d{1,2} (\d{4} )?\d{2}:\d{2}:\d{2}(\.\d{1,9})?`),
	"unix":    regexp.MustCompile(`^\d{1,19}(\.\d{1,9})?`),
	"mysql":   regexp.MustCompile(`^ ?(\d{6}|\d{4}-\d{2}-\d{2}) {1,2}\d{1,2}:\d{2}:\d{2}`),
	"dmy":     regexp.MustCompile(`^\d{2}-(\d{2}|[A-Za-z]{3})-\d{4} \d{2}:\d{2}:\d{2}(\.\d{1,9})?( [+-]\d{4})?`),
	"tai64n":  regexp.MustCompile(`^@[0-9a-fA-F]{24}`),
}

func init() {
	refTimeRE["rfc3339"] = refTimeRE["iso8601"]
	refTimeRE["3proxy"] = refTimeRE["dmy"]
}

type refMatcher struct {
	parts []refPart
	msg   []byte
	caps  Captures
	steps int
}

// refMatch reports whether msg matches tmpl and what it captured; budget is
// false when the search was abandoned as too long.
func refMatch(tmpl string, msg []byte) (caps Captures, ok, budget bool) {
	m := &refMatcher{parts: refParse(tmpl), msg: msg, steps: 1 << 20}
	m.caps.Reset()
	ok = m.try(0, 0)
	if ok && m.caps.Has(FieldRequest) {
		splitRequest(msg, &m.caps)
	}
	return m.caps, ok, m.steps >= 0
}

func (m *refMatcher) try(i, pos int) bool {
	m.steps--
	if m.steps < 0 {
		return false
	}
	if i == len(m.parts) {
		return pos == len(m.msg)
	}
	p := m.parts[i]
	if p.name == "" {
		return bytes.HasPrefix(m.msg[pos:], []byte(p.lit)) && m.try(i+1, pos+len(p.lit))
	}
	for end := len(m.msg); end >= pos; end-- {
		ok, addr := m.valid(i, pos, end)
		if !ok {
			continue
		}
		saved := m.caps
		if f, isField := FieldByName(p.name); isField {
			m.caps.put(f, pos, end)
			if f == FieldSource {
				m.caps.Source = addr
			}
		}
		if m.try(i+1, end) {
			return true
		}
		m.caps = saved
	}
	return false
}

func refIsDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func (m *refMatcher) after(end int) byte {
	if end < len(m.msg) {
		return m.msg[end]
	}
	return 0
}

// valid reports whether msg[pos:end] is an acceptable extent for part i.
func (m *refMatcher) valid(i, pos, end int) (bool, netip.Addr) {
	p, s := m.parts[i], m.msg[pos:end]
	switch p.name {
	case "*", "user", "ua", "request":
		return true, netip.Addr{}
	case "_", "method", "path", "proto", "host":
		return len(s) > 0 && !bytes.ContainsAny(s, " \t\n\v\f\r"), netip.Addr{}
	case "status":
		return len(s) == 3 && refIsDigits(s) && !refIsDigits([]byte{m.after(end)}), netip.Addr{}
	case "port":
		n, err := strconv.Atoi(string(s))
		return refIsDigits(s) && len(s) <= 5 && err == nil && n <= 65535 && !refIsDigits([]byte{m.after(end)}), netip.Addr{}
	case "bytes":
		if string(s) == "-" {
			return true, netip.Addr{}
		}
		return refIsDigits(s) && len(s) <= 18 && !refIsDigits([]byte{m.after(end)}), netip.Addr{}
	case "time":
		loc := refTimeRE[p.layout].FindIndex(m.msg[pos:])
		return loc != nil && loc[1] == len(s), netip.Addr{}
	case "source":
		return m.validSource(i, pos, end)
	}
	panic("unknown capture " + p.name)
}

const refAddrChars = "0123456789abcdefABCDEF.:"

func refIsZone(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("_-.", c) >= 0
}

func refIsAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// refAddr parses "addr" or "addr%zone" with net/netip.
func refAddr(s string) (a netip.Addr, zoned, ok bool) {
	addr, zone, zoned := strings.Cut(s, "%")
	if zoned && (zone == "" || strings.IndexFunc(zone, func(r rune) bool { return r > 127 || !refIsZone(byte(r)) }) >= 0) {
		return a, zoned, false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || (zoned && !a.Is6()) {
		return a, zoned, false
	}
	return a.Unmap(), zoned, true
}

func (m *refMatcher) validSource(i, pos, end int) (bool, netip.Addr) {
	s := string(m.msg[pos:end])
	if strings.HasPrefix(s, "[") {
		inner, closed := strings.CutSuffix(s[1:], "]")
		if !closed || strings.Contains(inner, "]") {
			return false, netip.Addr{}
		}
		a, _, ok := refAddr(inner)
		return ok, a
	}
	// An unbracketed token that follows a capture must not continue a word.
	if i > 0 && m.parts[i-1].name != "" && pos > 0 {
		if c := m.msg[pos-1]; refIsAlnum(c) || c == '.' || c == ':' {
			return false, netip.Addr{}
		}
	}
	addrPart, _, _ := strings.Cut(s, "%")
	if strings.Trim(addrPart, refAddrChars) != "" {
		return false, netip.Addr{}
	}
	a, zoned, ok := refAddr(s)
	if !ok {
		return false, netip.Addr{}
	}
	if end == len(m.msg) {
		return true, a
	}
	c := m.msg[end]
	var next byte
	if end+1 < len(m.msg) {
		next = m.msg[end+1]
	}
	switch {
	case zoned && refIsZone(c): // the zone runs on
		return false, a
	case refIsAlnum(c), c == '%':
		return false, a
	case c == '.' && refIsAlnum(next):
		return false, a
	case c == ':' && !zoned && !strings.Contains(addrPart, ".") && (strings.IndexByte("0123456789abcdefABCDEF:", next) >= 0 && next != 0):
		return false, a
	}
	return true, a
}

var fuzzTemplates = []string{
	"Failed password for %{user} from %{source} port %{port} ssh2",
	"Failed password for invalid user %{user} from %{source} port %{port}%{*}",
	"%{source}:%{port} %{*}",
	"%{*}from %{source}%{*}",
	"%{source} - %{user} [%{time:clf}] \"%{request}\" %{status} %{bytes} \"%{*}\" \"%{ua}\"",
	"%{host} %{source} %{_} %{_}",
	"%{time:iso8601} %{*} [%{source}]:%{port}",
	"%{time:rfc3164} %{_} %{*}",
	"%{time:mysql} %{*}",
	"%{time:unix} %{source}",
	"%{method} %{path} %{proto}",
	"%{user}@%{source}",
	"%{*}%{source}%{*}",
	"rhost=%{source}%{*}",
	"100%% %{*}",
	"[%{time:apache}] [%{_}] [client %{source}] %{*}",
	"%{time:nginx} [error] %{*}, client: %{source}, %{*}",
	"%{time:dmy} %{source} %{*}",
	"%{time:tai64n} %{*}%{source}",
}

func FuzzTemplate(f *testing.F) {
	msgs := []string{
		"Failed password for root from 192.0.2.1 port 22 ssh2",
		"Failed password for x from 10.9.9.9 port 22 from 192.0.2.7 port 4242 ssh2",
		"Failed password for invalid user a b from 2001:db8::1 port 65535",
		"1.2.3.4:5678 hello",
		"[2001:db8::1]:22 x",
		"2001:db8::1:22 x",
		"hello from fe80::1%eth0 and more",
		"192.0.2.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a b HTTP/1.1\" 200 2326 \"-\" \"curl/8\"",
		"2024-01-02T03:04:05.678Z x y [::ffff:1.2.3.4]:80",
		"Oct  1 14:32:52 h rest",
		"190501  2:00:00 x",
		"1700000000.5 1.2.3.4",
		"user@1.2.3.45",
		"x1.2.3.4 1.2.3.4.5 ::1",
		"[Wed Oct 11 14:32:52.123456 2000] [error] [client 1.2.3.4] x",
		"2000/10/11 14:32:52 [error] 12#0: x, client: 1.2.3.4, server: y",
		"11-06-2013 02:09:40 +0300 1.2.3.4 z",
		"@4000000053b2c8a60b1a2c3d from 1.2.3.4",
	}
	for i, tmpl := range fuzzTemplates {
		f.Add(tmpl, []byte(msgs[i%len(msgs)]))
		f.Add(tmpl, []byte(msgs[(i+3)%len(msgs)]))
	}
	f.Fuzz(func(t *testing.T, tmpl string, msg []byte) {
		if len(msg) > 256 || len(tmpl) > 256 {
			return
		}
		tp, err := Compile(tmpl)
		if err != nil {
			return
		}
		var got Captures
		ok, exhausted := tp.run(msg, &got)
		want, wantOK, finished := refMatch(tmpl, msg)
		if exhausted || !finished {
			return
		}
		if ok != wantOK {
			t.Fatalf("template %q on %q: fast %v, reference %v", tmpl, msg, ok, wantOK)
		}
		if ok && !got.Equal(&want) {
			t.Fatalf("template %q on %q:\nfast      %+v\nreference %+v", tmpl, msg, got, want)
		}
	})
}

// TestReferenceAgrees runs the fuzz seeds as a plain test, every template
// against every seed message.
func TestReferenceAgrees(t *testing.T) {
	msgs := []string{
		"Failed password for root from 192.0.2.1 port 22 ssh2",
		"Failed password for x from 10.9.9.9 port 22 from 192.0.2.7 port 4242 ssh2",
		"1.2.3.4:5678 hello", "[2001:db8::1]:22 x", "2001:db8::1:22 x",
		"hello from fe80::1%eth0 and more", "user@1.2.3.45", "x1.2.3.4 1.2.3.4.5 ::1",
		"192.0.2.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a b HTTP/1.1\" 200 2326 \"-\" \"curl/8\"",
	}
	matched := 0
	for _, tmpl := range fuzzTemplates {
		tp, err := Compile(tmpl)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tmpl, err)
		}
		for _, msg := range msgs {
			var got Captures
			ok := tp.Match([]byte(msg), &got)
			want, wantOK, _ := refMatch(tmpl, []byte(msg))
			if ok != wantOK || (ok && !got.Equal(&want)) {
				t.Errorf("template %q on %q: fast %v %+v, reference %v %+v", tmpl, msg, ok, got, wantOK, want)
			}
			if ok {
				matched++
			}
		}
	}
	if matched < 10 {
		t.Errorf("only %d template/message pairs matched; the seeds no longer exercise the matchers", matched)
	}
}
