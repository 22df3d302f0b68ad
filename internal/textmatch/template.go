// Package textmatch finds fields in text: literal prefilters, compiled
// templates and a regexp wrapper.
//
// A Template is compiled once from the template language of parser rules
// (docs/CONTRACTS.md, "Template language") and then matched against many
// messages without allocating; the captured fields come back as spans of the
// message in a caller-owned Captures value. Templates, Regexps and
// Prefilters are immutable after compilation and safe for concurrent use.
package textmatch

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Field names a capture slot.
type Field uint8

// The capture slots. Method, Path and Proto are also filled by splitting a
// %{request} capture.
const (
	FieldSource Field = iota
	FieldUser
	FieldUserAgent
	FieldMethod
	FieldPath
	FieldProto
	FieldHost
	FieldStatus
	FieldPort
	FieldBytes
	FieldRequest
	FieldTime
	FieldSession // a server-written connection id keying a session (session: conn)
	NumFields
)

var fieldNames = [NumFields]string{"source", "user", "ua", "method", "path", "proto", "host", "status", "port", "bytes", "request", "time", "session"}

// String returns the field's name as templates spell it.
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return "invalid"
}

// FieldByName returns the field called name in templates and regexp group
// names ("source", "user", "ua", ...). "user_agent" is accepted for "ua".
func FieldByName(name string) (Field, bool) {
	if name == "user_agent" {
		return FieldUserAgent, true
	}
	for i, n := range fieldNames {
		if n == name {
			return Field(i), true
		}
	}
	return 0, false
}

// Span is the extent msg[Start:End] of one capture.
type Span struct{ Start, End int }

// Captures receives what a match found. It is a plain value: keep one per
// goroutine and reuse it; matching overwrites it.
type Captures struct {
	spans  [NumFields]Span
	set    uint32     // bit per field captured
	Source netip.Addr // the parsed %{source}: zone dropped, unmapped; invalid when absent
	trace  []Span     // MatchTrace: the extent of every capture, in template order
}

// Reset marks every capture absent.
func (c *Captures) Reset() {
	c.set = 0
	c.Source = netip.Addr{}
}

// Has reports whether field f was captured.
func (c *Captures) Has(f Field) bool { return c.set&(1<<f) != 0 }

// Span returns the extent captured for f, and false if f was not captured.
func (c *Captures) Span(f Field) (Span, bool) {
	if !c.Has(f) {
		return Span{-1, -1}, false
	}
	return c.spans[f], true
}

// Get returns the bytes of msg captured for f (aliasing msg), and false if f
// was not captured. msg must be the message that was matched.
func (c *Captures) Get(f Field, msg []byte) ([]byte, bool) {
	if !c.Has(f) {
		return nil, false
	}
	s := c.spans[f]
	return msg[s.Start:s.End:s.End], true
}

// Equal reports whether c and d captured the same fields with the same
// extents and source address.
func (c *Captures) Equal(d *Captures) bool {
	if c.set != d.set || c.Source != d.Source {
		return false
	}
	for f := Field(0); f < NumFields; f++ {
		if c.Has(f) && c.spans[f] != d.spans[f] {
			return false
		}
	}
	return true
}

// put records the extent of f.
func (c *Captures) put(f Field, start, end int) {
	c.spans[f] = Span{start, end}
	c.set |= 1 << f
}

type opKind uint8

const (
	opLit    opKind = iota
	opAny           // any bytes, greedy: user, ua, *, request
	opWord          // non-empty run of non-space bytes: method, path, proto, host, _
	opStatus        // three digits
	opPort          // digits, 0..65535
	opBytes         // digits or "-"
	opSource        // one address token
	opTime          // a timestamp in a layout
)

// discard marks an op whose capture is not kept (%{*}, %{_}).
const discard = NumFields

type op struct {
	kind   opKind
	field  Field  // slot written, or discard
	hole   int    // ordinal of this capture among the template's captures; -1 for literals
	lit    []byte // opLit
	layout timeLayout
	// guardLeft is set on a source op that follows a capture rather than a
	// literal: the token must then not continue a word to its left.
	guardLeft bool
}

