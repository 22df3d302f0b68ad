package textmatch

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Regexp is a Go regular expression whose named groups are capture fields:
// (?P<source>...), (?P<user>...), (?P<ua>...), ... as in templates, and
// (?P<time_LAYOUT>...) for a timestamp (e.g. time_iso8601). It runs only when
// its prefilter literal (the longest literal every match must contain) occurs
// in the message. Unlike a Template it is not anchored unless the expression
// says so (^...$). It is safe for concurrent use.
type Regexp struct {
	re        *regexp.Regexp
	group     [NumFields]int // submatch index per field, 0 when absent
	layout    string
	prefilter []byte
	prefix    []byte
}

// CompileRegexp compiles expr. Group names that are not field names are
// errors, so that a typo cannot silently drop a field.
func CompileRegexp(expr string) (*Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	r := &Regexp{re: re}
	for i, name := range re.SubexpNames() {
		if name == "" {
			continue
		}
		f, ok := FieldByName(name)
		if layout, isTime := strings.CutPrefix(name, "time_"); isTime {
			if _, known := timeLayoutByName(layout); !known {
				return nil, fmt.Errorf("group %q: unknown time layout %q", name, layout)
			}
			f, ok = FieldTime, true
			r.layout = layout
		} else if f == FieldTime {
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("group %q: unknown field", name)
		}
		if r.group[f] != 0 {
			return nil, fmt.Errorf("group %q: field captured twice", name)
		}
		r.group[f] = i
	}
	if tree, err := syntax.Parse(expr, syntax.Perl); err == nil {
		simple := tree.Simplify()
		r.prefilter = []byte(requiredLiteral(simple))
		r.prefix = []byte(anchoredPrefix(simple))
	}
	return r, nil
}

// anchoredPrefix returns the case-sensitive literal that every text re
// matches starts with when re is anchored at the start of the text (^...
// without the m flag), or "".
func anchoredPrefix(re *syntax.Regexp) string {
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b strings.Builder
	for _, sub := range re.Sub[1:] {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			break
		}
		b.WriteString(string(sub.Rune))
	}
	return b.String()
}

// Prefix returns the literal every message the expression matches starts
// with (an expression anchored by ^ and followed by literal text), or nil.
// The caller must not modify it.
func (r *Regexp) Prefix() []byte {
	if len(r.prefix) == 0 {
		return nil
	}
	return r.prefix
}

// String returns the expression's source text.
func (r *Regexp) String() string { return r.re.String() }

// Prefilter returns the longest literal every match contains, or nil.
func (r *Regexp) Prefilter() []byte { return r.prefilter }

// TimeLayout returns the layout of the time_LAYOUT group, or "".
func (r *Regexp) TimeLayout() string { return r.layout }

// Captures reports whether the expression has a group for field f.
func (r *Regexp) Captures(f Field) bool { return r.group[f] != 0 }

// Match reports whether msg matches and fills caps as Template.Match does.
// A source group whose text is not one whole address token makes the match
// fail. A %{request}-style group named "request" is split as in templates.
// Match allocates (the regexp package returns a fresh index slice); it is
// the slow path behind templates and runs only when the prefilter passes.
func (r *Regexp) Match(msg []byte, caps *Captures) bool {
	caps.Reset()
	if len(r.prefilter) > 0 && !bytes.Contains(msg, r.prefilter) {
		return false
	}
	m := r.re.FindSubmatchIndex(msg)
	if m == nil {
		return false
	}
	for f, g := range r.group {
		if g == 0 || m[2*g] < 0 {
			continue
		}
		caps.put(Field(f), m[2*g], m[2*g+1])
	}
	if s, ok := caps.Span(FieldSource); ok {
		a, ok := ParseToken(msg[s.Start:s.End])
		if !ok {
			return false
		}
		caps.Source = a
	}
	if caps.Has(FieldRequest) {
		splitRequest(msg, caps)
	}
	return true
}

// requiredLiteral returns the longest case-sensitive literal that every
// match of re must contain, or "". It is not the scenario filters'
// regexpPrefilter: that one answers for case-insensitive expressions over
// lowercased text, with a set of lowercase literals one of which must occur
// (alternations, small classes), chosen by rarity in URLs; lowercasing would
// make this one miss "Failed password" in a raw line.
func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best, run := "", ""
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
				run += string(sub.Rune)
				if len(run) > len(best) {
					best = run
				}
				continue
			}
			run = ""
			if l := requiredLiteral(sub); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}
