package parse

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/jsonstr"
	"github.com/herd-ips/herd/internal/textmatch"
)

// maxJSONDepth bounds the nesting decodeJSON follows; deeper lines do not match.
const maxJSONDepth = 32

// jsonVal is one scalar value found in an access line: its raw text (inside
// the quotes for a string) and whether it was a string.
type jsonVal struct {
	raw    []byte
	str    bool
	escape bool // the string holds backslash escapes
	set    bool
}

// accessFields are the values decodeJSON looks for.
type accessFields struct {
	client                             [maxClientFields]jsonVal // per Options.JSONClientFields
	timeLocal, timeISO, ts             jsonVal
	request, method, uri, status, size jsonVal
	ua, host, ref                      jsonVal
}

// decodeJSON reads a JSON access line: Traefik's (ClientHost,
// RequestMethod, RequestPath, DownstreamStatus, DownstreamContentSize,
// request_User-Agent, RequestHost, StartUTC), nginx-style flat objects
// ({"remote_addr":..., "time_local":..., "request":"GET / HTTP/1.1",
// "status":..., "body_bytes_sent":..., "http_user_agent":..., "host":...}) and
// Caddy-style ones ({"ts":..., "status":..., "size":..., "request":
// {"client_ip":..., "remote_ip":..., "method":..., "uri":..., "host":...,
// "headers":{"User-Agent":[...]}}}). Only these paths are read: request
// headers are attacker-named, so no other nesting level is trusted.
func (p *Parser) decodeJSON(r *rule, msg []byte, ev *event.Event) decodeStatus {
	var f accessFields
	s := jsonScanner{b: msg}
	if !s.open('{') {
		return noMatch
	}
	for {
		key, more, ok := s.key()
		if !ok {
			return noMatch
		}
		if !more {
			break
		}
		if k := fieldIndex(p.jsonTop, key); k >= 0 {
			if ok = s.scalar(&f.client[k]); !ok {
				return noMatch
			}
			continue
		}
		switch string(key) {
		case "request":
			if s.peek() == '{' {
				ok = s.caddyRequest(&f, p.jsonReq, len(p.jsonTop))
			} else {
				ok = s.scalar(&f.request)
			}
		case "time_local":
			ok = s.scalar(&f.timeLocal)
		case "time_iso8601":
			ok = s.scalar(&f.timeISO)
		case "ts", "time", "timestamp", "StartUTC":
			ok = s.scalar(&f.ts)
		case "method", "request_method", "RequestMethod":
			ok = s.scalar(&f.method)
		case "uri", "request_uri", "RequestPath":
			ok = s.scalar(&f.uri)
		case "status", "DownstreamStatus":
			ok = s.scalar(&f.status)
		case "body_bytes_sent", "size", "bytes_sent", "DownstreamContentSize":
			ok = s.scalar(&f.size)
		case "http_user_agent", "user_agent", "request_User-Agent":
			ok = s.scalar(&f.ua)
		case "http_referer", "referer", "request_Referer":
			ok = s.scalar(&f.ref)
		case "host", "http_host", "server_name", "RequestHost":
			ok = s.scalar(&f.host)
		default:
			ok = s.skip()
		}
		if !ok {
			return noMatch
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return noMatch
	}

	p.scratch = p.scratch[:0]
	var src struct {
		a  netip.Addr
		ok bool
	}
	for _, k := range p.jsonOrder {
		if v := &f.client[k]; v.set && v.str {
			if a, ok := textmatch.ParseToken(p.text(v)); ok {
				src.a, src.ok = a, true
				break
			}
		}
	}
	status, ok := atoi(p.text(&f.status), 3)
	if !src.ok || !f.status.set || !ok {
		return noMatch
	}
	ts, st := p.jsonTime(&f)
	if st == badTime {
		return badTime
	}
	p.start(r, ev)
	if !ts.IsZero() {
		ev.Time = ts
	}
	ev.Source = src.a
	ev.Status = uint16(status)
	if f.size.set {
		ev.Bytes = parseBytes(p.text(&f.size))
	}
	if f.request.set && f.request.str {
		req := p.text(&f.request)
		if m, pth, pr, ok := textmatch.SplitRequest(req); ok {
			ev.Method, ev.Path = req[m.Start:m.End], req[pth.Start:pth.End]
			if pr.Start >= 0 {
				ev.Proto = req[pr.Start:pr.End]
			}
		} else if len(req) > 0 && string(req) != "-" {
			ev.Path = req // not an HTTP request line: the raw text, as in decodeCLF
		}
	}
	if f.method.set {
		ev.Method = p.text(&f.method)
	}
	if f.uri.set {
		ev.Path = p.text(&f.uri)
	}
	if f.ua.set {
		if ua := p.text(&f.ua); len(ua) > 0 && string(ua) != "-" {
			ev.UserAgent = ua
		}
	}
	if f.host.set {
		if h := p.text(&f.host); len(h) > 0 && string(h) != "-" {
			ev.Host = h
		}
	}
	if f.ref.set {
		if r := p.text(&f.ref); len(r) > 0 && string(r) != "-" {
			ev.Referer = r
		}
	}
	return matched
}

func (p *Parser) jsonTime(f *accessFields) (time.Time, decodeStatus) {
	var l envelope.Layout
	var v *jsonVal
	switch {
	case f.timeISO.set:
		l, v = envelope.LayoutISO8601, &f.timeISO
	case f.timeLocal.set:
		l, v = envelope.LayoutCLF, &f.timeLocal
	case f.ts.set:
		v = &f.ts
		l = envelope.LayoutUnix
		if b := p.text(v); v.str && bytes.IndexByte(b, '-') > 0 {
			l = envelope.LayoutISO8601
		}
	default:
		return time.Time{}, matched
	}
	t, err := p.env.ParseTime(l, p.text(v))
	if err != nil {
		return time.Time{}, badTime
	}
	return t, matched
}

// text returns v's value, unescaped into p.scratch when it holds escapes.
func (p *Parser) text(v *jsonVal) []byte {
	if !v.escape {
		return v.raw
	}
	start := len(p.scratch)
	p.scratch = jsonstr.UnescapeLenient(p.scratch, v.raw)
	return p.scratch[start:len(p.scratch):len(p.scratch)]
}

// jsonScanner walks a JSON text without building values. Methods return
// false on malformed input.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
	first bool // at the first member of the container just opened
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string and returns its body (escapes kept).
func (s *jsonScanner) str() (body []byte, escape, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '\\':
			escape = true
			i++
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escape, true
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

// open consumes the opening bracket c ('{' or '[') of a container.
func (s *jsonScanner) open(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.depth++
	if s.depth > maxJSONDepth {
		return false
	}
	s.i++
	s.first = true
	return true
}

// key reads the next key of an object and its ':', leaving the scanner at
// the value; more is false (and the object consumed) at its end.
func (s *jsonScanner) key() (key []byte, more, ok bool) {
	c := s.peek()
	if c == '}' {
		s.i++
		s.depth--
		s.first = false
		return nil, false, true
	}
	if !s.first {
		if c != ',' {
			return nil, false, false
		}
		s.i++
	}
	s.first = false
	key, _, ok = s.str()
	if !ok || s.peek() != ':' {
		return nil, false, false
	}
	s.i++
	s.ws()
	return key, true, true
}

// elem positions the scanner at the next element of an array; more is
// false (and the array consumed) at its end.
func (s *jsonScanner) elem() (more, ok bool) {
	c := s.peek()
	if c == ']' {
		s.i++
		s.depth--
		s.first = false
		return false, true
	}
	if !s.first {
		if c != ',' {
			return false, false
		}
		s.i++
	}
	s.first = false
	return true, true
}

// caddyRequest reads Caddy's "request" object.
// Its keys named in client (the request.* entries of
// Options.JSONClientFields) fill f.client from index base on.
func (s *jsonScanner) caddyRequest(f *accessFields, client [][]byte, base int) bool {
	if !s.open('{') {
		return false
	}
	for {
		key, more, ok := s.key()
		if !ok || !more {
			return ok
		}
		if k := fieldIndex(client, key); k >= 0 {
			if !s.scalar(&f.client[base+k]) {
				return false
			}
			continue
		}
		switch string(key) {
		case "method":
			ok = s.scalar(&f.method)
		case "uri":
			ok = s.scalar(&f.uri)
		case "host":
			ok = s.scalar(&f.host)
		case "headers":
			ok = s.headers(f)
		default:
			ok = s.skip()
		}
		if !ok {
			return false
		}
	}
}

// headers reads Caddy's request headers, keeping the first User-Agent.
func (s *jsonScanner) headers(f *accessFields) bool {
	if s.peek() != '{' {
		return s.skip()
	}
	s.open('{')
	for {
		key, more, ok := s.key()
		if !ok || !more {
			return ok
		}
		if string(key) == "User-Agent" && s.peek() == '[' {
			ok = s.firstOfArray(&f.ua)
		} else {
			ok = s.skip()
		}
		if !ok {
			return false
		}
	}
}

// scalar reads a string, number or literal into v (first occurrence wins;
// an object or array is skipped).
func (s *jsonScanner) scalar(v *jsonVal) bool {
	switch s.peek() {
	case '"':
		body, esc, ok := s.str()
		if ok && !v.set {
			*v = jsonVal{raw: body, str: true, escape: esc, set: true}
		}
		return ok
	case '{', '[':
		return s.skip()
	}
	start := s.i
	for s.i < len(s.b) && isScalarByte(s.b[s.i]) {
		s.i++
	}
	if s.i == start {
		return false
	}
	if !v.set {
		*v = jsonVal{raw: s.b[start:s.i], set: true}
	}
	return true
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// firstOfArray reads an array, keeping its first element when it is a string.
func (s *jsonScanner) firstOfArray(v *jsonVal) bool {
	if !s.open('[') {
		return false
	}
	for n := 0; ; n++ {
		more, ok := s.elem()
		if !ok || !more {
			return ok
		}
		if n == 0 && s.peek() == '"' {
			ok = s.scalar(v)
		} else {
			ok = s.skip()
		}
		if !ok {
			return false
		}
	}
}

// skip consumes one value of any kind.
func (s *jsonScanner) skip() bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		s.open('{')
		if s.depth > maxJSONDepth {
			return false
		}
		for {
			_, more, ok := s.key()
			if !ok || !more {
				return ok
			}
			if !s.skip() {
				return false
			}
		}
	case '[':
		s.open('[')
		if s.depth > maxJSONDepth {
			return false
		}
		for {
			more, ok := s.elem()
			if !ok || !more {
				return ok
			}
			if !s.skip() {
				return false
			}
		}
	}
	var v jsonVal
	return s.scalar(&v)
}

// fieldIndex returns the index of key in names, or -1.
func fieldIndex(names [][]byte, key []byte) int {
	for i, n := range names {
		if string(n) == string(key) {
			return i
		}
	}
	return -1
}

// setClientFields compiles Options.JSONClientFields.
func (p *Parser) setClientFields(names []string) error {
	if names == nil {
		names = DefaultJSONClientFields
	}
	if len(names) == 0 {
		return errors.New("parse: json client fields: none given")
	}
	if len(names) > maxClientFields {
		return fmt.Errorf("parse: json client fields: %d given, at most %d", len(names), maxClientFields)
	}
	var top, req []string
	for _, n := range names {
		name, nested := strings.CutPrefix(n, "request.")
		switch {
		case name == "" || strings.ContainsAny(name, ".\"\\ "):
			return fmt.Errorf("parse: json client field %q: want a key (remote_addr) or request.KEY", n)
		case !nested && name == "request":
			return fmt.Errorf("parse: json client field %q: request is an object; name one of its keys (request.remote_ip)", n)
		case nested && slices.Contains(req, name), !nested && slices.Contains(top, name):
			return fmt.Errorf("parse: json client field %q: given twice", n)
		}
		if nested {
			req = append(req, name)
		} else {
			top = append(top, name)
		}
	}
	p.jsonTop, p.jsonReq, p.jsonOrder = nil, nil, nil
	for _, n := range top {
		p.jsonTop = append(p.jsonTop, []byte(n))
	}
	for _, n := range req {
		p.jsonReq = append(p.jsonReq, []byte(n))
	}
	for _, n := range names {
		if name, nested := strings.CutPrefix(n, "request."); nested {
			p.jsonOrder = append(p.jsonOrder, int8(len(top)+slices.Index(req, name)))
		} else {
			p.jsonOrder = append(p.jsonOrder, int8(slices.Index(top, name)))
		}
	}
	return nil
}