// Template is a compiled template. It is immutable and safe for concurrent use.
type Template struct {
	src       string
	ops       []op
	holes     []Hole
	minRest   []int // minRest[i]: the fewest bytes ops[i:] can match
	prefilter []byte
	layout    string
	fields    uint32 // bit per Field captured
}

// MaxWork bounds the work of one Match, counted as one unit per byte
// scanned and stepCost units per backtracking step; a message that needs
// more does not match. Real log lines need a few hundred units; the bound
// keeps a hostile message near a millisecond at worst.
const MaxWork = 1 << 16

const stepCost = 16

var errEmpty = errors.New("empty template")

// Compile parses a template. Errors name the offending capture.
func Compile(src string) (*Template, error) {
	if src == "" {
		return nil, errEmpty
	}
	t := &Template{src: src}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			t.ops = append(t.ops, op{kind: opLit, lit: lit, hole: -1})
			if n := len(t.holes); n > 0 && t.ops[len(t.ops)-2].kind != opLit {
				t.holes[n-1].After = string(lit)
			}
			lit = nil
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c != '%' || i+1 == len(src) {
			lit = append(lit, c)
			i++
			continue
		}
		switch src[i+1] {
		case '%':
			lit = append(lit, '%')
			i += 2
			continue
		case '{':
		default:
			lit = append(lit, c)
			i++
			continue
		}
		end := strings.IndexByte(src[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated capture at offset %d", i)
		}
		name := src[i+2 : i+end]
		i += end + 1
		o, err := t.capture(name)
		if err != nil {
			return nil, err
		}
		flush()
		if o.kind == opSource && len(t.ops) > 0 && t.ops[len(t.ops)-1].kind != opLit {
			o.guardLeft = true
		}
		o.hole = len(t.holes)
		h := Hole{Name: name, Field: o.field, Free: o.kind == opAny, Word: o.kind == opWord, Server: strings.HasSuffix(name, ":server")}
		if len(t.ops) > 0 && t.ops[len(t.ops)-1].kind == opLit {
			h.Before = string(t.ops[len(t.ops)-1].lit)
		}
		t.holes = append(t.holes, h)
		t.ops = append(t.ops, o)
	}
	flush()
	t.minRest = make([]int, len(t.ops)+1)
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.minRest[i] = t.minRest[i+1] + t.ops[i].minLen()
	}
	for _, o := range t.ops {
		if o.kind == opLit && len(o.lit) > len(t.prefilter) {
			t.prefilter = o.lit
		}
	}
	return t, nil
}

func (t *Template) capture(name string) (op, error) {
	var o op
	switch name {
	case "*", "*:server":
		return op{kind: opAny, field: discard}, nil
	case "_", "_:server":
		return op{kind: opWord, field: discard}, nil
	}
	if layout, ok := strings.CutPrefix(name, "time:"); ok {
		l, ok := timeLayoutByName(layout)
		if !ok {
			return o, fmt.Errorf("%%{%s}: unknown time layout %q", name, layout)
		}
		o = op{kind: opTime, field: FieldTime, layout: l}
		t.layout = layout
	} else {
		f, ok := FieldByName(name)
		if !ok || f == FieldTime {
			return o, fmt.Errorf("%%{%s}: unknown capture", name)
		}
		o.field = f
		switch f {
		case FieldSource:
			o.kind = opSource
		case FieldUser, FieldUserAgent, FieldRequest:
			o.kind = opAny
		case FieldStatus:
			o.kind = opStatus
		case FieldPort:
			o.kind = opPort
		case FieldBytes:
			o.kind = opBytes
		default:
			o.kind = opWord
		}
	}
	const split = 1<<FieldMethod | 1<<FieldPath | 1<<FieldProto
	bit := uint32(1) << o.field
	if t.fields&bit != 0 ||
		(o.field == FieldRequest && t.fields&split != 0) ||
		(bit&split != 0 && t.fields&(1<<FieldRequest) != 0) {
		return o, fmt.Errorf("%%{%s}: field captured twice", name)
	}
	t.fields |= bit
	return o, nil
}

