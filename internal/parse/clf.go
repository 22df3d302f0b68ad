package parse

import (
	"bytes"
	"net/netip"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/textmatch"
)

// decodeCLF reads an access-log line in the common, combined or
// vhost_combined layout:
//
//	[vhost[:port] ]client ident user [time] "request" status bytes ["referer" "user-agent" ...]
//
// Servers escape '"' inside quoted fields (nginx as \x22, Apache as \"), so
// the first '"' after the client opens the request and every field before
// it is server-written or quote-free; the client address is always the
// server-written first (or, with a vhost, second) token. A request line that
// is not "METHOD target [HTTP/x]" leaves the method empty, puts the raw text
// in the path and still yields source and status. The user may be quoted.
func (p *Parser) decodeCLF(r *rule, msg []byte, ev *event.Event) decodeStatus {
	return p.decodeCLFAs(r, msg, ev, p.fam)
}

// decodeCLFAs is decodeCLF for the layout family f declares: FamilyCLF reads
// the client from the first field, FamilyVhost from the second (the first
// is the virtual host, which a Host: header may choose, even as an
// address). Lines whose layout no file declares (access lines sent through
// syslog, FamilyAny) are read as vhost_combined when the second field is
// an address, and as CLF only when the first is one and the second is not:
// in CLF the second field is identd's answer ("-"), never an address, so a
// virtual host written as an address can never be taken for the client.
func (p *Parser) decodeCLFAs(r *rule, msg []byte, ev *event.Event, f Family) decodeStatus {
	sp := bytes.IndexByte(msg, ' ')
	if sp <= 0 {
		return noMatch
	}
	var host []byte
	var src netip.Addr
	ok := false
	switch f {
	case FamilyCLF:
		if src, ok = textmatch.ParseToken(msg[:sp]); !ok {
			return noMatch
		}
	case FamilyVhost:
	default:
		src, ok = textmatch.ParseToken(msg[:sp])
		if ok && secondIsAddr(msg[sp+1:]) {
			ok = false // vhost_combined with an address for the vhost
		}
	}
	rest := msg[sp+1:]
	if !ok {
		// vhost_combined: "host:port client ..."
		host = msg[:sp]
		if k := bytes.LastIndexByte(host, ':'); k > 0 && isDigits(host[k+1:]) {
			host = host[:k]
		}
		sp2 := bytes.IndexByte(rest, ' ')
		if sp2 <= 0 {
			return noMatch
		}
		if src, ok = textmatch.ParseToken(rest[:sp2]); !ok {
			return noMatch
		}
		rest = rest[sp2+1:]
	}
	// ident
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return noMatch
	}
	rest = rest[sp+1:]
	// user and time: the request's opening quote follows "] ". Some
	// layouts quote the user ("\"%u\""); its closing quote must then be
	// followed by the time, and quotes inside it are escaped.
	skip := 0
	if len(rest) > 0 && rest[0] == '"' {
		e := closingQuote(rest[1:])
		if e < 0 || !bytes.HasPrefix(rest[e+2:], []byte(" [")) {
			return noMatch
		}
		skip = e + 2
	}
	q := bytes.IndexByte(rest[skip:], '"')
	if q < 0 {
		return noMatch
	}
	q += skip
	if q < 3 || rest[q-1] != ' ' || rest[q-2] != ']' {
		return noMatch
	}
	lb := bytes.LastIndexByte(rest[:q-2], '[')
	if lb < 1 || rest[lb-1] != ' ' || lb < skip {
		return noMatch
	}
	user := rest[:lb-1]
	if skip > 0 {
		user = rest[1 : skip-1]
		if lb != skip+1 {
			return noMatch
		}
	}
	stamp := rest[lb+1 : q-2]
	rest = rest[q+1:]
	end := closingQuote(rest)
	if end < 0 {
		return noMatch
	}
	request := rest[:end]
	rest = rest[end+1:]
	// status and bytes
	if len(rest) < 4 || rest[0] != ' ' {
		return noMatch
	}
	status, ok := atoi(rest[1:4], 3)
	if !ok || (len(rest) > 4 && rest[4] != ' ') {
		return noMatch
	}
	rest = rest[4:]
	size := int64(-1)
	if len(rest) > 0 {
		rest = rest[1:]
		k := bytes.IndexByte(rest, ' ')
		if k < 0 {
			k = len(rest)
		}
		if string(rest[:k]) != "-" && !isDigits(rest[:k]) {
			return noMatch
		}
		size = parseBytes(rest[:k])
		rest = rest[k:]
	}
	// optional "referer" "user-agent"
	var ua, ref []byte
	if rf, r, ok := quoted(rest); ok {
		ref = rf
		if u, _, ok := quoted(r); ok {
			ua = u
		}
	}

	t, err := p.env.ParseTime(envelope.LayoutCLF, stamp)
	if err != nil {
		return badTime
	}
	p.start(r, ev)
	ev.Time = t
	ev.Source = src
	ev.Status = uint16(status)
	ev.Bytes = size
	if len(user) > 0 && string(user) != "-" {
		ev.User = user
	}
	if m, pth, pr, ok := textmatch.SplitRequest(request); ok {
		ev.Method = request[m.Start:m.End]
		ev.Path = request[pth.Start:pth.End]
		if pr.Start >= 0 {
			ev.Proto = request[pr.Start:pr.End]
		}
	} else if len(request) > 0 && string(request) != "-" {
		// Not an HTTP request line (a TLS hello or another protocol sent
		// to the HTTP port): the raw text stands for the path, so that
		// distinct garbage counts as distinct paths.
		ev.Path = request
	}
	if len(ua) > 0 && string(ua) != "-" {
		ev.UserAgent = ua
	}
	if len(ref) > 0 && string(ref) != "-" {
		ev.Referer = ref
	}
	if len(host) > 0 && string(host) != "-" {
		ev.Host = host
	}
	return matched
}

// closingQuote returns the index of the first '"' in b not escaped by a
// backslash, or -1.
func closingQuote(b []byte) int {
	for i := 0; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		e := bytes.IndexByte(b[i:q], '\\')
		if e < 0 {
			return q // no escape before this quote
		}
		i += e + 2 // the escaped byte, maybe this quote, is skipped
		if i > len(b) {
			return -1
		}
	}
}

// quoted reads ` "field"` at the start of b and returns the field and the
// rest after its closing quote.
func quoted(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != ' ' || b[1] != '"' {
		return nil, b, false
	}
	end := closingQuote(b[2:])
	if end < 0 {
		return nil, b, false
	}
	return b[2 : 2+end], b[2+end+1:], true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// secondIsAddr reports whether the field that starts rest parses as an
// address.
func secondIsAddr(rest []byte) bool {
	k := bytes.IndexByte(rest, ' ')
	if k <= 0 {
		return false
	}
	_, ok := textmatch.ParseToken(rest[:k])
	return ok
}
