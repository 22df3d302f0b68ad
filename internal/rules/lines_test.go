package rules_test

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/ruletest"
	"github.com/herd-ips/herd/internal/textmatch"
)

// A golden case is one log line from testdata/lines/*.log and the
// expectation written on the comment line before it:
//
//	#> PARSER key=value ...   the line must produce an event from PARSER
//	#> none                   the line must produce no event
//
// Keys: source, user, kind, reason, service, port, status, method, path, proto.
// A value may be quoted ("...") to hold spaces; user="" expects an empty user.
type goldenCase struct {
	file   string
	line   int
	text   string
	parser string            // "" for none
	want   map[string]string // expected fields
}

// readGolden reads testdata/lines/*.log with the injection check's
// reader (ruletest.ReadCases), the one parser of the annotation format.
func readGolden(t *testing.T) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/lines/*.log")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden line files: %v", err)
	}
	cs, err := ruletest.ReadCaseFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	cases := make([]goldenCase, len(cs))
	for i, c := range cs {
		cases[i] = goldenCase{file: c.File, line: c.Line, text: c.Text, parser: c.Parser, want: c.Want}
	}
	return cases
}

// refParser is a slow reference matcher for the default rules, written from
// the rule-file contract alone: offer the message to every parser whose
// programs match the envelope's program (raw parsers when there is none), in
// order; the first template that matches wins. It ignores prefilters (they
// only skip work), formats (clf, json-access) and sessions, which the real
// parser covers.
type refParser struct {
	specs []rules.ParserSpec
	tmpls [][]matcher
}

// matcher is a compiled template or regular expression.
type matcher interface {
	Match(msg []byte, caps *textmatch.Captures) bool
}

func newRefParser(t *testing.T, set *rules.Set) *refParser {
	t.Helper()
	r := &refParser{specs: set.Parsers}
	for _, p := range set.Parsers {
		var ts []matcher
		for _, src := range p.Patterns {
			tm, err := textmatch.Compile(src)
			if err != nil {
				t.Fatalf("%s:%d: parser %s: pattern %q: %v", p.Pos.File, p.Pos.Line, p.Name, src, err)
			}
			ts = append(ts, tm)
		}
		for _, src := range p.Regexps {
			re, err := textmatch.CompileRegexp(src)
			if err != nil {
				t.Fatalf("%s:%d: parser %s: regexp %q: %v", p.Pos.File, p.Pos.Line, p.Name, src, err)
			}
			ts = append(ts, re)
		}
		r.tmpls = append(r.tmpls, ts)
	}
	return r
}

type refResult struct {
	spec   *rules.ParserSpec
	pat    int // index of the matching pattern: Patterns, then Regexps
	source netip.Addr
	fields map[string]string
}

func (r *refParser) parse(line string) (refResult, bool, bool) {
	ep := envelope.NewParser(envelope.Options{})
	var env envelope.Envelope
	hasEnv := ep.Parse([]byte(line), &env)
	msg := env.Message
	prog := string(env.Program)
	formatOnly := false
	for i := range r.specs {
		p := &r.specs[i]
		if hasEnv {
			if !matchProgram(p.Programs, prog) {
				continue
			}
		} else if !p.Raw {
			continue
		}
		if p.Format != "" {
			formatOnly = true
			continue
		}
		for j, tm := range r.tmpls[i] {
			var caps textmatch.Captures
			if !tm.Match(msg, &caps) {
				continue
			}
			res := refResult{spec: p, pat: j, source: caps.Source, fields: map[string]string{}}
			for name, f := range map[string]textmatch.Field{
				"user": textmatch.FieldUser, "port": textmatch.FieldPort, "status": textmatch.FieldStatus,
				"method": textmatch.FieldMethod, "path": textmatch.FieldPath,
			} {
				if b, ok := caps.Get(f, msg); ok {
					res.fields[name] = string(b)
				}
			}
			for k, v := range p.Set {
				res.fields[k] = v
			}
			return res, true, false
		}
	}
	return refResult{}, false, formatOnly
}

func matchProgram(globs []string, prog string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, prog); ok {
			return true
		}
	}
	return false
}

// TestDefaultPatternsReference runs the golden lines through the reference
// matcher: every template compiles, every attack line yields the expected
// source and fields, and no hostile or benign line yields an event.
func TestDefaultPatternsReference(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefParser(t, set)
	used := map[string]bool{}
	for _, c := range readGolden(t) {
		res, ok, formatOnly := ref.parse(c.text)
		where := fmt.Sprintf("%s:%d", c.file, c.line)
		if !ok && formatOnly {
			continue // format decoders are covered by the real parser's test
		}
		if c.parser == "" {
			// A session rule without an address on its line gives no event
			// unless an earlier line of the process named one (the real
			// parser's test checks that).
			if ok && res.spec.Kind != "none" && (res.source.IsValid() || res.spec.Session == "") {
				t.Errorf("%s: want no event, got %s source=%v fields=%v\n\t%s", where, res.spec.Name, res.source, res.fields, c.text)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: want %s, no parser matched\n\t%s", where, c.parser, c.text)
			continue
		}
		used[res.spec.Name] = true
		if res.spec.Name != c.parser {
			t.Errorf("%s: parser %s, want %s\n\t%s", where, res.spec.Name, c.parser, c.text)
			continue
		}
		for k, want := range c.want {
			var got string
			switch k {
			case "source":
				if !res.source.IsValid() && res.spec.Session != "" {
					continue // the real parser takes it from the session
				}
				if res.source.IsValid() {
					got = res.source.String()
				}
			case "kind":
				got = res.spec.Kind
			case "reason":
				got = res.spec.Reason
			case "service":
				got = res.spec.Service
			default:
				got = res.fields[k]
			}
			if got != want {
				t.Errorf("%s: %s=%q, want %q\n\t%s", where, k, got, want, c.text)
			}
		}
		if _, ok := event.ParseKind(res.spec.Kind); !ok {
			t.Errorf("%s: bad kind %q", where, res.spec.Kind)
		}
	}
	for _, p := range set.Parsers {
		if p.Format == "" && !used[p.Name] {
			t.Errorf("parser %s (%s:%d) has no golden line", p.Name, p.Pos.File, p.Pos.Line)
		}
	}
}

// TestDefaultRulesParse runs the golden lines through the real parser built
// from the default rules, file by file in order (so that session lines find
// the connection line before them): every attack line yields an event from
// the expected rule with the expected fields, and no hostile or benign line
// yields an event.
func TestDefaultRulesParse(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	var p *parse.Parser
	file := ""
	for _, c := range readGolden(t) {
		if c.file != file { // a fresh parser (and session table) per file
			file = c.file
			p, err = parse.Compile(set.Parsers, parse.Options{Location: time.UTC, Reference: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
		}
		where := fmt.Sprintf("%s:%d", c.file, c.line)
		var ev event.Event
		ev.Reset()
		res := p.Parse([]byte(c.text), "", &ev)
		name := ""
		if res.Rule >= 0 {
			name = p.Rule(res.Rule).Name
		}
		if c.parser == "" {
			if res.Event {
				t.Errorf("%s: want no event, got %s source=%v user=%q\n\t%s", where, name, ev.Source, ev.User, c.text)
			}
			continue
		}
		if name != c.parser {
			t.Errorf("%s: rule %q, want %s\n\t%s", where, name, c.parser, c.text)
			continue
		}
		used[name] = true
		if c.want["kind"] != "none" && !res.Event {
			t.Errorf("%s: %s matched but gave no event (source %v)\n\t%s", where, name, ev.Source, c.text)
			continue
		}
		if res.BadTime {
			t.Errorf("%s: bad time\n\t%s", where, c.text)
		}
		for k, want := range c.want {
			var got string
			switch k {
			case "source":
				if c.want["kind"] == "none" {
					continue // a session opener's event is not filled
				}
				got = ev.Source.String()
			case "kind":
				if want == "none" {
					continue
				}
				got = ev.Kind.String()
			case "reason":
				got = ev.Reason
			case "service":
				got = ev.Service
			case "user":
				got = string(ev.User)
			case "port":
				if c.want["kind"] == "none" {
					continue
				}
				got = fmt.Sprint(ev.Port)
			case "status":
				got = fmt.Sprint(ev.Status)
			case "method":
				got = string(ev.Method)
			case "path":
				got = string(ev.Path)
			case "proto":
				got = string(ev.Proto)
			default:
				t.Fatalf("%s: unknown key %q", where, k)
			}
			if got != want {
				t.Errorf("%s: %s=%q, want %q\n\t%s", where, k, got, want, c.text)
			}
		}
		if ev.Parser != "" && ev.Parser != name {
			t.Errorf("%s: event names parser %q, want %q", where, ev.Parser, name)
		}
	}
	for _, sp := range set.Parsers {
		if !used[sp.Name] {
			t.Errorf("parser %s (%s:%d) has no golden line", sp.Name, sp.Pos.File, sp.Pos.Line)
		}
	}
}