func (o *op) minLen() int {
	switch o.kind {
	case opLit:
		return len(o.lit)
	case opAny:
		return 0
	case opStatus:
		return 3
	case opSource:
		return 2 // "::"
	}
	return 1
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// Prefilter returns the template's longest literal; a message that lacks it
// cannot match. It is empty when the template has no literal text. The
// caller must not modify it.
func (t *Template) Prefilter() []byte { return t.prefilter }

// Prefix returns the literal every match starts with, or nil when the
// template starts with a capture. The caller must not modify it.
func (t *Template) Prefix() []byte {
	if len(t.ops) > 0 && t.ops[0].kind == opLit {
		return t.ops[0].lit
	}
	return nil
}

// TimeLayout returns the layout name of the template's %{time:...} capture,
// or "" when it has none.
func (t *Template) TimeLayout() string { return t.layout }

// Captures reports whether the template captures field f (directly, or for
// Method, Path and Proto through %{request}).
func (t *Template) Captures(f Field) bool {
	if t.fields&(1<<f) != 0 {
		return true
	}
	return (f == FieldMethod || f == FieldPath || f == FieldProto) && t.fields&(1<<FieldRequest) != 0
}

// Match reports whether msg matches the template as a whole and, if so,
// fills caps with the spans captured. On failure caps is left in an
// unspecified state. Match does not allocate.
func (t *Template) Match(msg []byte, caps *Captures) bool {
	caps.Reset()
	if len(msg) < t.minRest[0] {
		return false
	}
	if n := len(t.ops); n > 0 {
		if first := &t.ops[0]; first.kind == opLit && !bytes.HasPrefix(msg, first.lit) {
			return false
		}
		if last := &t.ops[n-1]; last.kind == opLit && !bytes.HasSuffix(msg, last.lit) {
			return false
		}
	}
	ok, _ := t.run(msg, caps)
	return ok
}

// Hole describes one capture of a template, in template order: its name as
// written ("user", "*", "_", "*:server", "source", "time:iso8601"), the field
// it fills (NumFields for the discarded ones), whether it takes any bytes
// (Free: %{*}, %{user}, %{ua}, %{request}) or one word (Word: %{_},
// %{host}, ...), whether the rule says the server alone writes it (Server:
// %{*:server}, %{_:server}, which match as %{*} and %{_} do), and the
// literal text written right before and after it in the template (""
// when another capture or the template's edge is there).
type Hole struct {
	Name          string
	Field         Field
	Free, Word    bool
	Server        bool
	Before, After string
}

// Holes returns the template's captures in order. The caller must not
// modify the slice.
func (t *Template) Holes() []Hole { return t.holes }

// Literals returns the template's literal runs in order.
func (t *Template) Literals() []string {
	var out []string
	for _, o := range t.ops {
		if o.kind == opLit {
			out = append(out, string(o.lit))
		}
	}
	return out
}

// MatchTrace is Match that also writes the extent of every capture (Holes
// order, discarded ones included) into trace, which must have len(Holes())
// elements; a capture the match did not reach is {-1, -1}. It is meant for
// tools that study a template (the injection check), not for the hot path.
func (t *Template) MatchTrace(msg []byte, caps *Captures, trace []Span) bool {
	if len(trace) != len(t.holes) {
		return false
	}
	for i := range trace {
		trace[i] = Span{-1, -1}
	}
	caps.trace = trace
	ok := t.Match(msg, caps)
	caps.trace = nil
	return ok
}

// run matches from the start; exhausted reports that MaxWork ran out.
func (t *Template) run(msg []byte, caps *Captures) (ok, exhausted bool) {
	caps.Reset()
	steps := MaxWork
	if !t.match(msg, 0, 0, caps, &steps) {
		return false, steps < 0
	}
	if caps.Has(FieldRequest) {
		splitRequest(msg, caps)
	}
	return true, false
}

func (t *Template) match(msg []byte, i, pos int, caps *Captures, steps *int) bool {
	*steps -= stepCost
	if *steps < 0 {
		return false
	}
	if i == len(t.ops) {
		return pos == len(msg)
	}
	o := &t.ops[i]
	limit := len(msg) - t.minRest[i+1] // no extent of ops[i] may end after limit
	if limit-pos < t.minRest[i]-t.minRest[i+1] {
		return false
	}
	var next []byte // literal that must follow, if any
	if i+1 < len(t.ops) && t.ops[i+1].kind == opLit {
		next = t.ops[i+1].lit
	}
	switch o.kind {
	case opLit:
		if !bytes.HasPrefix(msg[pos:], o.lit) {
			return false
		}
		return t.match(msg, i+1, pos+len(o.lit), caps, steps)

	case opAny:
		if i+1 == len(t.ops) {
			return t.set(o, pos, len(msg), caps) && t.match(msg, i+1, len(msg), caps, steps)
		}
		if next != nil {
			end := limit + len(next)
			for {
				k := lastIndex(msg[pos:end], next)
				if k < 0 {
					*steps -= end - pos
					return false
				}
				e := pos + k
				*steps -= end - e
				if t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps) {
					return true
				}
				end = e + len(next) - 1
				if *steps < 0 {
					return false
				}
			}
		}
		for e := limit; e >= pos; e-- {
			if t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps) {
				return true
			}
			if *steps < 0 {
				return false
			}
		}
		return false

	case opWord:
		r := pos
		for r < limit && !isSpace(msg[r]) {
			r++
		}
		*steps -= r - pos
		for e := r; e > pos; e-- {
			if next != nil && !bytes.HasPrefix(msg[e:], next) {
				continue
			}
			if t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps) {
				return true
			}
			if *steps < 0 {
				return false
			}
		}
		return false

	case opStatus:
		e := pos + 3
		if e > len(msg) || !isDigit(msg[pos]) || !isDigit(msg[pos+1]) || !isDigit(msg[pos+2]) || (e < len(msg) && isDigit(msg[e])) {
			return false
		}
		return t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps)

	case opPort:
		e, v := pos, 0
		for e < len(msg) && isDigit(msg[e]) {
			v = v*10 + int(msg[e]-'0')
			e++
			if e-pos > 5 {
				return false
			}
		}
		if e == pos || v > 65535 {
			return false
		}
		return t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps)

	case opBytes:
		e := pos
		if msg[pos] == '-' {
			e++
		} else {
			for e < len(msg) && isDigit(msg[e]) {
				e++
				if e-pos > 18 {
					return false
				}
			}
			if e == pos {
				return false
			}
		}
		return t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps)

	case opTime:
		e := scanTime(o.layout, msg, pos)
		if e < 0 {
			return false
		}
		return t.set(o, pos, e, caps) && t.match(msg, i+1, e, caps, steps)

	case opSource:
		return t.matchSource(msg, i, pos, caps, steps)
	}
	return false
}

