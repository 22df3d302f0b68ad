package protoid

import (
	"bytes"
	"encoding/binary"
)

var httpMethods = [][]byte{[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "), []byte("OPTIONS "), []byte("CONNECT "), []byte("PATCH "), []byte("TRACE "), []byte("PROPFIND ")}

func isHTTPRequest(b []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, m) {
			// The request line must name an HTTP version.
			l := firstLine(b)
			return bytes.Contains(l, []byte(" HTTP/")) || len(l) == len(b)
		}
	}
	return false
}

// http keeps the method, Host and User-Agent of a request's head.
func (s *State) http(b []byte) {
	sp := bytes.IndexByte(b, ' ')
	s.Method = field(b[:sp])
	if end := bytes.Index(b, []byte("\r\n\r\n")); end >= 0 {
		b = b[:end]
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name, val := line[:c], bytes.TrimSpace(line[c+1:])
		switch {
		case len(name) == 4 && asciiFold(name, "host"):
			s.Host = field(val)
		case len(name) == 10 && asciiFold(name, "user-agent"):
			s.UserAgent = field(val)
		}
	}
}

// asciiFold reports whether b equals the lowercase ASCII s, ignoring case.
func asciiFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 32
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

var sipStarts = [][]byte{[]byte("SIP/2.0 "), []byte("INVITE sip"), []byte("REGISTER sip"), []byte("OPTIONS sip"), []byte("ACK sip"), []byte("BYE sip"), []byte("CANCEL sip"), []byte("NOTIFY sip"), []byte("SUBSCRIBE sip"), []byte("MESSAGE sip"), []byte("INFO sip"), []byte("PUBLISH sip"), []byte("REFER sip"), []byte("UPDATE sip"), []byte("PRACK sip")}

func isSIP(b []byte) bool {
	if len(b) < 7 {
		return false
	}
	for _, m := range sipStarts {
		if len(b) >= len(m) && (b[0]|0x20) == (m[0]|0x20) && bytes.EqualFold(b[:len(m)], m) {
			return true
		}
	}
	return false
}

// isSMBDatagram: an SMB1 message (a browser announcement, a mailslot)
// inside a NetBIOS datagram.
func isSMBDatagram(b []byte) bool {
	return len(b) > 14 && b[0] >= 0x10 && b[0] <= 0x16 && bytes.Contains(b[14:min(len(b), 200)], []byte("\xffSMB"))
}

// isSMB: a NetBIOS session message carrying an SMB1 or SMB2/3 header.
func isSMB(b []byte) bool {
	return len(b) >= 8 && b[0] == 0 && (b[4] == 0xff || b[4] == 0xfe) && string(b[5:8]) == "SMB"
}

// isRDP: a TPKT header around an X.224 connection request or confirm.
func isRDP(b []byte, cport, sport uint16) bool {
	if len(b) < 11 || b[0] != 3 || b[1] != 0 {
		return false
	}
	if int(binary.BigEndian.Uint16(b[2:])) != len(b) || int(b[4]) != len(b)-5 {
		return false
	}
	switch b[5] & 0xf0 {
	case 0xe0, 0xd0:
	default:
		return false
	}
	return bytes.Contains(b, []byte("mstshash=")) || bytes.Contains(b, []byte("msts=")) || port(cport, sport, 3389) || len(b) >= 19 && (b[len(b)-8] == 1 || b[len(b)-8] == 2)
}

// isTelnet: option negotiation (IAC WILL/WONT/DO/DONT) from the first byte.
func isTelnet(b []byte) bool {
	return len(b) >= 3 && b[0] == 0xff && b[1] >= 0xfb && b[1] <= 0xfe && b[2] < 50
}

