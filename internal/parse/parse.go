// Package parse turns a log line into an event using compiled parser rules.
//
// Compile turns rules.ParserSpec values into a Parser: templates and regexps
// compiled by textmatch, literal prefilters, a dispatch table by program, and
// the built-in access-log decoders. Parser.Parse then takes one line at a
// time: it splits off the syslog envelope, offers the message to the rules
// of its program (or to the raw rules), and fills an event.Event whose byte
// fields alias the line. Parse does not allocate.
package parse

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/textmatch"
)

// DefaultMaxSessions is the session table size when Options.MaxSessions is 0.
const DefaultMaxSessions = 65536

// ReasonUserSwitch labels the auth_failure a `session: user` rule makes of
// a line of a connection that tried another user before: a failure for a
// second name, or a success after failures for another name.
const ReasonUserSwitch = "user_switch"

// Options configure a Parser.
type Options struct {
	Location    *time.Location // zone for timestamps that carry none; nil = time.Local
	Reference   time.Time      // "now" for year inference and for lines with no time; zero = Time's now at Compile
	Time        clock.Clock    // gives the reference when Reference is zero; nil = clock.Real
	MaxSessions int            // (program, pid) → source entries remembered; default 65536
	// JSONClientFields name the fields a JSON access log's client address is
	// read from, tried in order: a top-level key ("remote_addr") or a key of
	// Caddy's request object ("request.remote_ip"). Nil means
	// DefaultJSONClientFields: the server's own peer address only, never a
	// field that a request header can fill (client_ip, X-Forwarded-For).
	JSONClientFields []string
}

// DefaultJSONClientFields are the JSON access-log fields that hold the
// peer address of the connection as the server saw it: nginx's
// $remote_addr, Caddy's request.remote_ip (request.remote_addr in Caddy
// before 2.5) and Traefik's ClientHost (its peer, unless the entry point
// trusts forwarded headers from that peer).
var DefaultJSONClientFields = []string{"remote_addr", "request.remote_ip", "request.remote_addr", "ClientHost"}

// maxClientFields bounds Options.JSONClientFields.
const maxClientFields = 8

// Result says what Parse made of a line.
type Result struct {
	Rule      int    // index of the rule that matched, -1 if none
	Enveloped bool   // the line had a recognised envelope
	Program   []byte // the envelope's program (or the hint); aliases the line or the Parser
	Event     bool   // ev was filled with an event whose Kind != KindNone and whose Source is valid
	BadTime   bool   // a rule matched but its timestamp was invalid (line counted as unparsed)
	// Continuation: the line does not start a record of the family it was
	// parsed as (ParseAs), so it continues the previous record and no rule
	// saw it.
	Continuation bool
	// Doubt: a journal entry names a program whose rules exist, but the
	// fields journald sets (_COMM, _EXE, _SYSTEMD_UNIT, _UID) do not show
	// that program's process (`logger -t sshd ...`); no rule saw it.
	Doubt bool
}

type format uint8

const (
	formatNone format = iota
	formatCLF
	formatJSON
)

// rule is a compiled ParserSpec.
type rule struct {
	name, service, reason string
	kind                  event.Kind
	prefilter             textmatch.Prefilter
	templates             []*textmatch.Template
	tmplLayout            []envelope.Layout // per template; LayoutNone when it has no time
	regexps               []*textmatch.Regexp
	reLayout              []envelope.Layout
	format                format
	session               bool // takes a remembered source when it has none
	record                bool // records its source: a session rule, or one sharing a program with one
	users                 bool // session: user; relabels a connection's change of user (finish)
	conn                  bool // session: conn; keyed by the %{session} capture, not the pid
	connOpen              bool // session: conn-open; the line opens the connection
	header                bool // session: header; its time dates the program's next line
	set                   setValues
	// starts[c] says whether a message starting with byte c can match; all
	// true when some pattern starts with a capture.
	starts [256]bool
	// prefixes, when every pattern is a template that starts with literal
	// text, are those texts: a message that starts with none of them cannot
	// match, which is cheaper to tell than the prefilter's scan. nil: no
	// such gate.
	prefixes [][]byte
	// prefixImpliesPrefilter: a message that starts with one of prefixes
	// passes the prefilter (each template's prefilter literal is its
	// prefix, and the prefilter is derived from them).
	prefixImpliesPrefilter bool
}