func (t *Template) set(o *op, start, end int, caps *Captures) bool {
	if o.field != discard {
		caps.put(o.field, start, end)
	}
	if caps.trace != nil {
		caps.trace[o.hole] = Span{start, end}
	}
	return true
}

// matchSource tries the extents of an address token at pos, longest first.
// See docs/CONTRACTS.md for the boundary rules that keep a token whole.
func (t *Template) matchSource(msg []byte, i, pos int, caps *Captures, steps *int) bool {
	o := &t.ops[i]
	if pos >= len(msg) {
		return false
	}
	if msg[pos] == '[' {
		k := bytes.IndexByte(msg[pos+1:], ']')
		if k < 0 {
			return false
		}
		e := pos + 1 + k + 1
		a, ok := ParseToken(msg[pos:e])
		if !ok {
			return false
		}
		caps.Source = a
		caps.put(FieldSource, pos, e)
		if caps.trace != nil {
			caps.trace[o.hole] = Span{pos, e}
		}
		return t.match(msg, i+1, e, caps, steps)
	}
	if o.guardLeft && pos > 0 {
		if c := msg[pos-1]; isAlnum(c) || c == '.' || c == ':' {
			return false
		}
	}
	r := pos
	for r < len(msg) && addrChar[msg[r]] {
		r++
	}
	for e := r; e > pos; e-- {
		if e < r && msg[e] != '.' && msg[e] != ':' {
			continue
		}
		a, ok := ParseAddr(msg[pos:e])
		if !ok {
			continue
		}
		end, zoned := e, false
		if e == r && e < len(msg) && msg[e] == '%' {
			z := e + 1
			for z < len(msg) && zoneChar[msg[z]] {
				z++
			}
			if z == e+1 || !a.Is6() {
				continue
			}
			end, zoned = z, true
		}
		if !rightBoundaryOK(msg, pos, e, end, zoned) {
			continue
		}
		caps.Source = a.Unmap()
		caps.put(FieldSource, pos, end)
		if caps.trace != nil {
			caps.trace[o.hole] = Span{pos, end}
		}
		if t.match(msg, i+1, end, caps, steps) {
			return true
		}
		if *steps < 0 {
			return false
		}
	}
	return false
}

