package termtext

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Check reports the first byte offset of s a terminal could act on: a C0
// control other than the newline and tab, DEL, a C1 control (raw, or
// UTF-8 encoded), or a byte that is not valid UTF-8. It returns -1 when
// there is none. Tests of every text output use it.
func Check(s []byte) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\n' && c != '\t' || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 || 0x80 <= r && r < 0xa0 {
			return i
		}
		i += n
	}
	return -1
}

// hostile holds every class of byte a terminal acts on, and the
// characters that make text look other than it is.
var hostile = []string{
	"\x1b[2J\x1b[1;1Hroot",  // ESC: clear the screen, move the cursor
	"ok\rfake",              // CR: overwrite the line
	"bell\a",                // BEL
	"\x9b31m",               // C1 CSI, raw byte (invalid UTF-8)
	"\u009b31m",             // C1 CSI, UTF-8 encoded
	"\u0085next",            // C1 NEL
	"\xff\xfe\xc0\x80",      // invalid UTF-8, overlong NUL
	"\x7fdel",               // DEL
	"a\nb\tc\x00d\x08e",     // newline, tab, NUL, backspace: layout is the printer's
	"\u202eevil\u202c",      // bidirectional override
	"\u2028line\u2029",      // line and paragraph separators
	"zero\u200bwidth\ufeff", // zero-width space, BOM
	`back\x1bslash`,         // a literal backslash escape, which must stay distinct
	"\U000e0041tag",         // a tag character (outside the BMP)
	"\xed\xa0\x80surrogate", // an encoded surrogate (invalid UTF-8)
	"ünïcødé 日本 ok",         // printable: unchanged
}

func TestStringEscapesEveryControl(t *testing.T) {
	seen := map[string]string{}
	for _, s := range hostile {
		got := String(s)
		if i := Check([]byte(got)); i >= 0 {
			t.Errorf("String(%q) = %q: byte %d %#x", s, got, i, got[i])
		}
		if strings.ContainsAny(got, "\n\t") {
			t.Errorf("String(%q) = %q keeps a newline or tab: one value must stay one field", s, got)
		}
		if got2 := string(Append(nil, []byte(s))); got2 != got {
			t.Errorf("Append([]byte) = %q, String = %q", got2, got)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("%q and %q both escape to %q", prev, s, got)
		}
		seen[got] = s
	}
	for in, want := range map[string]string{
		"\x1b[2J":            `\x1b[2J`,
		"ok\rfake":           `ok\x0dfake`,
		"\x9b":               `\x9b`,
		"\u009b":             `\u009b`,
		`a\b`:                `a\\b`,
		"\u202e":             `\u202e`,
		"\U000e0041":         `\U000e0041`,
		"plain text, ok 123": "plain text, ok 123",
		"ünïcødé":            "ünïcødé",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStringIsReversible: the escapes are Go's, so strconv.Unquote gives
// back the original bytes (invalid UTF-8 included): nothing is lost, only
// made visible.
func TestStringIsReversible(t *testing.T) {
	for _, s := range hostile {
		got := String(s)
		back, err := strconv.Unquote(`"` + strings.ReplaceAll(got, `"`, `\"`) + `"`)
		if err != nil || back != s {
			t.Errorf("Unquote(String(%q)) = %q, %v", s, back, err)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if i := Check([]byte(got)); i >= 0 || strings.ContainsAny(got, "\n\t") {
			t.Fatalf("String(%q) = %q", s, got)
		}
		back, err := strconv.Unquote(`"` + strings.ReplaceAll(got, `"`, `\"`) + `"`)
		if err != nil || back != s {
			t.Fatalf("Unquote(String(%q)) = %q, %v", s, back, err)
		}
	})
}

func TestLines(t *testing.T) {
	var b bytes.Buffer
	w := Lines(&b)
	for _, s := range hostile {
		w.Write([]byte(s + "\n"))
	}
	if i := Check(b.Bytes()); i >= 0 {
		t.Fatalf("byte %d of %q", i, b.Bytes())
	}
	if n := strings.Count(b.String(), "\n"); n != len(hostile)+1 { // one hostile string holds a newline
		t.Fatalf("%d newlines, want %d", n, len(hostile)+1)
	}
	b.Reset()
	w.Write([]byte("plain \\ text\tok\n"))
	if b.String() != "plain \\ text\tok\n" {
		t.Fatalf("clean text changed: %q", b.String())
	}
}

func TestCleanStringsDoNotAllocate(t *testing.T) {
	s := "sshd-bruteforce 192.0.2.7 ünïcødé"
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Fatalf("String allocates %v times on clean text", n)
	}
	buf := make([]byte, 0, 256)
	h := strings.Join(hostile, "")
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], h) }); n != 0 {
		t.Fatalf("Append allocates %v times with room", n)
	}
}

// TestJSON: encoding/json escapes C0 controls and replaces invalid UTF-8
// but writes DEL and C1 controls as they are; through JSON none is left, and the
// text decodes to the same values.
func TestJSON(t *testing.T) {
	type rec struct{ A, B string }
	in := rec{A: strings.Join(hostile, "|"), B: "\u0080\u009f\u00a0é"}
	var raw bytes.Buffer
	json.NewEncoder(&raw).Encode(in)
	if Check(raw.Bytes()) < 0 {
		t.Fatal("encoding/json escaped DEL and C1 controls: JSON is no longer needed")
	}
	var out bytes.Buffer
	if err := json.NewEncoder(JSON(&out)).Encode(in); err != nil {
		t.Fatal(err)
	}
	if i := Check(out.Bytes()); i >= 0 {
		t.Fatalf("byte %d of %q", i, out.Bytes())
	}
	var back, want rec
	json.Unmarshal(out.Bytes(), &back)
	json.Unmarshal(raw.Bytes(), &want)
	if back != want {
		t.Fatalf("decoded %q, want %q", back, want)
	}
}

// TestSlogText: herd's logs (agent and hub, on stderr) use log/slog's
// text handler, which quotes a value holding controls with Go escapes but
// writes DEL as it is; through Lines, a hostile value in a log record
// reaches the terminal escaped and the record stays one line.
func TestSlogText(t *testing.T) {
	var raw bytes.Buffer
	slog.New(slog.NewTextHandler(&raw, nil)).Info("x", "value", "\x7f")
	if Check(raw.Bytes()) < 0 {
		t.Fatal("slog's text handler escapes DEL: Lines is no longer needed")
	}
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(Lines(&b), nil))
	for _, s := range hostile {
		log.Info(s, "value", s, "bytes", []byte(s), "err", errors.New(s))
	}
	if i := Check(b.Bytes()); i >= 0 {
		t.Fatalf("byte %d of %q", i, b.Bytes()[max(0, i-20):min(b.Len(), i+20)])
	}
	if n := strings.Count(b.String(), "\n"); n != len(hostile) {
		t.Fatalf("%d lines for %d records: a value broke the one-record-per-line framing", n, len(hostile))
	}
}
