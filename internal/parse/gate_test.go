package parse

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// A rule whose patterns all start with literal text (templates, and
// regexps anchored by ^ on literal text) is skipped when the message starts
// with none of them, before its prefilter is scanned; the gate changes
// speed only: an explicit prefilter still applies, and a rule with a
// pattern that starts otherwise is not gated.
func TestPrefixGate(t *testing.T) {
	specs := []rules.ParserSpec{
		{Name: "explicit", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_failure",
			Prefilter: []string{"ssh2"}, Patterns: []string{"Bad key from %{source} port %{port} %{*}"}},
		{Name: "two", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_failure",
			Patterns: []string{"Failed password for %{user} from %{source} port %{port} ssh2", "Failed none for %{user} from %{source} port %{port}"}},
		{Name: "inner", Programs: []string{"sshd"}, Service: "ssh", Kind: "auth_failure",
			Patterns: []string{"Bad %{_} from %{source} via pam"}},
		{Name: "capture-first", Programs: []string{"sshd"}, Service: "ssh", Kind: "scan",
			Patterns: []string{"%{_} probe from %{source}"}},
		{Name: "regexp", Programs: []string{"sshd"}, Service: "ssh", Kind: "scan",
			Regexps: []string{`^Probing by (?P<source>\S+)$`}},
		{Name: "regexp-free", Programs: []string{"sshd"}, Service: "ssh", Kind: "scan",
			Regexps: []string{`Sweep from (?P<source>\S+) seen`}},
		{Name: "mixed", Programs: []string{"sshd"}, Service: "ssh", Kind: "scan", Prefilter: []string{"knock"},
			Patterns: []string{"Port knock from %{source}"}, Regexps: []string{`^(?:Early )?knock by (?P<source>\S+)$`}},
	}
	p, err := Compile(specs, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	gates := map[string]struct {
		gated, implies bool
	}{
		"explicit": {true, false}, "two": {true, true}, "inner": {true, false}, "capture-first": {false, false},
		"regexp": {true, true}, "regexp-free": {false, false}, "mixed": {false, false},
	}
	for i := range p.rules {
		r := &p.rules[i]
		g := gates[r.name]
		if (r.prefixes != nil) != g.gated || r.prefixImpliesPrefilter != g.implies {
			t.Errorf("%s: gated %v implies %v, want %v %v", r.name, r.prefixes != nil, r.prefixImpliesPrefilter, g.gated, g.implies)
		}
	}
	const h = "Nov 23 08:00:00 web sshd[7]: "
	for _, tt := range []struct{ msg, rule string }{
		{"Bad key from 192.0.2.1 port 22 ssh2", "explicit"},
		{"Bad key from 192.0.2.1 port 22 rsa", ""}, // the explicit prefilter holds
		{"Failed password for root from 192.0.2.2 port 22 ssh2", "two"},
		{"Failed none for root from 192.0.2.3 port 22", "two"},
		{"Failed publickey for root from 192.0.2.3 port 22", ""},
		{"Bad user from 192.0.2.4 via pam", "inner"},
		{"sweeping probe from 192.0.2.5", "capture-first"},
		{"Probing by 192.0.2.6", "regexp"},
		{"Early Probing by 192.0.2.6", ""},
		{"Sweep from 192.0.2.7 seen", "regexp-free"},
		{"A Sweep from 192.0.2.7 seen", "regexp-free"},
		{"Port knock from 192.0.2.8", "mixed"},
		{"Early knock by 192.0.2.9", "mixed"},
		{"knock by 192.0.2.9", "mixed"},
		{"Failed  password for root from 192.0.2.2 port 22 ssh2", ""},
	} {
		check(t, p, h+tt.msg, "", want{rule: tt.rule, event: tt.rule != ""})
	}
}

// The rules of the last program are kept between lines: lines of exact,
// glob-matched, unknown and very long program names, in any order, parse
// as each does on a fresh parser.
func TestProgramRulesCache(t *testing.T) {
	long := strings.Repeat("x", maxCachedProgram+1)
	lines := []string{}
	for _, l := range allocLines {
		lines = append(lines, l.line)
	}
	lines = append(lines,
		"Nov 23 08:00:05 web "+long+"[1]: Failed password for root from 192.0.2.1 port 22 ssh2",
		"Nov 23 08:00:05 web sshd-session[1]: Failed password for root from 192.0.2.2 port 22 ssh2",
		"Nov 23 08:00:06 mail courierpop3login: LOGIN FAILED, user=bob, ip=[::ffff:203.0.113.11]",
	)
	wants := make([]event.Event, len(lines))
	wress := make([]Result, len(lines))
	for i, line := range lines {
		wress[i] = newParser(t).Parse([]byte(line), "", &wants[i])
	}
	p := newParser(t)
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		i := r.IntN(len(lines))
		line, want, wres := lines[i], &wants[i], wress[i]
		var got event.Event
		gres := p.Parse([]byte(line), "", &got)
		if gres.Rule != wres.Rule || gres.Event != wres.Event || got.Source != want.Source || string(got.User) != string(want.User) {
			t.Fatalf("%q: rule %d event %v source %v user %q; fresh parser: rule %d event %v source %v user %q",
				line, gres.Rule, gres.Event, got.Source, got.User, wres.Rule, wres.Event, want.Source, want.User)
		}
	}
}

// closingQuote agrees with a byte-by-byte reading of escapes on texts of
// quotes, backslashes and letters in every arrangement up to six bytes,
// and on longer random ones.
func TestClosingQuote(t *testing.T) {
	ref := func(b []byte) int {
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i
			}
		}
		return -1
	}
	alphabet := []byte{'"', '\\', 'a'}
	var all func(prefix []byte, n int)
	all = func(prefix []byte, n int) {
		if got, want := closingQuote(prefix), ref(prefix); got != want {
			t.Fatalf("closingQuote(%q) = %d, want %d", prefix, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			all(append(prefix, c), n-1)
		}
	}
	all(nil, 6)
	r := rand.New(rand.NewPCG(7, 8))
	for range 10000 {
		b := make([]byte, r.IntN(200))
		for i := range b {
			switch r.IntN(20) {
			case 0:
				b[i] = '"'
			case 1:
				b[i] = '\\'
			default:
				b[i] = 'x'
			}
		}
		if got, want := closingQuote(b), ref(b); got != want {
			t.Fatalf("closingQuote(%q) = %d, want %d", b, got, want)
		}
	}
}