// setValues are a rule's constant fields; has* say which were given.
type setValues struct {
	status, port                 uint16
	bytes                        int64
	hasStatus, hasPort, hasBytes bool
	user, method, path, ua, host []byte
}

// Parser is a compiled rule set plus the per-stream state of parsing
// (session table, scratch space). It is not safe for concurrent use: give
// each goroutine its own (Compile is cheap next to reading logs).
type Parser struct {
	specs     []rules.ParserSpec
	rules     []rule
	byProgram map[string]*dispatch // exact program → rules to try (globs merged in)
	globs     []globRule           // rules with glob programs, for programs not in byProgram
	learned   map[string]*dispatch // glob rules per program seen outside byProgram; bounded
	raw       *dispatch
	rawBy     [numFamilies]*dispatch // raw rules per raw family
	fam       Family                 // the family of the line being parsed
	probe     rule                   // a blank rule for Detect's trial decodes
	jsonTop   [][]byte               // JSONClientFields at the top level, in order
	jsonReq   [][]byte               // JSONClientFields in Caddy's request object
	jsonOrder []int8                 // per JSONClientFields entry: index into client values

	env      *envelope.Parser
	ref      time.Time // the time of events whose line carries none
	opts     Options
	envl     envelope.Envelope
	caps     textmatch.Captures
	sessions *sessionTable
	connKey  []byte // the %{session} capture of the line being parsed (fill)
	// The last `session: header` line: its program, time and line number
	// (lines counts ParseAs calls), for the line right after it.
	lines, hdrLine uint64
	hdrTime        time.Time
	hdrProg        [64]byte
	hdrProgLen     int
	scratch        []byte // unescaped JSON values; event fields may point here

	hint      string
	hintBytes []byte

	// The last program looked up and its rules (programRules).
	lastProg    []byte
	lastProgD   *dispatch
	lastProgOK  bool
	lastProgSet bool
}

// dispatch is a list of rules to try in order, also split by the first byte
// of the message: a rule whose patterns all start with literal text is only
// listed under those literals' first bytes, so a message meets only the rules
// that could match it, still in order.
type dispatch struct {
	all     []int32
	byFirst *[256][]int32 // nil: try all
}

func newDispatch(rs []rule, list []int32) *dispatch {
	d := &dispatch{all: list, byFirst: new([256][]int32)}
	for c := range d.byFirst {
		var sub []int32
		for _, i := range list {
			if rs[i].starts[c] {
				sub = append(sub, i)
			}
		}
		if len(sub) == len(list) {
			sub = list // share the common case
		}
		d.byFirst[c] = sub
	}
	return d
}

// rules returns the rules a message may match.
func (d *dispatch) rules(msg []byte) []int32 {
	if len(msg) == 0 || d.byFirst == nil {
		return d.all
	}
	return d.byFirst[msg[0]]
}

type globRule struct {
	glob []byte
	rule int32
}

