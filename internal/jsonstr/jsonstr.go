// Package jsonstr unescapes the body of a JSON string (the bytes between
// its quotes) into a caller's buffer, without allocating beyond that
// buffer's growth: the one decoder shared by the journal's envelope, the
// journald follower's cursors and JSON access logs.
package jsonstr

import "unicode/utf8"

// Unescape appends the unescaped form of the JSON string body s to dst, as
// RFC 8259 defines it, and reports whether s was well formed (a backslash
// followed by one of "\/bfnrtu, \u by four hex digits). A UTF-16 surrogate
// pair written as two \u escapes becomes its one character; a lone
// surrogate becomes U+FFFD. On false, dst holds what was decoded before the
// fault. Unescape does not allocate when dst has room.
func Unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if i++; i >= len(s) {
			return dst, false
		}
		if b, ok := simple(s[i]); ok {
			dst = append(dst, b)
			continue
		}
		if s[i] != 'u' {
			return dst, false
		}
		r, n, ok := escapedRune(s, i)
		if !ok {
			return dst, false
		}
		i += n
		dst = utf8.AppendRune(dst, r)
	}
	return dst, true
}

// UnescapeLenient is Unescape for text that only looks like JSON (nginx's
// escape=json access logs): it also decodes \xHH as the byte HH, and an
// escape it cannot decode is copied as written instead of failing.
func UnescapeLenient(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		if b, ok := simple(s[i]); ok {
			dst = append(dst, b)
			continue
		}
		switch s[i] {
		case 'u':
			if r, n, ok := escapedRune(s, i); ok {
				dst = utf8.AppendRune(dst, r)
				i += n
				continue
			}
		case 'x':
			if v, ok := hex(s, i+1, 2); ok {
				dst = append(dst, byte(v))
				i += 2
				continue
			}
		}
		dst = append(dst, '\\', s[i])
	}
	return dst
}

// simple returns the byte a one-letter escape stands for.
func simple(c byte) (byte, bool) {
	switch c {
	case '"', '\\', '/':
		return c, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// escapedRune decodes the \u escape whose 'u' is at s[i], and the low half
// that follows when it is a high surrogate. n is how many bytes after the
// 'u' it used.
func escapedRune(s []byte, i int) (r rune, n int, ok bool) {
	v, ok := hex(s, i+1, 4)
	if !ok {
		return 0, 0, false
	}
	r, n = rune(v), 4
	if r >= 0xd800 && r < 0xdc00 && i+10 < len(s) && s[i+5] == '\\' && s[i+6] == 'u' {
		if lo, ok := hex(s, i+7, 4); ok && lo >= 0xdc00 && lo < 0xe000 {
			r = 0x10000 + (r-0xd800)<<10 + (rune(lo) - 0xdc00)
			n += 6
		}
	}
	if r >= 0xd800 && r < 0xe000 {
		r = utf8.RuneError
	}
	return r, n, true
}

// hex reads n hex digits at s[i:].
func hex(s []byte, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range s[i : i+n] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
