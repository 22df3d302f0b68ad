// Package ruletest checks parser rules against attacker-written text: the
// metamorphic injection check behind `herd rules check --injection` and the
// default rules' tests.
//
// The check starts from annotated golden lines (Case) that a parser reads
// with a known source address. For each, it finds the extents of the line
// that the client writes (the rule's user, path, user-agent, host and
// request captures, its %{*} and %{_} runs, and a regular expression's
// free-text runs) and rewrites each of them with a decoy address in every
// form a log line can hold it (plain, with a port, bracketed, IPv4-mapped,
// with leading zeros, quoted and escaped), alone and inside the literal
// text of the rule's own templates ("from X port N ssh2", "rhost=X",
// "(u,X,s)", a forged copy of the template's tail, ...). The oracle: the
// real parser, run on the mutated line, either refuses it or blames the
// original address; a line that blames any other address is a finding.
package ruletest

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/textmatch"
)

// The decoy addresses the check writes into attacker text: documentation
// ranges that golden lines do not use.
const (
	Decoy4 = "203.0.113.66"
	Decoy6 = "2001:db8:dead::66"
)

// Options configure a Checker.
type Options struct {
	Location  *time.Location // zone of timestamps without one; nil = UTC
	Reference time.Time      // "now" for year inference; zero = 2026-11-23 12:00 UTC
	// Only, when not nil, limits the check to the parsers it names (a user's
	// rule file checked beside the defaults).
	Only map[string]bool
	// MaxFindings bounds the findings kept per parser (default 10); the
	// counts in the report include all of them.
	MaxFindings int
}

// Hole is an extent of a golden line that the client writes.
type Hole struct {
	Name       string // the capture: "user", "*", "_", "path", "re#3" (a regexp run), "quoted#2"
	Start, End int    // offsets in the line
	Word       bool   // the capture cannot span a space: only space-free payloads go in
	Escape     bool   // the daemon escapes '"' and '\' here (access logs): payloads are escaped
}

// Payload is one text written into a hole, with a label for reports.
type Payload struct{ Label, Text string }

// Target is a golden case prepared for mutation.
type Target struct {
	Case     Case
	Parser   string     // the parser that reads the original line
	Source   netip.Addr // the address it blames
	Holes    []Hole
	payloads []Payload
}

// Mutation is one mutated line.
type Mutation struct {
	Label string // "HOLE PLACE PAYLOAD", e.g. `user replace "from X port 4444"/plain`
	Line  string
}

// Verdict is what the parser made of a mutated line.
type Verdict uint8

// The verdicts.
const (
	Refused Verdict = iota // no rule gave an address
	Kept                   // a rule blamed the original address
	Fooled                 // a rule blamed another address
)

// Finding is a mutated line that fooled a parser.
type Finding struct {
	Case     Case
	Parser   string // the parser that read the original line
	Blamed   string // the parser that blamed the wrong address
	Mutation Mutation
	Got      netip.Addr
	Want     netip.Addr
}

// String describes the finding on two lines; the mutated line is quoted, so
// that its bytes (a user's log lines) reach a terminal escaped.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: parser %s blamed %s instead of %s (mutation %s)\n\t%q",
		f.Case.File, f.Case.Line, f.Blamed, f.Got, f.Want, f.Mutation.Label, f.Mutation.Line)
}

// ParserStats counts the check's work for one parser.
type ParserStats struct {
	Parser    string
	Lines     int  // golden lines it reads with an address
	Mutations int  // mutated lines tried
	Refused   int  // ... refused
	Kept      int  // ... still blaming the original address
	Fooled    int  // ... blaming another address
	Addressed bool // the parser takes an address from its own lines (else it only follows sessions)
	Writable  bool // some capture of the parser holds client text (not all marked :server)
}