// rightBoundaryOK reports whether the unbracketed token msg[pos:end] (its
// address part ending at addrEnd) ends where a token may end: not followed
// by a letter or digit, a '.' and a letter or digit, a '%', nor, for an IPv6
// address written without zone or dotted quad, by ':' and more address.
func rightBoundaryOK(msg []byte, pos, addrEnd, end int, zoned bool) bool {
	if end == len(msg) {
		return true
	}
	c := msg[end]
	switch {
	case isAlnum(c), c == '%':
		return false
	case c == '.':
		return end+1 == len(msg) || !isAlnum(msg[end+1])
	case c == ':':
		if zoned || bytes.IndexByte(msg[pos:addrEnd], '.') >= 0 {
			return true
		}
		return end+1 == len(msg) || !(isHex(msg[end+1]) || msg[end+1] == ':')
	}
	return true
}

// splitRequest splits the %{request} capture into method, path and proto: the
// method is the first space-separated word and must be letters only, the
// proto is the last word when it starts with "HTTP/", the path is what lies
// between and must not be empty. Anything else leaves all three absent.
func splitRequest(msg []byte, caps *Captures) {
	r := caps.spans[FieldRequest]
	m, p, pr, ok := SplitRequest(msg[r.Start:r.End])
	if !ok {
		return
	}
	caps.put(FieldMethod, r.Start+m.Start, r.Start+m.End)
	caps.put(FieldPath, r.Start+p.Start, r.Start+p.End)
	if pr.Start >= 0 {
		caps.put(FieldProto, r.Start+pr.Start, r.Start+pr.End)
	}
}

// SplitRequest splits an HTTP request line "METHOD target [HTTP/x]" leniently
// into spans of req: method (letters only), target (non-empty; may hold
// spaces) and protocol (Start -1 when absent). It reports false for anything
// that is not shaped like a request line. It does not allocate.
func SplitRequest(req []byte) (method, target, proto Span, ok bool) {
	proto = Span{-1, -1}
	i := 0
	for i < len(req) && isLetter(req[i]) {
		i++
	}
	if i == 0 || i == len(req) || req[i] != ' ' {
		return method, target, proto, false
	}
	method = Span{0, i}
	start, end := i, len(req)
	for start < end && req[start] == ' ' {
		start++
	}
	for end > start && req[end-1] == ' ' {
		end--
	}
	if k := bytes.LastIndexByte(req[start:end], ' '); k >= 0 {
		last := req[start+k+1 : end]
		if bytes.HasPrefix(last, []byte("HTTP/")) {
			proto = Span{start + k + 1, end}
			end = start + k
			for end > start && req[end-1] == ' ' {
				end--
			}
		}
	}
	if start == end {
		return method, target, proto, false
	}
	target = Span{start, end}
	return method, target, proto, true
}

// lastIndex is bytes.LastIndex for the short literals of templates, where a
// plain backward scan beats Rabin-Karp hashing.
func lastIndex(s, sep []byte) int {
	n := len(sep)
	c, rest := sep[0], sep[1:]
	for i := len(s) - n; i >= 0; i-- {
		if s[i] == c && string(s[i+1:i+n]) == string(rest) {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isSpace reports ASCII white space, which ends a %{_}-style word.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
