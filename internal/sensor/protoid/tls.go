package protoid

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
)

// isTLS: a TLS handshake record (type 22, version 3.x).
func isTLS(b []byte) bool {
	return len(b) >= 6 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4
}

// isTLSRecord: a change-cipher-spec, alert or application-data record of
// TLS 1.0 to 1.3 whose length fits a record (a flow joined mid-session).
func isTLSRecord(b []byte) bool {
	return len(b) >= 5 && b[0] >= 0x14 && b[0] <= 0x17 && b[0] != 0x16 && b[1] == 3 && b[2] >= 1 && b[2] <= 4 && int(binary.BigEndian.Uint16(b[3:])) <= 18432
}

// rd reads big-endian fields; a read past the end sets bad and returns zeros.
type rd struct {
	b   []byte
	bad bool
}

func (r *rd) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return int(v)
}

func (r *rd) u16() int {
	if len(r.b) < 2 {
		r.bad, r.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return int(v)
}

func (r *rd) u24() int {
	if len(r.b) < 3 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

func (r *rd) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		v := r.b
		r.b = nil
		return v
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func grease(v int) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// clientHello reads a ClientHello from the TLS records in b (kind 't') or
// from a QUIC CRYPTO stream (kind 'q', no record layer). When the message
// runs past b, the flow keeps up to maxBuffer bytes to try again with the
// next client packet.
func (s *State) clientHello(b []byte, kind byte) {
	var msg []byte
	if kind == 't' {
		// Gather the handshake bytes of consecutive handshake records
		// (without a copy when the first record holds the message).
		if n := int(binary.BigEndian.Uint16(b[3:])); len(b) >= 9 && n+5 <= len(b) && n >= 4 && 4+(int(b[6])<<16|int(b[7])<<8|int(b[8])) <= n {
			msg = b[5 : 5+n]
		}
		for r := b; msg == nil && len(r) >= 5 && r[0] == 0x16; {
			n := int(binary.BigEndian.Uint16(r[3:]))
			msg = append(msg, r[5:5+min(n, len(r)-5)]...)
			if n > len(r)-5 {
				break
			}
			r = r[5+n:]
		}
		if msg == nil {
			msg = []byte{}
		}
	} else {
		msg = b
	}
	if len(msg) < 4 || msg[0] != 1 {
		s.want[0] = false
		return
	}
	need := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
	if need > len(msg)-4 {
		if kind == 't' && len(b) < maxBuffer && s.seen[0] < MaxInspect {
			if s.buf == nil {
				s.buf = append(make([]byte, 0, min(maxBuffer, len(b)+need)), b...)
			}
			s.want[0] = true
			return
		}
		if kind == 'q' {
			s.want[0] = true
			return
		}
	}
	s.want[0] = false
	s.buf = nil
	parseClientHello(&s.Result, msg[4:min(len(msg), 4+need)], kind)
}

func parseClientHello(res *Result, b []byte, kind byte) {
	r := rd{b: b}
	ver := r.u16()
	r.bytes(32)
	r.bytes(r.u8())
	cs := rd{b: r.bytes(r.u16())}
	r.bytes(r.u8()) // compression
	// Scratch on the stack: a typical hello fits, a larger one grows onto
	// the heap. Only the fingerprints' strings are allocated.
	var cb, eb, gb, sb [64]int
	ciphers, exts, curves, sigs := cb[:0], eb[:0], gb[:0], sb[:0]
	var points []byte
	for len(cs.b) >= 2 {
		if c := cs.u16(); !grease(c) {
			ciphers = append(ciphers, c)
		}
	}
	el := r.u16()
	e := rd{b: r.bytes(el)}
	sni, alpn := false, []byte(nil)
	maxVer := 0
	for len(e.b) >= 4 && !e.bad {
		typ := e.u16()
		body := rd{b: e.bytes(e.u16())}
		if grease(typ) {
			continue
		}
		exts = append(exts, typ)
		switch typ {
		case 0: // server_name
			sni = true
			body.u16()
			if body.u8() == 0 {
				res.Host = field(body.bytes(body.u16()))
			}
		case 16: // ALPN
			body.u16()
			alpn = body.bytes(body.u8())
			res.ALPN = field(alpn)
		case 10: // supported groups
			g := rd{b: body.bytes(body.u16())}
			for len(g.b) >= 2 {
				if c := g.u16(); !grease(c) {
					curves = append(curves, c)
				}
			}
		case 11:
			points = body.bytes(body.u8())
		case 13:
			g := rd{b: body.bytes(body.u16())}
			for len(g.b) >= 2 {
				sigs = append(sigs, g.u16())
			}
		case 43: // supported_versions
			g := rd{b: body.bytes(body.u8())}
			for len(g.b) >= 2 {
				if v := g.u16(); !grease(v) && v > maxVer {
					maxVer = v
				}
			}
		}
	}
	if r.bad && res.Host == "" && len(ciphers) == 0 {
		return
	}
	// JA3: version, ciphers, extensions, curves, point formats in decimal.
	var jb [768]byte
	j := strconv.AppendInt(jb[:0], int64(ver), 10)
	j = append(j, ',')
	j = appendDec(j, ciphers)
	j = append(j, ',')
	j = appendDec(j, exts)
	j = append(j, ',')
	j = appendDec(j, curves)
	j = append(j, ',')
	for i, p := range points {
		if i > 0 {
			j = append(j, '-')
		}
		j = strconv.AppendInt(j, int64(p), 10)
	}
	sum := md5.Sum(j)
	res.JA3 = hex.EncodeToString(sum[:])
	res.JA4 = ja4(kind, ver, maxVer, sni, alpn, ciphers, exts, sigs)
}

func appendDec(b []byte, v []int) []byte {
	for i, x := range v {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return b
}

func appendHex4(b []byte, v []int) []byte {
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[x>>12&15], digits[x>>8&15], digits[x>>4&15], digits[x&15])
	}
	return b
}

const digits = "0123456789abcdef"

// ja4 builds the JA4 fingerprint (FoxIO's specification): a_b_c where a is
// transport, version, SNI, the counts of ciphers and extensions and the
// ALPN's first and last characters; b the truncated SHA-256 of the sorted
// ciphers; c that of the sorted extensions (SNI and ALPN left out) and the
// signature algorithms in their order.
func ja4(kind byte, ver, maxVer int, sni bool, alpn []byte, ciphers, exts, sigs []int) string {
	if maxVer != 0 {
		ver = maxVer
	}
	var ab [64]byte
	a := append(ab[:0], kind)
	switch ver {
	case 0x0304:
		a = append(a, "13"...)
	case 0x0303:
		a = append(a, "12"...)
	case 0x0302:
		a = append(a, "11"...)
	case 0x0301:
		a = append(a, "10"...)
	case 0x0300:
		a = append(a, "s3"...)
	case 0x0002:
		a = append(a, "s2"...)
	case 0xfeff:
		a = append(a, "d1"...)
	case 0xfefd:
		a = append(a, "d2"...)
	case 0xfefc:
		a = append(a, "d3"...)
	default:
		a = append(a, "00"...)
	}
	if sni {
		a = append(a, 'd')
	} else {
		a = append(a, 'i')
	}
	two := func(n int) {
		n = min(n, 99)
		a = append(a, byte('0'+n/10), byte('0'+n%10))
	}
	two(len(ciphers))
	two(len(exts))
	switch {
	case len(alpn) == 0:
		a = append(a, "00"...)
	case isAlnum(alpn[0]) && isAlnum(alpn[len(alpn)-1]):
		a = append(a, alpn[0], alpn[len(alpn)-1])
	default:
		h := hex.EncodeToString([]byte{alpn[0], alpn[len(alpn)-1]})
		a = append(a, h[0], h[3])
	}
	a = append(a, '_')
	if len(ciphers) == 0 {
		a = append(a, "000000000000"...)
	} else {
		var scb [64]int
		var hb [320]byte
		sc := append(scb[:0], ciphers...)
		slices.Sort(sc)
		a = appendTrunc(a, appendHex4(hb[:0], sc))
	}
	a = append(a, '_')
	var seb [64]int
	se := seb[:0]
	for _, e := range exts {
		if e != 0 && e != 16 {
			se = append(se, e)
		}
	}
	if len(se) == 0 {
		a = append(a, "000000000000"...)
	} else {
		slices.Sort(se)
		var cbuf [640]byte
		c := appendHex4(cbuf[:0], se)
		if len(sigs) > 0 {
			c = append(c, '_')
			c = appendHex4(c, sigs)
		}
		a = appendTrunc(a, c)
	}
	return string(a)
}

// appendTrunc appends the first 12 hex digits of b's SHA-256 to a.
func appendTrunc(a, b []byte) []byte {
	s := sha256.Sum256(b)
	return hex.AppendEncode(a, s[:6])
}
