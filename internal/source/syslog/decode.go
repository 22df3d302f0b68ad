package syslog

import (
	"errors"
	"fmt"
	"time"
)

// ErrMalformed reports a message that is not syslog: empty, or a "<" that
// does not open a valid PRI ("<0>" to "<191>").
var ErrMalformed = errors.New("malformed message")

// stampPrefix bounds what AppendLine adds before a message: a time of the
// form "Jan _2 2006 15:04:05.000000 " or an RFC 3339 one in UTC, and the
// kept PRI and version.
const stampPrefix = 48

// lineCap is the capacity a destination buffer needs so that AppendLine
// never grows it for a message of at most max bytes: each byte may become
// four ("#012").
func lineCap(max int) int { return stampPrefix + 4*max }

// AppendLine appends to dst the log line that syslog message msg (without
// its framing) stands for, as a syslog daemon would have written it to a
// file, and returns the extended buffer. now is when it was received and loc
// the zone of the agent's zone-less timestamps.
//
//   - RFC 5424 ("<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG") is kept as
//     it is (internal/envelope reads it), except that a nil timestamp "-"
//     becomes the receive time in RFC 3339, UTC.
//   - RFC 3164 ("<PRI>Mmm dd hh:mm:ss host prog[pid]: msg", or an ISO 8601
//     stamp as rsyslog forwards) loses its PRI, as in a file; the stamp
//     is kept, so a year-less one is read against the agent's clock.
//   - A message with no time ("<PRI>prog[pid]: msg", or a bare line) gets
//     the receive time in front, with its year, in loc:
//     "Nov 23 2026 11:30:27.123456 prog[pid]: msg".
//
// Trailing newlines, carriage returns and NUL bytes are dropped; other
// control bytes become "#ooo" (octal), as rsyslog writes them, so a message
// never holds a line break and an attacker's text cannot start a line of
// its own. The sender's address plays no part. AppendLine returns
// ErrMalformed (wrapped) for an empty message or a bad PRI. It does not
// allocate when dst has room for lineCap(len(msg)) bytes more.
func AppendLine(dst, msg []byte, now time.Time, loc *time.Location) ([]byte, error) {
	for n := len(msg); n > 0 && (msg[n-1] == '\n' || msg[n-1] == '\r' || msg[n-1] == 0); n = len(msg) {
		msg = msg[:n-1]
	}
	if len(msg) == 0 {
		return dst, fmt.Errorf("%w: empty", ErrMalformed)
	}
	var pri []byte
	body := msg
	if msg[0] == '<' {
		n, ok := scanPRI(msg)
		if !ok {
			return dst, fmt.Errorf("%w: bad PRI %q", ErrMalformed, clipBytes(msg))
		}
		pri, body = msg[:n], msg[n:]
	}
	if pri != nil && len(body) >= 2 && body[0] == '1' && body[1] == ' ' {
		dst = append(dst, pri...)
		dst = append(dst, '1', ' ')
		rest := body[2:]
		if len(rest) >= 1 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ') {
			dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
			rest = rest[1:]
		}
		return appendEscaped(dst, rest), nil
	}
	if !hasStamp(body) {
		if loc == nil {
			loc = time.Local
		}
		dst = now.In(loc).AppendFormat(dst, "Jan _2 2006 15:04:05.000000")
		dst = append(dst, ' ')
	}
	return appendEscaped(dst, body), nil
}

// scanPRI reads "<n>", n a decimal of one to three digits up to 191, at
// the start of b, and returns its length.
func scanPRI(b []byte) (int, bool) {
	v := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		c := b[i]
		if c == '>' {
			return i + 1, i > 1 && v <= 191
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return 0, false
}

// hasStamp reports whether b starts with what looks like an RFC 3164 stamp
// ("Mmm dd " or "Mmm d ") or an ISO 8601 date ("2006-"). Whether the stamp
// is valid is the envelope parser's business, as for a line of a file.
func hasStamp(b []byte) bool {
	if len(b) >= 5 && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && isDigit(b[3]) && b[4] == '-' {
		return true
	}
	if len(b) < 6 || b[3] != ' ' {
		return false
	}
	twoDigits := (isDigit(b[4]) || b[4] == ' ') && isDigit(b[5]) // "23", " 3"
	oneDigit := isDigit(b[4]) && b[5] == ' '                     // "3 "
	if !twoDigits && !oneDigit {
		return false
	}
	m := string(b[:3]) // does not allocate: compared only
	switch m {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// appendEscaped appends b with control bytes written "#ooo".
func appendEscaped(dst, b []byte) []byte {
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] >= 0x20 && b[i] != 0x7f {
			i++
		}
		dst = append(dst, b[:i]...)
		if i == len(b) {
			break
		}
		c := b[i]
		dst = append(dst, '#', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
		b = b[i+1:]
	}
	return dst
}