// Report is the result of Run.
type Report struct {
	Parsers  []ParserStats // in rule order
	Findings []Finding
	// Uncovered names the parsers that take an address from their lines
	// but have no golden line from which they do.
	Uncovered []string
	// Untested names the parsers that have client-written captures but
	// whose golden lines gave the check nothing to rewrite (every such
	// capture empty on them). A run wrongly marked :server is not a
	// client-written capture: such marks are claims for review.
	Untested []string
}

// Totals sums the per-parser counts.
func (r *Report) Totals() (s ParserStats) {
	for _, p := range r.Parsers {
		s.Lines += p.Lines
		s.Mutations += p.Mutations
		s.Refused += p.Refused
		s.Kept += p.Kept
		s.Fooled += p.Fooled
	}
	return s
}

// Table writes the per-parser table: lines, mutations, refused, kept,
// fooled.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s %6s %9s %9s %9s %7s\n", "PARSER", "LINES", "MUTATIONS", "REFUSED", "KEPT", "FOOLED")
	for _, p := range r.Parsers {
		if !p.Addressed {
			fmt.Fprintf(&b, "%-44s %6s   (no address on its lines: takes its session's)\n", p.Parser, "-")
			continue
		}
		fmt.Fprintf(&b, "%-44s %6d %9d %9d %9d %7d\n", p.Parser, p.Lines, p.Mutations, p.Refused, p.Kept, p.Fooled)
	}
	t := r.Totals()
	fmt.Fprintf(&b, "%-44s %6d %9d %9d %9d %7d\n", "TOTAL", t.Lines, t.Mutations, t.Refused, t.Kept, t.Fooled)
	return b.String()
}

// Checker holds a compiled rule set for the check. It is not safe for
// concurrent use.
type Checker struct {
	specs    []rules.ParserSpec
	opts     Options
	p        *parse.Parser
	env      *envelope.Parser
	tmpls    [][]*textmatch.Template
	res      [][]*reTrace
	payloads [][]Payload // per spec, built on first use
	index    map[string]int
}

// New compiles specs for the check. Sessions are switched off: a line is
// judged by its own text alone (a session's address comes from a line that
// is itself checked).
func New(specs []rules.ParserSpec, o Options) (*Checker, error) {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Reference.IsZero() {
		o.Reference = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = 10
	}
	own := append([]rules.ParserSpec(nil), specs...)
	for i := range own {
		own[i].Session = ""
	}
	p, err := parse.Compile(own, parse.Options{Location: o.Location, Reference: o.Reference})
	if err != nil {
		return nil, fmt.Errorf("ruletest: %w", err)
	}
	c := &Checker{
		specs:    own,
		opts:     o,
		p:        p,
		env:      envelope.NewParser(envelope.Options{Location: o.Location, Reference: o.Reference}),
		tmpls:    make([][]*textmatch.Template, len(own)),
		res:      make([][]*reTrace, len(own)),
		payloads: make([][]Payload, len(own)),
		index:    map[string]int{},
	}
	for i := range own {
		s := &own[i]
		c.index[s.Name] = i
		for _, src := range s.Patterns {
			t, err := textmatch.Compile(src)
			if err != nil {
				return nil, fmt.Errorf("ruletest: parser %s: pattern %q: %w", s.Name, src, err)
			}
			c.tmpls[i] = append(c.tmpls[i], t)
		}
		for _, src := range s.Regexps {
			rt, err := traceRegexp(src)
			if err != nil {
				return nil, fmt.Errorf("ruletest: parser %s: regexp %q: %w", s.Name, src, err)
			}
			c.res[i] = append(c.res[i], rt)
		}
	}
	return c, nil
}

// addressed reports whether spec i can take an address from its own line.
func (c *Checker) addressed(i int) bool {
	if c.specs[i].Format != "" {
		return true
	}
	for _, t := range c.tmpls[i] {
		if t.Captures(textmatch.FieldSource) {
			return true
		}
	}
	for _, r := range c.res[i] {
		if r.source > 0 {
			return true
		}
	}
	return false
}