// Compile compiles specs into a Parser. The specs are copied; errors name
// the rule: "parse: rule NAME (FILE:LINE): ...".
func Compile(specs []rules.ParserSpec, o Options) (*Parser, error) {
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	p := &Parser{
		specs:     append([]rules.ParserSpec(nil), specs...),
		byProgram: map[string]*dispatch{},
		learned:   map[string]*dispatch{},
		lastProg:  make([]byte, 0, maxCachedProgram),
		opts:      o,
		env:       envelope.NewParser(envelope.Options{Location: o.Location, Reference: o.Reference, Time: o.Time}),
		scratch:   make([]byte, 0, 4096),
	}
	p.SetReference(o.Reference)
	if err := p.setClientFields(o.JSONClientFields); err != nil {
		return nil, err
	}
	p.rules = make([]rule, len(p.specs))
	needSessions := false
	var errs []error
	for i := range p.specs {
		s := &p.specs[i]
		for _, err := range compileRule(s, &p.rules[i]) {
			// A pattern's or a regexp's error names its own line.
			line := s.Pos.Line
			if le, ok := err.(*lineError); ok && le.line > 0 {
				line = le.line
			}
			errs = append(errs, fmt.Errorf("parse: rule %s (%s:%d): %w", s.Name, s.Pos.File, line, err))
		}
		needSessions = needSessions || p.rules[i].session
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Dispatch: an exact program gets every rule naming it exactly or by a
	// glob that matches it, in spec order; other programs try the globs.
	var raw []int32
	for i := range p.specs {
		s := &p.specs[i]
		if s.Raw {
			raw = append(raw, int32(i))
		}
		for _, prog := range s.Programs {
			if isGlob(prog) {
				if strings.ContainsAny(prog, `[\`) {
					return nil, fmt.Errorf("parse: rule %s (%s:%d): program glob %q: only '*' and '?' are supported", s.Name, s.Pos.File, s.Pos.Line, prog)
				}
				p.globs = append(p.globs, globRule{glob: []byte(prog), rule: int32(i)})
				continue
			}
			p.byProgram[prog] = nil
		}
	}
	for prog := range p.byProgram {
		var list []int32
		for i := range p.specs {
			for _, pat := range p.specs[i].Programs {
				if pat == prog || (isGlob(pat) && globMatch([]byte(pat), []byte(prog))) {
					list = append(list, int32(i))
					break
				}
			}
		}
		p.byProgram[prog] = newDispatch(p.rules, list)
	}
	// Among raw rules, built-in decoders (access logs) go first: they reject
	// a line at its first token, while pattern rules scan it for their
	// prefilter literals, and access lines are the bulk of raw input. No
	// line is both an access line and another raw rule's line, so the order
	// changes speed, not results.
	slices.SortStableFunc(raw, func(a, b int32) int {
		return cmp.Compare(boolInt(p.rules[a].format == formatNone), boolInt(p.rules[b].format == formatNone))
	})
	p.raw = newDispatch(p.rules, raw)
	for f := range numFamilies {
		if !f.raw() {
			continue
		}
		var list []int32
		for _, i := range raw {
			if rawFamilies(&p.specs[i], &p.rules[i]).has(f) {
				list = append(list, i)
			}
		}
		p.rawBy[f] = newDispatch(p.rules, list)
	}
	if needSessions {
		p.sessions = newSessionTable(o.MaxSessions)
		sessionProgs := map[string]bool{}
		for i := range p.specs {
			if p.rules[i].session {
				for _, prog := range p.specs[i].Programs {
					sessionProgs[prog] = true
				}
			}
		}
		for i := range p.specs {
			r := &p.rules[i]
			r.record = r.session
			for _, prog := range p.specs[i].Programs {
				r.record = r.record || sessionProgs[prog]
			}
		}
	}
	return p, nil
}

// lineError is an error of one pattern or regexp of a rule, at the line
// where it was written.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

// lineOf returns lines[j], or 0 when the spec does not say.
func lineOf(lines []int, j int) int {
	if j < len(lines) {
		return lines[j]
	}
	return 0
}

// compileRule compiles s into r and returns every problem found: each
// pattern and regexp is compiled even when an earlier one failed.
func compileRule(s *rules.ParserSpec, r *rule) []error {
	if err := compileHead(s, r); err != nil {
		return []error{err}
	}
	var errs []error
	derived := []string{}
	canDerive := true
	for j, src := range s.Patterns {
		t, err := textmatch.Compile(src)
		if err == nil {
			var l envelope.Layout
			if l, err = layoutOf(t.TimeLayout()); err == nil {
				r.templates = append(r.templates, t)
				r.tmplLayout = append(r.tmplLayout, l)
				if lit := t.Prefilter(); len(lit) > 0 {
					derived = append(derived, string(lit))
				} else {
					canDerive = false
				}
			}
		}
		if err != nil {
			errs = append(errs, &lineError{lineOf(s.PatternLines, j), fmt.Errorf("pattern %d %q: %w", j+1, src, err)})
		}
	}
	for j, src := range s.Regexps {
		re, err := textmatch.CompileRegexp(src)
		if err == nil {
			var l envelope.Layout
			if l, err = layoutOf(re.TimeLayout()); err == nil {
				r.regexps = append(r.regexps, re)
				r.reLayout = append(r.reLayout, l)
				if lit := re.Prefilter(); len(lit) > 0 {
					derived = append(derived, string(lit))
				} else {
					canDerive = false
				}
			}
		}
		if err != nil {
			errs = append(errs, &lineError{lineOf(s.RegexpLines, j), fmt.Errorf("regexp %d %q: %w", j+1, src, err)})
		}
	}
	if r.conn {
		for _, t := range r.templates {
			if !t.Captures(textmatch.FieldSession) {
				errs = append(errs, fmt.Errorf("session: %s: pattern %q has no %%{session} capture", s.Session, t.String()))
			}
		}
		for _, re := range r.regexps {
			if !re.Captures(textmatch.FieldSession) {
				errs = append(errs, fmt.Errorf("session: %s: regexp %q has no (?P<session>...) group", s.Session, re.String()))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	compileTail(s, r, derived, canDerive)
	if err := compileSet(s.Set, &r.set); err != nil {
		return []error{err}
	}
	return nil
}

// compileHead compiles what a rule says besides its patterns.
func compileHead(s *rules.ParserSpec, r *rule) error {
	r.name, r.service, r.reason = s.Name, s.Service, s.Reason
	kind := s.Kind
	if kind == "" {
		kind = "none"
	}
	k, ok := event.ParseKind(kind)
	if !ok {
		return fmt.Errorf("unknown kind %q", s.Kind)
	}
	r.kind = k
	switch s.Session {
	case "":
	case "pid":
		r.session = true
	case "user":
		r.session, r.users = true, true
	case "conn":
		r.session, r.conn = true, true
	case "conn-open":
		r.session, r.conn, r.connOpen = true, true, true
	case "header":
		if k != event.KindNone {
			return errors.New("session: header needs kind: none")
		}
		r.header = true
	default:
		return fmt.Errorf("unknown session key %q", s.Session)
	}
	switch s.Format {
	case "":
		if len(s.Patterns) == 0 && len(s.Regexps) == 0 {
			return errors.New("no patterns, regexps or format")
		}
	case "clf":
		r.format = formatCLF
	case "json-access":
		r.format = formatJSON
	default:
		return fmt.Errorf("unknown format %q", s.Format)
	}
	if r.format != formatNone && (len(s.Patterns) > 0 || len(s.Regexps) > 0) {
		return errors.New("format excludes patterns and regexps")
	}
	if r.service == "" && r.format != formatNone {
		r.service = "http"
	}
	return nil
}

// compileTail sets a compiled rule's prefilter, first-byte table and
// prefix gate.
func compileTail(s *rules.ParserSpec, r *rule, derived []string, canDerive bool) {
	var lits []string
	switch {
	case len(s.Prefilter) > 0:
		lits = s.Prefilter
	case canDerive && r.format == formatNone:
		lits = dedupe(derived)
	}
	if len(lits) > 0 {
		r.prefilter = textmatch.NewPrefilter(lits...)
	}
	// The literal text each pattern starts with; nil for one that starts
	// with a capture, or an expression not anchored on literal text.
	var starts [][]byte
	for _, t := range r.templates {
		starts = append(starts, t.Prefix())
	}
	for _, re := range r.regexps {
		starts = append(starts, re.Prefix())
	}
	gated := r.format == formatNone && len(starts) > 0
	for _, pre := range starts {
		gated = gated && len(pre) > 0
	}
	for c := range r.starts {
		r.starts[c] = !gated
	}
	if !gated {
		return
	}
	implies := true
	for _, pre := range starts {
		r.starts[pre[0]] = true
		if !slices.ContainsFunc(r.prefixes, func(p []byte) bool { return bytes.Equal(p, pre) }) {
			r.prefixes = append(r.prefixes, pre)
		}
		implies = implies && impliesPrefilter(pre, lits)
	}
	r.prefixImpliesPrefilter = implies
}

// impliesPrefilter reports whether every message that starts with pre
// passes the prefilter of lits: one of them occurs in pre, or there is no
// literal to look for.
func impliesPrefilter(pre []byte, lits []string) bool {
	any := false
	for _, l := range lits {
		if l == "" {
			continue
		}
		any = true
		if strings.Contains(string(pre), l) {
			return true
		}
	}
	return !any
}

// hasPrefixAny reports whether msg starts with one of prefixes.
func hasPrefixAny(msg []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func layoutOf(name string) (envelope.Layout, error) {
	if name == "" {
		return envelope.LayoutNone, nil
	}
	l, ok := envelope.LayoutByName(name)
	if !ok {
		return 0, fmt.Errorf("unknown time layout %q", name)
	}
	return l, nil
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		dup := false
		for _, o := range out {
			if strings.Contains(s, o) { // o occurring is implied by s occurring
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

func compileSet(m map[string]string, sv *setValues) error {
	for k, v := range m {
		var err error
		switch k {
		case "status":
			n, ok := atoi([]byte(v), 3)
			if !ok || n < 100 || n > 599 {
				err = errors.New("want an HTTP status")
			}
			sv.status, sv.hasStatus = uint16(n), true
		case "port":
			n, ok := atoi([]byte(v), 5)
			if !ok || n > 65535 {
				err = errors.New("want a port number")
			}
			sv.port, sv.hasPort = uint16(n), true
		case "bytes":
			sv.bytes, sv.hasBytes = -1, true
			if v != "-" {
				n, ok := atoi([]byte(v), 18)
				if !ok {
					err = errors.New("want a byte count or -")
				}
				sv.bytes = int64(n)
			}
		case "user":
			sv.user = []byte(v)
		case "method":
			sv.method = []byte(v)
		case "path":
			sv.path = []byte(v)
		case "user_agent", "ua":
			sv.ua = []byte(v)
		case "host":
			sv.host = []byte(v)
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return fmt.Errorf("set %s: %q: %w", k, v, err)
		}
	}
	return nil
}

// Rule returns the spec of rule i (Result.Rule). The caller must not modify it.
func (p *Parser) Rule(i int) *rules.ParserSpec { return &p.specs[i] }

// NumRules returns the number of rules.
func (p *Parser) NumRules() int { return len(p.specs) }

// SetReference sets the "now" that year inference works from, which is also
// the time of an event whose line carries none (a journal message body with
// no envelope time and no %{time} capture). Replay sets it to the time of the
// logs being replayed; the live agent keeps it at the wall clock. The zero
// time means the now of Options.Time.
func (p *Parser) SetReference(t time.Time) {
	if t.IsZero() {
		t = clock.Or(p.opts.Time).Now()
	}
	p.ref = t
	p.env.SetReference(t)
}

// RawFamily returns the raw families rule i reads, by name; none for a
// rule of programs, or a raw rule whose family could not be inferred.
func (p *Parser) RawFamily(i int) []string {
	if !p.specs[i].Raw {
		return nil
	}
	set := rawFamilies(&p.specs[i], &p.rules[i])
	var out []string
	for f := range numFamilies {
		if set.has(f) {
			out = append(out, f.String())
		}
	}
	return out
}

// Parse is ParseAs with FamilyAny: no provenance, every rule may see the
// line and access-log layouts are guessed per line. herd's sources, replay
// and explain use ParseAs; Parse is for tests and rule corpora.
func (p *Parser) Parse(line []byte, hint string, ev *event.Event) Result {
	return p.ParseAs(line, FamilyAny, hint, ev)
}

// ParseAs runs line, a line of a source bound to family f, through the
// rules of f and fills ev when one matches.
//
// Lines of the envelope families (syslog, journal, message) are split into
// envelope and message and offered to the rules of their program (exact
// names, then '*' globs); under FamilyMessage, a line without an envelope is
// a message of program hint, and so is, read whole, a line whose header
// names a program no rule knows. A syslog line needs a time and a program, and a
// journal line must be an entry of `journalctl -o json`; any other line is a
// continuation (Result.Continuation). A journal entry is only believed to
// come from the program it names when the fields journald sets say so
// (Result.Doubt otherwise; docs/sources.md). Lines of a raw family (access
// logs, error logs, services' own logs) carry no envelope: a line that does
// not start the way records of f start is a continuation, any other is
// offered to the raw rules of f only, and access lines are read by the
// field positions of f's layout.
//
// Under FamilyAny every line meets every rule: a line with an envelope
// meets its program's rules, and one without (or any line when hint is not
// empty) the raw rules too.
//
// Within a program rules run in order, each skipped unless one of its
// prefilter literals occurs in the message; the first matching pattern
// wins. ev's time is the rule's %{time:...} capture, else the envelope's,
// else (a line with no time) the Reference (SetReference); its byte fields
// alias line (or p's scratch space) and stay valid until the next call.
// ParseAs does not allocate.
func (p *Parser) ParseAs(line []byte, f Family, hint string, ev *event.Event) Result {
	res := Result{Rule: -1}
	p.fam = f
	p.lines++
	env := &p.envl
	if f.raw() {
		for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
			line = line[:len(line)-1]
		}
		// No envelope: only Time and PID are read by the rules' finish.
		env.Format, env.Time, env.Host, env.Program, env.PID, env.Message = envelope.FormatNone, time.Time{}, nil, nil, nil, line
		if !startsRecord(f, line) {
			res.Continuation = true
			return res
		}
		d := p.rawBy[f]
		if d == nil {
			return res
		}
		p.try(d.rules(line), line, nil, ev, &res)
		return res
	}
	res.Enveloped = p.env.Parse(line, env)
	switch f {
	case FamilySyslog:
		if !res.Enveloped || !syslogFormat(env.Format) {
			res.Continuation = true
			return res
		}
	case FamilyJournal:
		if env.Format != envelope.FormatJournalJSON {
			res.Continuation = true
			return res
		}
	}
	msg := env.Message
	prog := env.Program
	if len(prog) == 0 && hint != "" && (f == FamilyAny || f == FamilyMessage) {
		prog = p.hintProgram(hint)
	}
	res.Program = prog
	if len(prog) > 0 {
		d, ok := p.programRules(prog)
		if d != nil && len(d.all) > 0 {
			if env.Format == envelope.FormatJournalJSON && !trusted(&env.Journal, prog) {
				res.Doubt = true
				return res
			}
			var list []int32
			if ok {
				list = d.rules(msg)
			} else {
				list = d.all
			}
			if p.try(list, msg, prog, ev, &res) {
				return res
			}
		} else if p.tryBound(line, f, hint, ev, &res) {
			return res
		}
	}
	if f == FamilyAny && (!res.Enveloped || hint != "") {
		p.try(p.raw.rules(msg), msg, prog, ev, &res)
	}
	return res
}

// programRules returns the rules of prog and whether prog is named exactly
// (byProgram) rather than by globs. The last program's answer is kept: the
// lines of one program come in runs.
func (p *Parser) programRules(prog []byte) (*dispatch, bool) {
	if p.lastProgSet && bytes.Equal(prog, p.lastProg) {
		return p.lastProgD, p.lastProgOK
	}
	d, ok := p.byProgram[string(prog)]
	if !ok && len(p.globs) > 0 {
		d = p.globRules(prog)
	}
	p.lastProgSet = len(prog) <= cap(p.lastProg)
	if p.lastProgSet {
		p.lastProg = append(p.lastProg[:0], prog...)
		p.lastProgD, p.lastProgOK = d, ok
	}
	return d, ok
}

// maxCachedProgram bounds the program name programRules keeps.
const maxCachedProgram = 64

func (p *Parser) hintProgram(hint string) []byte {
	if hint != p.hint {
		p.hint = hint
		p.hintBytes = []byte(hint)
	}
	return p.hintBytes
}

// tryBound offers a line of a source bound to program hint whose text only
// looks like a syslog header, naming a program no rule knows (Emby's own
// log: "2022-02-14 18:01:07.092 Warn Server: ...", a time, a level and a
// component), to the bound program's rules, whole, as they read a line
// without a header. A header of a program herd has rules for keeps its own
// program (the caller tries those first).
func (p *Parser) tryBound(line []byte, f Family, hint string, ev *event.Event, res *Result) bool {
	env := &p.envl
	if hint == "" || !res.Enveloped || len(env.Program) == 0 || env.Format == envelope.FormatJournalJSON || (f != FamilyAny && f != FamilyMessage) {
		return false
	}
	d, ok := p.byProgram[hint]
	if !ok || len(d.all) == 0 {
		return false
	}
	hp := p.hintProgram(hint)
	if !p.try(d.rules(line), line, hp, ev, res) {
		return false
	}
	res.Program = hp
	return true
}

func (p *Parser) try(list []int32, msg, prog []byte, ev *event.Event, res *Result) bool {
	for _, i := range list {
		if p.apply(int(i), msg, prog, ev, res) {
			return true
		}
	}
	return false
}

// maxLearned bounds the programs whose glob rules are remembered, so that
// a stream of made-up program names cannot grow memory.
const maxLearned = 4096

var noRules = &dispatch{}

// globRules returns the glob rules that apply to prog, in order. Programs
// are remembered after their first line (which allocates), up to maxLearned.
func (p *Parser) globRules(prog []byte) *dispatch {
	if d, ok := p.learned[string(prog)]; ok {
		return d
	}
	var list []int32
	for _, g := range p.globs {
		if (len(list) == 0 || list[len(list)-1] != g.rule) && globMatch(g.glob, prog) {
			list = append(list, g.rule)
		}
	}
	d := noRules
	if len(list) > 0 {
		d = &dispatch{all: list}
	}
	if len(p.learned) < maxLearned {
		p.learned[string(prog)] = d
	}
	return d
}

// apply runs rule i on msg; it reports whether the rule matched (in which
// case res is final).
func (p *Parser) apply(i int, msg, prog []byte, ev *event.Event, res *Result) bool {
	r := &p.rules[i]
	if r.prefixes != nil {
		if !hasPrefixAny(msg, r.prefixes) {
			return false // no template can match
		}
		if !r.prefixImpliesPrefilter && !r.prefilter.Match(msg) {
			return false
		}
	} else if !r.prefilter.Match(msg) {
		return false
	}
	switch r.format {
	case formatCLF:
		return p.finish(i, r, p.decodeCLF(r, msg, ev), ev, prog, res)
	case formatJSON:
		return p.finish(i, r, p.decodeJSON(r, msg, ev), ev, prog, res)
	}
	caps := &p.caps
	for j, t := range r.templates {
		if t.Match(msg, caps) {
			return p.finish(i, r, p.fill(r, msg, caps, r.tmplLayout[j], ev), ev, prog, res)
		}
	}
	for j, re := range r.regexps {
		if re.Match(msg, caps) {
			return p.finish(i, r, p.fill(r, msg, caps, r.reLayout[j], ev), ev, prog, res)
		}
	}
	return false
}

// decodeStatus is what a decoder or fill reports.
type decodeStatus uint8

const (
	noMatch decodeStatus = iota
	matched
	badTime
)

// fill writes a template or regexp match into ev.
func (p *Parser) fill(r *rule, msg []byte, caps *textmatch.Captures, layout envelope.Layout, ev *event.Event) decodeStatus {
	p.start(r, ev)
	if b, ok := caps.Get(textmatch.FieldUser, msg); ok {
		ev.User = b
	}
	if b, ok := caps.Get(textmatch.FieldMethod, msg); ok {
		ev.Method = b
	}
	if b, ok := caps.Get(textmatch.FieldPath, msg); ok {
		ev.Path = b
	}
	if b, ok := caps.Get(textmatch.FieldProto, msg); ok {
		ev.Proto = b
	}
	if b, ok := caps.Get(textmatch.FieldUserAgent, msg); ok {
		ev.UserAgent = b
	}
	if b, ok := caps.Get(textmatch.FieldHost, msg); ok {
		ev.Host = b
	}
	if b, ok := caps.Get(textmatch.FieldStatus, msg); ok {
		if n, ok := atoi(b, 3); ok {
			ev.Status = uint16(n)
		}
	}
	if b, ok := caps.Get(textmatch.FieldPort, msg); ok {
		if n, ok := atoi(b, 5); ok && n <= 65535 {
			ev.Port = uint16(n)
		}
	}
	if b, ok := caps.Get(textmatch.FieldBytes, msg); ok {
		ev.Bytes = parseBytes(b)
	}
	ev.Source = caps.Source
	p.connKey = nil
	if b, ok := caps.Get(textmatch.FieldSession, msg); ok {
		p.connKey = b
	}
	if b, ok := caps.Get(textmatch.FieldTime, msg); ok && layout != envelope.LayoutNone {
		t, err := p.env.ParseTime(layout, b)
		if err != nil {
			return badTime
		}
		ev.Time = t
	}
	return matched
}

// start resets ev and writes the rule's constant fields.
func (p *Parser) start(r *rule, ev *event.Event) {
	ev.Reset()
	ev.Service, ev.Kind, ev.Reason, ev.Parser = r.service, r.kind, r.reason, r.name
	ev.Time = p.envl.Time
	s := &r.set
	if s.hasStatus {
		ev.Status = s.status
	}
	if s.hasPort {
		ev.Port = s.port
	}
	if s.hasBytes {
		ev.Bytes = s.bytes
	}
	ev.User, ev.Method, ev.Path, ev.UserAgent, ev.Host = s.user, s.method, s.path, s.ua, s.host
}

// finish settles the result of rule i once its matcher reported st.
func (p *Parser) finish(i int, r *rule, st decodeStatus, ev *event.Event, prog []byte, res *Result) bool {
	switch st {
	case noMatch:
		return false
	case badTime:
		res.Rule, res.BadTime = i, true
		return true
	}
	res.Rule = i
	if r.header && !ev.Time.IsZero() && len(prog) <= len(p.hdrProg) {
		p.hdrLine, p.hdrTime, p.hdrProgLen = p.lines, ev.Time, copy(p.hdrProg[:], prog)
	}
	if ev.Time.IsZero() {
		ev.Time = p.ref
		// The line right after a header line of the same program is its
		// record's message: the header's time is its.
		if p.hdrLine != 0 && p.hdrLine+1 == p.lines && bytes.Equal(prog, p.hdrProg[:p.hdrProgLen]) {
			ev.Time = p.hdrTime
		}
	}
	if r.conn {
		if len(p.connKey) > 0 {
			p.connSession(i, r.connOpen, prog, ev)
		}
	} else if r.record && len(p.envl.PID) > 0 {
		if ev.Source.IsValid() {
			p.sessions.put(prog, p.envl.PID, ev.Source)
			if r.users && len(ev.User) > 0 && (r.kind == event.KindAuthFailure || r.kind == event.KindAuthSuccess) &&
				p.sessions.userSwitch(prog, p.envl.PID, ev.Source, ev.User, r.kind == event.KindAuthFailure) {
				ev.Kind, ev.Reason = event.KindAuthFailure, ReasonUserSwitch
			}
		} else if r.session {
			ev.Source = p.sessions.get(prog, p.envl.PID)
		}
	}
	res.Event = ev.Kind != event.KindNone && ev.Source.IsValid()
	return true
}

// maxPending is how long an event of a `session: conn` rule may wait for
// the line that names its connection's address.
const maxPending = 10 * time.Minute

// connSession runs the `session: conn` logic of rule i for a line whose
// connection id is p.connKey: a line with a source records it for the
// connection and releases the event a line of that connection left
// waiting less than maxPending before (this line's event then takes that
// rule's service, kind and reason, with this line's source and time; its
// parser stays this line's); a line without
// one takes the connection's recorded source, or, when none is recorded,
// leaves its event waiting. A line that opens a connection (open) drops
// what waits: it was left by an earlier connection of the same id (before
// the server restarted and numbered its connections afresh).
func (p *Parser) connSession(i int, open bool, prog []byte, ev *event.Event) {
	if ev.Source.IsValid() {
		if pend, at, ok := p.sessions.takePending(prog, p.connKey); ok && !open {
			if d := ev.Time.Sub(time.Unix(at, 0)); d >= -time.Minute && d <= maxPending {
				pr := &p.rules[pend]
				ev.Service, ev.Kind, ev.Reason = pr.service, pr.kind, pr.reason
			}
		}
		p.sessions.putConn(prog, p.connKey, ev.Source)
		return
	}
	ev.Source = p.sessions.getConn(prog, p.connKey)
	if !ev.Source.IsValid() && p.rules[i].kind != event.KindNone {
		p.sessions.setPending(prog, p.connKey, i, ev.Time.Unix())
	}
}

// atoi parses 1..max decimal digits.
func atoi(b []byte, max int) (int, bool) {
	if len(b) == 0 || len(b) > max {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseBytes reads a response size: digits, or "-" for none (-1).
func parseBytes(b []byte) int64 {
	n, ok := atoi(b, 18)
	if !ok {
		return -1
	}
	return int64(n)
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// globMatch matches name against a glob of '*' (any run of bytes other than
// '/') and '?' (one byte other than '/'), like path.Match without classes.
func globMatch(glob, name []byte) bool {
	if len(glob) == 0 {
		return len(name) == 0
	}
	switch glob[0] {
	case '*':
		for k := 0; k <= len(name); k++ {
			if globMatch(glob[1:], name[k:]) {
				return true
			}
			if k < len(name) && name[k] == '/' {
				return false
			}
		}
		return false
	case '?':
		return len(name) > 0 && name[0] != '/' && globMatch(glob[1:], name[1:])
	}
	return len(name) > 0 && name[0] == glob[0] && globMatch(glob[1:], name[1:])
}

// addrOf parses an address field written by a server (access logs).
func addrOf(b []byte) netip.Addr {
	a, _ := textmatch.ParseToken(bytes.TrimSpace(b))
	return a
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
