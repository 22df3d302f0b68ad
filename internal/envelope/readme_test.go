package envelope

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestREADME runs the examples in README.md's tables, so that the
// documentation cannot drift from the code.
func TestREADME(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	formats := map[string]Format{
		"FormatRFC3164": FormatRFC3164, "FormatRFC5424": FormatRFC5424,
		"FormatISO": FormatISO, "FormatJournalJSON": FormatJournalJSON,
		"FormatBare": FormatBare, "FormatTAI64N": FormatTAI64N,
	}
	p := NewParser(Options{Location: time.UTC, Reference: ref})
	var nf, nl int
	for _, row := range strings.Split(string(doc), "\n") {
		cells := strings.Split(row, "|")
		if len(cells) != 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		name, _, _ = strings.Cut(name, "`")
		example, ok := firstCode(cells[2])
		if !ok {
			continue
		}
		if f, ok := formats[name]; ok {
			nf++
			var env Envelope
			if !p.Parse([]byte(example), &env) || env.Format != f {
				t.Errorf("README: Parse(%q) = format %v, want %v", example, env.Format, f)
			}
			continue
		}
		if l, ok := LayoutByName(name); ok {
			nl++
			if _, err := p.ParseTime(l, []byte(example)); err != nil {
				t.Errorf("README: %v", err)
			}
		}
	}
	if nf != int(numFormats)-1 || nl != int(numLayouts)-1 {
		t.Errorf("README: checked %d format and %d layout examples, want %d and %d", nf, nl, numFormats-1, numLayouts-1)
	}
}

// firstCode returns the first `code span` in s.
func firstCode(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "`")
	if !ok {
		return "", false
	}
	code, _, ok := strings.Cut(rest, "`")
	return code, ok
}
