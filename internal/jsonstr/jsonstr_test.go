package jsonstr

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// reference decodes body with encoding/json, the slow readable reference;
// ok is false when encoding/json refuses it.
func reference(body []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, body...), '"'), &s); err != nil {
		return "", false
	}
	return s, true
}

var cases = []string{
	``, `plain`, `a\"b\\c\/d`, `\b\f\n\r\t`, `\u0041\u00e9\u20ac`, `\ud83d\ude00`, `x\ud83dy`, `\udc00`,
	`\ud800\u0041`, `\ud83d\ude00\ud83d`, `é€😀`, `\u00`, `\x41`, `\q`, `\`, `a\`, `\uZZZZ`, `\ud83d\`,
}

// TestUnescapeMatchesEncodingJSON: on every well-formed body (valid UTF-8,
// as encoding/json reads it) Unescape gives what encoding/json gives; on
// every body encoding/json refuses for its escapes, Unescape says false.
func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	for _, c := range cases {
		check(t, []byte(c))
	}
}

func FuzzUnescape(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		UnescapeLenient(nil, b) // never panics
	})
}

func check(t *testing.T, b []byte) {
	t.Helper()
	if !utf8.Valid(b) {
		return // encoding/json rewrites invalid UTF-8; Unescape copies bytes
	}
	for _, c := range b {
		if c < 0x20 || c == '"' && !escapedQuoteOK(b) {
			return // not a JSON string body
		}
	}
	want, ok := reference(b)
	got, gotOK := Unescape(nil, b)
	if ok != gotOK {
		t.Fatalf("Unescape(%q) ok=%v, encoding/json ok=%v", b, gotOK, ok)
	}
	if ok && string(got) != want {
		t.Fatalf("Unescape(%q) = %q, encoding/json %q", b, got, want)
	}
	if ok && string(UnescapeLenient(nil, b)) != want {
		t.Fatalf("UnescapeLenient(%q) = %q on a well-formed body, want %q", b, UnescapeLenient(nil, b), want)
	}
}

// escapedQuoteOK reports whether every '"' of b is escaped.
func escapedQuoteOK(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' {
			i++
			continue
		}
		if b[i] == '"' {
			return false
		}
	}
	return true
}

// TestUnescapeLenient: nginx's \xHH is a byte; what cannot be decoded is
// copied as written.
func TestUnescapeLenient(t *testing.T) {
	for in, want := range map[string]string{
		`\x41\x7f`: "A\x7f", `\xZ1`: `\xZ1`, `\q`: `\q`, `a\`: `a\`, `\u12`: `\u12`, `\ud83d\ude00`: "😀",
	} {
		if got := string(UnescapeLenient(nil, []byte(in))); got != want {
			t.Errorf("UnescapeLenient(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnescapeDoesNotAllocate: with room in dst, nothing is allocated.
func TestUnescapeDoesNotAllocate(t *testing.T) {
	in := []byte(`GET /a\"b\u00e9\ud83d\ude00 \\x`)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		dst, _ = Unescape(dst[:0], in)
		dst = UnescapeLenient(dst[:0], in)
	}); n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
}
