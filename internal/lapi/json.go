package lapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/store"
)

// appendDecision appends d as a CrowdSec API decision object:
//
//	{"id":7,"origin":"herd","type":"ban","scope":"Ip","value":"192.0.2.7",
//	 "duration":"3h59m58s","scenario":"ssh-bruteforce",
//	 "until":"2026-11-23T12:00:00Z","simulated":false}
//
// duration is the time left at now, rounded to the second as CrowdSec does
// (negative for a decision already expired, as in CrowdSec's deleted lists).
// A single address has scope "Ip" and its address as value; anything wider
// has scope "Range" and CIDR notation. It allocates only to grow b.
func appendDecision(b []byte, d *store.DecisionRecord, now time.Time) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, d.ID, 10)
	b = append(b, `,"origin":`...)
	b = appendJSONString(b, d.Origin)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, d.Type.String())
	if d.Scope.IsSingleIP() {
		b = append(b, `,"scope":"Ip","value":"`...)
		b = d.Scope.Addr().AppendTo(b)
	} else {
		b = append(b, `,"scope":"Range","value":"`...)
		b = d.Scope.AppendTo(b)
	}
	b = append(b, `","duration":"`...)
	b = appendDuration(b, d.Until.Sub(now).Round(time.Second))
	b = append(b, `","scenario":`...)
	b = appendJSONString(b, d.Scenario)
	b = append(b, `,"until":"`...)
	b = d.Until.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","simulated":`...)
	b = strconv.AppendBool(b, d.Simulated)
	return append(b, '}')
}

// appendDuration appends d as time.Duration.String does, without allocating.
func appendDuration(b []byte, d time.Duration) []byte {
	var buf [32]byte
	s := formatDuration(buf[:0], d)
	return append(b, s...)
}

// formatDuration formats d in Go's h/m/s form for whole seconds, which is
// all appendDuration is given; other values fall back to Duration.String.
func formatDuration(b []byte, d time.Duration) []byte {
	if d%time.Second != 0 {
		return append(b, d.String()...)
	}
	if d == 0 {
		return append(b, "0s"...)
	}
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	secs := u / uint64(time.Second)
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 {
		b = strconv.AppendUint(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendUint(b, m, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendUint(b, s, 10)
	return append(b, 's')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMessage appends CrowdSec's error body {"message":msg}.
func appendMessage(b []byte, msg string) []byte {
	b = append(b, `{"message":`...)
	b = appendJSONString(b, msg)
	return append(b, '}')
}
