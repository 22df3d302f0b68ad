package envelope

import (
	"bytes"
	"time"

	"github.com/herd-ips/herd/internal/jsonstr"
)

// maxKeptScratch bounds the scratch buffer a Parser keeps between lines.
const maxKeptScratch = 1 << 20

// parseJSON reads one object of `journalctl -o json` output. It needs
// MESSAGE and __REALTIME_TIMESTAMP; any other object is not an envelope.
// Strings with escapes are unescaped into p.scratch, which never grows past
// the length of the line. Keys are compared raw (journald never escapes its
// field names); the first occurrence of a key wins.
func (p *Parser) parseJSON(b []byte, env *Envelope) bool {
	if cap(p.scratch) > maxKeptScratch && len(b) < maxKeptScratch {
		p.scratch = nil // one huge line must not pin its size for good
	}
	p.scratch = p.scratch[:0]
	env.Journal = JournalFields{}
	env.Message = nil // a MESSAGE that is neither string, bytes nor null leaves it empty
	var ident, comm, pid, spid []byte
	var haveMsg, haveTime bool
	i := skipWS(b, 1)
	if i < len(b) && b[i] == '}' {
		return false
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ks, ke, j, _, ok := scanString(b, i)
		if !ok {
			return false
		}
		key := b[ks:ke]
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		var dst *[]byte
		switch string(key) {
		case "MESSAGE":
			if !haveMsg {
				haveMsg = true
				switch b[i] {
				case '[':
					if env.Message, i, ok = p.byteArray(b, i); !ok {
						return false
					}
					goto next
				case 'n':
					env.Message = nil
				default:
					dst = &env.Message
				}
			}
		case "__REALTIME_TIMESTAMP":
			if !haveTime && b[i] == '"' {
				ks, ke, j, esc, ok := scanString(b, i)
				if !ok || esc {
					return false
				}
				t, ok := microTime(b[ks:ke])
				if !ok {
					return false
				}
				env.Time, haveTime = t.In(p.loc), true
				i = j
				goto next
			}
		case "_HOSTNAME":
			if env.Host == nil {
				dst = &env.Host
			}
		case "SYSLOG_IDENTIFIER":
			if ident == nil {
				dst = &ident
			}
		case "_COMM":
			if comm == nil {
				dst = &comm
			}
		case "_EXE":
			if env.Journal.Exe == nil {
				dst = &env.Journal.Exe
			}
		case "_SYSTEMD_UNIT":
			if env.Journal.Unit == nil {
				dst = &env.Journal.Unit
			}
		case "_UID":
			if env.Journal.UID == nil {
				dst = &env.Journal.UID
			}
		case "_PID":
			if pid == nil {
				dst = &pid
			}
		case "SYSLOG_PID":
			if spid == nil {
				dst = &spid
			}
		}
		if dst != nil && b[i] == '"' {
			v, j, ok := p.jsonString(b, i)
			if !ok {
				return false
			}
			if v == nil {
				v = b[i+1 : i+1] // present but empty: keep it non-nil
			}
			*dst, i = v, j
		} else if i, ok = skipValue(b, i); !ok {
			return false
		}
	next:
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
	if skipWS(b, i+1) != len(b) || !haveMsg || !haveTime {
		return false
	}
	env.Format = FormatJournalJSON
	env.Journal.Ident, env.Journal.Comm = ident, comm
	env.Program = ident
	if len(env.Program) == 0 {
		env.Program = comm
	}
	env.Program = p.noSpace(env.Program)
	env.PID = pid
	if len(env.PID) == 0 {
		env.PID = spid
	}
	return true
}

// noSpace returns s, or a copy in scratch with each byte <= ' ' replaced by
// '_', so that a Program never holds a space.
func (p *Parser) noSpace(s []byte) []byte {
	k := 0
	for k < len(s) && s[k] > ' ' {
		k++
	}
	if k == len(s) {
		return s
	}
	n := len(p.scratch)
	for _, ch := range s {
		if ch <= ' ' {
			ch = '_'
		}
		p.scratch = append(p.scratch, ch)
	}
	return p.scratch[n:]
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString scans the JSON string starting at b[i] == '"'. It returns the
// bounds of its raw contents, the index after the closing quote and whether
// it holds escapes.
func scanString(b []byte, i int) (start, end, next int, esc, ok bool) {
	start = i + 1
	j := start
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, 0, 0, false, false
		}
		j += k
		n := 0 // backslashes before the quote; an odd count escapes it
		for m := j - 1; m >= start && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			break
		}
		j++
	}
	esc = bytes.IndexByte(b[start:j], '\\') >= 0
	return start, j, j + 1, esc, true
}

// jsonString returns the value of the JSON string at b[i] == '"': a slice of
// b when it has no escapes, else its unescaped form in p.scratch.
func (p *Parser) jsonString(b []byte, i int) ([]byte, int, bool) {
	s, e, next, esc, ok := scanString(b, i)
	if !ok {
		return nil, 0, false
	}
	if !esc {
		return b[s:e], next, true
	}
	n := len(p.scratch)
	if p.scratch, ok = jsonstr.Unescape(p.scratch, b[s:e]); !ok {
		return nil, 0, false
	}
	return p.scratch[n:], next, true
}

// byteArray reads a JSON array of byte values (journald's form for binary
// fields) at b[i] == '[' into p.scratch.
func (p *Parser) byteArray(b []byte, i int) ([]byte, int, bool) {
	n := len(p.scratch)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return p.scratch[n:], i + 1, true
	}
	for {
		v, k := 0, i
		for k < len(b) && isDigit(b[k]) && k < i+3 {
			v = v*10 + int(b[k]-'0')
			k++
		}
		if k == i || v > 255 {
			return nil, 0, false
		}
		p.scratch = append(p.scratch, byte(v))
		i = skipWS(b, k)
		if i >= len(b) {
			return nil, 0, false
		}
		if b[i] == ']' {
			return p.scratch[n:], i + 1, true
		}
		if b[i] != ',' {
			return nil, 0, false
		}
		i = skipWS(b, i+1)
	}
}

// skipValue skips the JSON value at b[i:] without checking it closely:
// strings are scanned exactly, nesting is tracked, scalars run to the next
// delimiter.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			_, _, next, _, ok := scanString(b, i)
			if !ok {
				return 0, false
			}
			i = next
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, true
			}
			i++
		default:
			i++
		}
		if depth == 0 {
			// A scalar ends at the next delimiter.
			for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != '"' && b[i] != '{' && b[i] != '[' {
				i++
			}
			if i < len(b) && (b[i] == '"' || b[i] == '{' || b[i] == '[') {
				return 0, false
			}
			return i, true
		}
	}
	return 0, false
}

// microTime reads microseconds since the epoch.
func microTime(s []byte) (time.Time, bool) {
	if len(s) == 0 || len(s) > 18 {
		return time.Time{}, false
	}
	var v int64
	for _, ch := range s {
		if !isDigit(ch) {
			return time.Time{}, false
		}
		v = v*10 + int64(ch-'0')
	}
	if v/1e6 > maxUnixSec {
		return time.Time{}, false
	}
	return time.UnixMicro(v), true
}