// writable reports whether some capture of spec i holds client text.
func (c *Checker) writable(i int) bool {
	if c.specs[i].Format != "" {
		return true
	}
	for _, t := range c.tmpls[i] {
		for _, h := range t.Holes() {
			if attackerField(h) {
				return true
			}
		}
	}
	for _, r := range c.res[i] {
		if len(r.holes) > 0 {
			return true
		}
	}
	return false
}

// Judge parses line and says whether it was refused, kept the address want,
// or blamed another (got, by the parser named rule).
func (c *Checker) Judge(line []byte, want netip.Addr) (v Verdict, got netip.Addr, rule string) {
	var ev event.Event
	ev.Reset()
	res := c.p.Parse(line, "", &ev)
	if res.Rule < 0 || res.BadTime || !ev.Source.IsValid() {
		return Refused, netip.Addr{}, ""
	}
	rule = c.p.Rule(res.Rule).Name
	if ev.Source == want {
		return Kept, ev.Source, rule
	}
	return Fooled, ev.Source, rule
}

// Prepare parses the case's line and finds its holes. It reports false when
// the line yields no address from the expected parser (a line without one,
// a session line, an expectation of none).
func (c *Checker) Prepare(cs Case) (*Target, bool) {
	if cs.Parser == "" {
		return nil, false
	}
	idx, ok := c.index[cs.Parser]
	if !ok {
		return nil, false
	}
	line := []byte(cs.Text)
	var ev event.Event
	ev.Reset()
	res := c.p.Parse(line, "", &ev)
	if res.Rule != idx || res.BadTime || !ev.Source.IsValid() {
		return nil, false
	}
	if w, ok := cs.Want["source"]; ok && w != ev.Source.String() {
		return nil, false
	}
	t := &Target{Case: cs, Parser: cs.Parser, Source: ev.Source}
	var env envelope.Envelope
	c.env.Parse(line, &env)
	msg := env.Message
	if !bytes.HasSuffix(line, msg) {
		return t, true // the message is not the line's tail (unescaped): no holes
	}
	off := len(line) - len(msg)
	t.Holes = c.holes(idx, msg, off, ev.Source)
	t.payloads = c.payloadsFor(idx)
	return t, true
}

// holes finds the attacker-written extents of msg as rule idx reads it.
func (c *Checker) holes(idx int, msg []byte, off int, src netip.Addr) []Hole {
	s := &c.specs[idx]
	if s.Format != "" {
		return quotedHoles(msg, off, src)
	}
	var caps textmatch.Captures
	for _, t := range c.tmpls[idx] {
		trace := make([]textmatch.Span, len(t.Holes()))
		if !t.MatchTrace(msg, &caps, trace) {
			continue
		}
		var hs []Hole
		for i, h := range t.Holes() {
			sp := trace[i]
			if sp.Start < 0 || !attackerField(h) {
				continue
			}
			hs = append(hs, Hole{Name: h.Name, Start: off + sp.Start, End: off + sp.End, Word: h.Word})
		}
		return hs
	}
	for _, r := range c.res[idx] {
		m := r.re.FindSubmatchIndex(msg)
		if m == nil {
			continue
		}
		var hs []Hole
		for _, h := range r.holes {
			if m[2*h.group] < 0 {
				continue
			}
			hs = append(hs, Hole{Name: h.name, Start: off + m[2*h.group], End: off + m[2*h.group+1], Word: h.word})
		}
		return hs
	}
	return nil
}

// attackerField reports whether a template capture holds client text: every
// capture but the address, the time, the numbers a daemon writes and the
// runs the rule marks as the server's (%{*:server}, %{_:server}).
func attackerField(h textmatch.Hole) bool {
	if h.Server {
		return false
	}
	switch h.Field {
	case textmatch.FieldSource, textmatch.FieldTime, textmatch.FieldStatus, textmatch.FieldPort, textmatch.FieldBytes:
		return false
	}
	return true
}