// isMySQLGreeting: protocol 10 handshake with a NUL-terminated version.
func isMySQLGreeting(b []byte) bool {
	if len(b) < 40 || b[3] != 0 || b[4] != 10 {
		return false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n+4 != len(b) {
		return false
	}
	v := cstr(b[5:])
	if len(v) == 0 || len(v) > 64 || len(v) == len(b)-5 {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return v[0] >= '3' && v[0] <= '9'
}

// isPostgresStartup: a startup, SSL or GSS encryption request.
func isPostgresStartup(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	n := binary.BigEndian.Uint32(b)
	code := binary.BigEndian.Uint32(b[4:])
	if int(n) != len(b) {
		return false
	}
	switch code {
	case 0x00030000:
		return n > 8 && b[len(b)-1] == 0
	case 80877103, 80877104: // SSLRequest, GSSENCRequest
		return n == 8
	}
	return false
}

// isRedis: a RESP array of bulk strings, or an inline PING.
func isRedis(b []byte) bool {
	if len(b) >= 4 && b[0] == '*' && b[1] >= '1' && b[1] <= '9' {
		i := bytes.Index(b, []byte("\r\n"))
		return i > 1 && i < 8 && len(b) > i+2 && b[i+2] == '$'
	}
	return bytes.Equal(b, []byte("PING\r\n"))
}

// isMQTTConnect: CONNECT with the protocol name MQTT or MQIsdp.
func isMQTTConnect(b []byte) bool {
	if len(b) < 12 || b[0] != 0x10 {
		return false
	}
	i := 1
	for ; i < 5 && i < len(b) && b[i]&0x80 != 0; i++ {
	}
	i++
	if i+8 > len(b) {
		return false
	}
	r := b[i:]
	return bytes.HasPrefix(r, []byte("\x00\x04MQTT")) || bytes.HasPrefix(r, []byte("\x00\x06MQIsdp"))
}

// isRPCoverDNS: DNS over TCP (a two-byte length, then a DNS message).
func isRPCoverDNS(b []byte, cport, sport uint16) bool {
	return port(cport, sport, 53) && len(b) > 14 && int(binary.BigEndian.Uint16(b)) == len(b)-2 && isDNS(b[2:])
}

// isDNS checks a DNS header and that the first question's name parses.
func isDNS(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	op := b[2] >> 3 & 0x0f
	qd := binary.BigEndian.Uint16(b[4:])
	an := binary.BigEndian.Uint16(b[6:])
	if op > 6 || qd > 16 || (qd == 0 && an == 0) {
		return false
	}
	return true
}

// dnsName reads the name at off (no compression needed in a question, but
// pointers are followed, at most 16 times). It appends the dotted name to
// out when out is not nil.
func dnsName(b []byte, off int, out []byte) ([]byte, bool) {
	jumps := 0
	for {
		if off >= len(b) {
			return out, false
		}
		l := int(b[off])
		switch {
		case l == 0:
			return out, true
		case l&0xc0 == 0xc0:
			if off+1 >= len(b) || jumps > 16 {
				return out, false
			}
			jumps++
			off = int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			continue
		case l > 63:
			return out, false
		}
		if off+1+l > len(b) {
			return out, false
		}
		if out != nil {
			if len(out) > 1 {
				out = append(out, '.')
			}
			out = append(out, b[off+1:off+1+l]...)
		}
		off += 1 + l
	}
}

func (s *State) dns(b []byte) {
	if len(b) < 13 || binary.BigEndian.Uint16(b[4:]) == 0 {
		return
	}
	name, ok := dnsName(b, 12, make([]byte, 1, 64))
	if ok {
		s.Query = field(bytes.ToLower(name[1:]))
	}
}

// isNTP: a 48-byte (or longer) NTP packet with a sane version and mode.
func isNTP(b []byte) bool {
	if len(b) < 48 {
		return false
	}
	v := b[0] >> 3 & 7
	mode := b[0] & 7
	return v >= 1 && v <= 4 && mode >= 1 && mode <= 5
}

// isSNMP: a BER SEQUENCE starting with version 1, 2c or 3.
func isSNMP(b []byte) bool {
	if len(b) < 8 || b[0] != 0x30 {
		return false
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	return i+3 <= len(b) && b[i] == 2 && b[i+1] == 1 && (b[i+2] <= 1 || b[i+2] == 3)
}

// isBTDHT: a bencoded KRPC message of the BitTorrent DHT.
func isBTDHT(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("d1:")) && !bytes.HasPrefix(b, []byte("d2:")) {
		return false
	}
	return bytes.Contains(b, []byte("1:y1:")) || bytes.Contains(b, []byte("2:id20:")) || bytes.Contains(b, []byte("info_hash20:"))
}
