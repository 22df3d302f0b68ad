package ruletest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// A Case is one annotated log line: the line and the expectation written on
// the comment line before it,
//
//	#> PARSER key=value ...   the line must produce an event from PARSER
//	#> none                   the line must produce no event
//
// as in internal/rules/testdata/lines/*.log and in the files given to
// `herd rules check --lines`. Keys are source, user, kind, reason, service,
// port, status, method, path; a value may be quoted ("...") to hold spaces.
type Case struct {
	File   string
	Line   int               // line number of Text in File
	Text   string            // the log line
	Parser string            // expected parser; "" for none
	Want   map[string]string // expected fields
}

// ReadCases reads annotated lines from r; name is used in errors and in
// Case.File. Blank lines and other comment lines ("# ...") are skipped.
func ReadCases(r io.Reader, name string) ([]Case, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var cases []Case
	var pending *Case
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if exp, ok := strings.CutPrefix(l, "#> "); ok {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: expectation without a line", name, pending.Line-1)
			}
			c, err := parseExpectation(exp)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			c.File, c.Line = name, n+1
			pending = &c
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if pending == nil {
			return nil, fmt.Errorf("%s:%d: line without expectation (write \"#> PARSER source=ADDR\" or \"#> none\" before it)", name, n)
		}
		pending.Text = l
		cases = append(cases, *pending)
		pending = nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if pending != nil {
		return nil, fmt.Errorf("%s:%d: expectation without a line", name, pending.Line-1)
	}
	return cases, nil
}

// ReadCaseFiles reads the annotated lines of every file, in order.
func ReadCaseFiles(paths ...string) ([]Case, error) {
	var all []Case
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("ruletest: %w", err)
		}
		cs, err := ReadCases(f, p)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ruletest: %w", err)
		}
		all = append(all, cs...)
	}
	return all, nil
}

func parseExpectation(s string) (Case, error) {
	var c Case
	c.Want = map[string]string{}
	fields, err := splitQuoted(s)
	if err != nil || len(fields) == 0 {
		return c, fmt.Errorf("bad expectation %q: %v", s, err)
	}
	if fields[0] != "none" {
		c.Parser = fields[0]
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return c, fmt.Errorf("bad expectation field %q", f)
		}
		c.Want[k] = v
	}
	return c, nil
}

// splitQuoted splits s on spaces, keeping key="a b" together and unquoting it.
func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}