// quotedHoles takes the contents of the double-quoted strings of an access
// log line as its client-written fields (request, referrer, user agent, JSON
// values), except those holding the blamed address itself (the daemon's own
// address field) and JSON keys.
func quotedHoles(msg []byte, off int, src netip.Addr) []Hole {
	var hs []Hole
	n := 0
	for i := 0; i < len(msg); i++ {
		if msg[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(msg) && msg[j] != '"' {
			if msg[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(msg) {
			break
		}
		body := msg[i+1 : j]
		key := j+1 < len(msg) && msg[j+1] == ':'
		if a, ok := textmatch.ParseToken(bytes.TrimSpace(body)); !key && !(ok && a == src) {
			n++
			hs = append(hs, Hole{Name: fmt.Sprintf("quoted#%d", n), Start: off + i + 1, End: off + j, Escape: true})
		}
		i = j
	}
	return hs
}

// Mutations returns every mutated line of t, without repeats.
func (c *Checker) Mutations(t *Target) []Mutation {
	seen := map[string]bool{t.Case.Text: true}
	var out []Mutation
	add := func(label, line string) {
		if !seen[line] {
			seen[line] = true
			out = append(out, Mutation{Label: label, Line: line})
		}
	}
	text := t.Case.Text
	for _, h := range t.Holes {
		orig := text[h.Start:h.End]
		for _, p := range t.payloads {
			body := p.Text
			if h.Word && strings.ContainsAny(body, " \t") {
				continue
			}
			if h.Escape {
				body = escapeQuoted(body)
			}
			add(h.Name+" replace "+p.Label, text[:h.Start]+body+text[h.End:])
			add(h.Name+" append "+p.Label, text[:h.End]+body+text[h.End:])
			if !strings.HasPrefix(p.Label, `"`) { // decoy forms alone, not contexts
				add(h.Name+" prepend "+p.Label, text[:h.Start]+body+orig+text[h.End:])
			}
		}
	}
	// Two holes at once: one closes the daemon's delimiter (a quote in a
	// client user name), another forges the line's text (a client host
	// ending in "from A port N"): a rule that refuses the first may leave
	// the line to a looser one that the second fools.
	for i, hi := range t.Holes {
		for j, hj := range t.Holes {
			if i == j || hi.Escape || hj.Escape {
				continue
			}
			lo, hiH := hi, hj
			if lo.Start > hiH.Start {
				lo, hiH = hiH, lo
			}
			if lo.End > hiH.Start {
				continue // nested or overlapping extents
			}
			for _, q := range []string{`"`, `'`, `]`, `)`, `>`} {
				for _, p := range t.payloads {
					if !strings.HasSuffix(p.Label, "/plain") || (hj.Word && strings.ContainsAny(p.Text, " \t")) {
						continue
					}
					bi, bj := "x"+q, p.Text
					if hi.Word && strings.ContainsAny(bi, " \t") {
						continue
					}
					first, second := bi, bj
					if hi.Start > hj.Start {
						first, second = bj, bi
					}
					line := text[:lo.Start] + first + text[lo.End:hiH.Start] + second + text[hiH.End:]
					add(hi.Name+" break"+q+" + "+hj.Name+" replace "+p.Label, line)
				}
			}
		}
	}
	return out
}

// Mutate writes payload (its "X" standing for the decoy, which is appended
// when it has none) into hole h of t at offset pos (clipped to the hole),
// as the fuzz target does.
func (t *Target) Mutate(h int, pos int, payload string) string {
	hole := t.Holes[h]
	if pos < 0 {
		pos = -pos
	}
	at := hole.Start + pos%(hole.End-hole.Start+1)
	if !strings.Contains(payload, "X") {
		payload += Decoy4
	}
	payload = strings.ReplaceAll(payload, "X", Decoy4)
	if hole.Escape {
		payload = escapeQuoted(payload)
	}
	return t.Case.Text[:at] + payload + t.Case.Text[at:]
}

// escapeQuoted writes s as access logs write a client's text inside quotes.
func escapeQuoted(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return strings.ReplaceAll(s, `"`, `\"`)
}

// Run checks every case and returns the report.
func (c *Checker) Run(cases []Case) *Report {
	r := &Report{}
	stats := make([]ParserStats, len(c.specs))
	for i := range c.specs {
		stats[i] = ParserStats{Parser: c.specs[i].Name, Addressed: c.addressed(i), Writable: c.writable(i)}
	}
	for _, cs := range cases {
		if c.opts.Only != nil && !c.opts.Only[cs.Parser] {
			continue
		}
		t, ok := c.Prepare(cs)
		if !ok {
			continue
		}
		st := &stats[c.index[t.Parser]]
		st.Lines++
		for _, m := range c.Mutations(t) {
			st.Mutations++
			v, got, rule := c.Judge([]byte(m.Line), t.Source)
			switch v {
			case Refused:
				st.Refused++
			case Kept:
				st.Kept++
			case Fooled:
				st.Fooled++
				if st.Fooled <= c.opts.MaxFindings {
					r.Findings = append(r.Findings, Finding{Case: cs, Parser: t.Parser, Blamed: rule, Mutation: m, Got: got, Want: t.Source})
				}
			}
		}
	}
	for i, st := range stats {
		if c.opts.Only != nil && !c.opts.Only[st.Parser] {
			continue
		}
		r.Parsers = append(r.Parsers, st)
		if st.Addressed && st.Lines == 0 {
			r.Uncovered = append(r.Uncovered, c.specs[i].Name)
		}
		if st.Lines > 0 && st.Writable && st.Mutations == 0 {
			r.Untested = append(r.Untested, c.specs[i].Name)
		}
	}
	return r
}

// Forms returns the decoy written in every form a log line can hold an
// address, each labelled.
func Forms() []Payload {
	return []Payload{
		{"plain", Decoy4},
		{"plain6", Decoy6},
		{"port", Decoy4 + ":4444"},
		{"port-word", Decoy4 + " port 4444"},
		{"bracket4", "[" + Decoy4 + "]"},
		{"bracket6", "[" + Decoy6 + "]"},
		{"bracket6-port", "[" + Decoy6 + "]:4444"},
		{"mapped", "::ffff:" + Decoy4},
		{"zeros4", "203.0.113.066"},
		{"zeros6", "2001:0db8:dead:0000:0000:0000:0000:0066"},
		{"zone", "fe80::66%eth0"},
		{"dquote", `"` + Decoy4 + `"`},
		{"squote", "'" + Decoy4 + "'"},
		{"escaped", `\"` + Decoy4 + `\"`},
		{"hex-escaped", `\x22` + Decoy4 + `\x22`},
		{"paren", "(" + Decoy4 + ")"},
		{"angle", "<" + Decoy4 + ">"},
		{"space-before", " " + Decoy4},
		{"space-after", Decoy4 + " "},
		{"spaces", " " + Decoy6 + " "},
	}
}

// contextForms are the decoy forms written inside contexts.
var contextForms = []Payload{
	{"plain", Decoy4},
	{"plain6", Decoy6},
	{"bracket6", "[" + Decoy6 + "]"},
	{"mapped", "::ffff:" + Decoy4},
	{"port", Decoy4 + ":4444"},
}

// Contexts returns the literal texts daemons write around a client address,
// X standing for it; the check adds those of each rule's own templates.
func Contexts() []string { return append([]string(nil), contexts...) }

var contexts = []string{
	"from X port 4444 ssh2",
	"from X port 4444",
	"for root from X port 4444 ssh2",
	"for invalid user root from X port 4444 ssh2",
	"from X",
	"rhost=X",
	"rhost=X user=root",
	"rhost=X  user=root",
	"(u,X,s)",
	"(u,X)",
	"(u,X,<s>)",
	"auth(u,X,sasl:plain)<s>: Info: sql: Password mismatch",
	`Client "X"`,
	`FAIL LOGIN: Client "X"`,
	"[X]",
	"unknown[X]",
	"unknown[X]:",
	"rip=X, lip=192.0.2.1",
	"rip=X",
	"client: X",
	"client: X, server: x",
	"'u'@'X'",
	"(?@X)",
	"[client X]",
	"[client X:4444]",
	"X port 4444",
	"X - - ",
}

// payloadsFor builds (once) the payloads of spec i: the decoy forms, and
// the contexts (fixed ones and those of the spec's own templates and
// regexps, with forged copies of each template's tail) around a few forms.
func (c *Checker) payloadsFor(i int) []Payload {
	if c.payloads[i] != nil {
		return c.payloads[i]
	}
	ctx := Contexts()
	for _, t := range c.tmpls[i] {
		for _, h := range t.Holes() {
			if h.Field == textmatch.FieldSource {
				ctx = append(ctx, h.Before+"X"+h.After)
			}
		}
		if tail := forgedTail(t.String()); tail != "" {
			ctx = append(ctx, tail)
		}
	}
	for _, r := range c.res[i] {
		if r.pre != "" || r.post != "" {
			ctx = append(ctx, r.pre+"X"+r.post)
		}
	}
	ps := Forms()
	seen := map[string]bool{}
	for _, cx := range ctx {
		if seen[cx] {
			continue
		}
		seen[cx] = true
		for _, f := range contextForms {
			ps = append(ps, Payload{fmt.Sprintf("%q/%s", cx, f.Label), strings.ReplaceAll(cx, "X", f.Text)})
		}
		ps = append(ps, Payload{fmt.Sprintf("%q/space-plain", cx), " " + strings.ReplaceAll(cx, "X", Decoy4) + " "})
		// Close the daemon's own delimiter around the client's text, then
		// forge: x" from A port 4444.
		for _, q := range []string{`"`, `'`, `]`, `)`, `>`} {
			ps = append(ps, Payload{fmt.Sprintf("%q/break%s", cx, q), "x" + q + " " + strings.ReplaceAll(cx, "X", Decoy4)})
		}
	}
	c.payloads[i] = ps
	return ps
}

// forgedTail renders a template from the literal before its %{source} to
// its end, with the decoy for the address and plausible values for the
// other captures: the text an attacker writes to forge the line's ending.
// It returns "" when the template has no %{source} or a time after it.
func forgedTail(src string) string {
	k := strings.Index(src, "%{source}")
	if k < 0 {
		return ""
	}
	start := strings.LastIndex(src[:k], "}") + 1
	tail := src[start:]
	var b strings.Builder
	for len(tail) > 0 {
		j := strings.Index(tail, "%")
		if j < 0 {
			b.WriteString(tail)
			break
		}
		b.WriteString(tail[:j])
		tail = tail[j:]
		if strings.HasPrefix(tail, "%%") {
			b.WriteByte('%')
			tail = tail[2:]
			continue
		}
		if !strings.HasPrefix(tail, "%{") {
			b.WriteByte('%')
			tail = tail[1:]
			continue
		}
		e := strings.IndexByte(tail, '}')
		if e < 0 {
			return ""
		}
		name := tail[2:e]
		tail = tail[e+1:]
		switch {
		case name == "source":
			b.WriteString("X")
		case strings.HasPrefix(name, "time:"):
			return ""
		case name == "port":
			b.WriteString("4444")
		case name == "status":
			b.WriteString("500")
		case name == "bytes":
			b.WriteString("0")
		case name == "path":
			b.WriteString("/")
		case name == "user":
			b.WriteString("root")
		default:
			b.WriteString("x")
		}
	}
	return b.String()
}

// reTrace is a regexp rewritten so that every free-text run is a group.
type reTrace struct {
	re        *regexp.Regexp
	holes     []reHole
	source    int    // group of the address, 0 when none
	pre, post string // the literals right around the source group
}

type reHole struct {
	group int
	name  string
	word  bool
}

// traceRegexp wraps in a group every repetition of a class that can hold
// text an address could hide in (one admitting ' ', '.' or ':') outside
// the source and time groups, and notes the attacker fields' named groups.
func traceRegexp(expr string) (*reTrace, error) {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	rt := &reTrace{}
	var walk func(re *syntax.Regexp, inside bool) *syntax.Regexp
	walk = func(re *syntax.Regexp, inside bool) *syntax.Regexp {
		switch re.Op {
		case syntax.OpCapture:
			if re.Name != "" {
				inside = true
			}
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			if !inside && runClass(re.Sub[0]) {
				return &syntax.Regexp{Op: syntax.OpCapture, Sub: []*syntax.Regexp{re}, Flags: re.Flags}
			}
		case syntax.OpConcat:
			for k, sub := range re.Sub {
				if sub.Op == syntax.OpCapture && sub.Name == "source" {
					if k > 0 && re.Sub[k-1].Op == syntax.OpLiteral {
						rt.pre = string(re.Sub[k-1].Rune)
					}
					if k+1 < len(re.Sub) && re.Sub[k+1].Op == syntax.OpLiteral {
						rt.post = string(re.Sub[k+1].Rune)
					}
				}
			}
		}
		for k, sub := range re.Sub {
			re.Sub[k] = walk(sub, inside)
		}
		return re
	}
	tree = walk(tree, false)
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return nil, err
	}
	rt.re = re
	subs := re.SubexpNames()
	// Word-ness of groups, from the rewritten tree in group order.
	words := map[int]bool{}
	var mark func(re *syntax.Regexp)
	n := 0
	mark = func(re *syntax.Regexp) {
		if re.Op == syntax.OpCapture {
			n++
			words[n] = spaceFree(re.Sub[0])
		}
		for _, s := range re.Sub {
			mark(s)
		}
	}
	mark(tree)
	runs := 0
	for g, name := range subs {
		switch {
		case g == 0:
		case name == "":
			runs++
			rt.holes = append(rt.holes, reHole{group: g, name: fmt.Sprintf("re#%d", runs), word: words[g]})
		case name == "source":
			rt.source = g
		default:
			f, ok := textmatch.FieldByName(name)
			if ok && attackerField(textmatch.Hole{Field: f}) {
				rt.holes = append(rt.holes, reHole{group: g, name: name, word: words[g]})
			}
		}
	}
	return rt, nil
}

// runClass reports whether re is a class or any-character that admits ' ',
// '.' or ':'.
func runClass(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpCharClass:
		return classHas(re, ' ') || classHas(re, '.') || classHas(re, ':')
	}
	return false
}

// spaceFree reports whether what re matches can hold no space: a repetition
// of a class without ' ', or a literal without one.
func spaceFree(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return spaceFree(re.Sub[0])
	case syntax.OpCharClass:
		return !classHas(re, ' ')
	case syntax.OpLiteral:
		return !strings.ContainsFunc(string(re.Rune), unicode.IsSpace)
	case syntax.OpCapture:
		return spaceFree(re.Sub[0])
	case syntax.OpAlternate, syntax.OpConcat:
		for _, s := range re.Sub {
			if !spaceFree(s) {
				return false
			}
		}
		return true
	}
	return false
}

func classHas(re *syntax.Regexp, r rune) bool {
	for k := 0; k+1 < len(re.Rune); k += 2 {
		if r >= re.Rune[k] && r <= re.Rune[k+1] {
			return true
		}
	}
	return false
}
