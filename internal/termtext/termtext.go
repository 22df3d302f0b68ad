// Package termtext makes attacker-written text safe to show on a terminal:
// control characters, escape sequences, invalid UTF-8 and other characters
// a terminal would act on or cannot show are written as visible Go-style
// escapes.
//
// Every text a remote party can choose (a log line kept as evidence, a
// scenario or machine name sent to the local API, a user agent, a path, a
// user name, a bouncer name) goes through String or Append before herd
// prints it as text; JSON output goes through JSON.
package termtext

import (
	"io"
	"unicode"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// safe reports whether the rune r, of n bytes, is shown as itself: a
// printable character or the ASCII space, and not a backslash (which is
// doubled, so that every escape is unambiguous).
func safe(r rune, n int) bool {
	if r < utf8.RuneSelf {
		return ' ' <= r && r < 0x7f && r != '\\'
	}
	if r == utf8.RuneError && n == 1 {
		return false
	}
	return unicode.IsPrint(r)
}

// clean reports whether s needs no escape.
func clean[T string | []byte](s T) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c >= 0x7f || c == '\\' {
				return false
			}
			i++
			continue
		}
		r, n := decode(s[i:])
		if !safe(r, n) {
			return false
		}
		i += n
	}
	return true
}

func decode[T string | []byte](s T) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.RuneError, 1
}

// String returns s as it may be shown on a terminal: s itself when it
// needs no escape (without allocating), else a copy where a backslash is
// doubled, a byte that is not valid UTF-8 or an ASCII control (C0, DEL)
// is written \xHH, and any other character that is not printable (C1
// controls, format characters such as bidirectional overrides, line and
// paragraph separators, non-breaking spaces) \uHHHH or \UHHHHHHHH. The
// result holds no byte below 0x20, no 0x7f and no C1 control, so it can
// neither move the cursor nor start an escape sequence, and one value
// cannot look like two.
func String(s string) string {
	if clean(s) {
		return s
	}
	return string(Append(make([]byte, 0, len(s)+16), s))
}

// Append appends s to dst escaped as String does. It does not allocate
// when dst has room.
func Append[T string | []byte](dst []byte, s T) []byte {
	return appendEscaped(dst, s, false)
}

// appendEscaped appends s escaped; with lines, newlines and tabs are kept
// and backslashes are not doubled (the text is already a producer's
// quoted output, as a log record is).
func appendEscaped[T string | []byte](dst []byte, s T, lines bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case lines && (c == '\n' || c == '\t'):
				dst = append(dst, c)
			case c == '\\' && !lines:
				dst = append(dst, '\\', '\\')
			case c < ' ' || c == 0x7f:
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := decode(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		case unicode.IsPrint(r):
			dst = append(dst, s[i:i+n]...)
		case r <= 0xffff:
			dst = append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			dst = append(dst, '\\', 'U')
			for sh := 28; sh >= 0; sh -= 4 {
				dst = append(dst, hexDigits[r>>sh&0xf])
			}
		}
		i += n
	}
	return dst
}

// Lines returns a writer that passes lines of text to w with every byte a
// terminal could act on escaped as String does, newlines and tabs kept
// and backslashes left as they are. It is for the output of a producer
// that escapes most but not all (log/slog's text handler quotes values
// with controls but writes DEL as it is). Each Write must hold whole UTF-8
// sequences, as slog's handlers do (one record per Write).
func Lines(w io.Writer) io.Writer { return &linesWriter{w: w} }

type linesWriter struct {
	w   io.Writer
	buf []byte
}

func (l *linesWriter) Write(p []byte) (int, error) {
	i := 0
	for i < len(p) && (' ' <= p[i] && p[i] < 0x7f || p[i] == '\n' || p[i] == '\t') {
		i++
	}
	if i == len(p) || cleanLines(p[i:]) {
		return l.w.Write(p)
	}
	l.buf = appendEscaped(append(l.buf[:0], p[:i]...), p[i:], true)
	if _, err := l.w.Write(l.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// cleanLines reports whether p needs no escape in Lines.
func cleanLines(p []byte) bool {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && c != '\n' && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if !safe(r, n) {
			return false
		}
		i += n
	}
	return true
}

// JSON returns a writer that passes JSON text to w with DEL and the C1
// control characters (U+0080 to U+009F), which encoding/json writes as
// they are and some terminals act on, written as \u007f and \u0080 to
// \u009f: an equivalent JSON text. encoding/json already escapes the C0
// controls and replaces invalid UTF-8. Each Write must hold whole UTF-8
// sequences, as json.Encoder's Encode does; the text must be valid UTF-8,
// as encoding/json writes it (in it, these characters can only be inside
// strings).
func JSON(w io.Writer) io.Writer { return &jsonWriter{w: w} }

type jsonWriter struct {
	w   io.Writer
	buf []byte
}

// c1At reports whether p[i:] starts with a UTF-8 encoded C1 control.
func c1At(p []byte, i int) bool {
	return p[i] == 0xc2 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] < 0xa0
}

func (j *jsonWriter) Write(p []byte) (int, error) {
	i := 0
	for i < len(p) && p[i] != 0x7f && !c1At(p, i) {
		i++
	}
	if i == len(p) {
		return j.w.Write(p)
	}
	b := append(j.buf[:0], p[:i]...)
	for ; i < len(p); i++ {
		switch {
		case p[i] == 0x7f:
			b = append(b, `\u007f`...)
		case c1At(p, i):
			b = append(b, '\\', 'u', '0', '0', hexDigits[p[i+1]>>4], hexDigits[p[i+1]&0xf])
			i++
		default:
			b = append(b, p[i])
		}
	}
	j.buf = b
	if _, err := j.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}
