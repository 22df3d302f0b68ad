package protoid

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

const quicCrypto = 8 << 10 // CRYPTO stream bytes reassembled at most

type quicVersion struct {
	salt    []byte
	v2      bool
	initial byte // long packet type of Initial
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	saltV1  = mustHex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
	saltV2  = mustHex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
	saltD29 = mustHex("afbfec289993d24c9e9786f19c6111e04390a899")
	saltD23 = mustHex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
	saltD22 = mustHex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")
)

// version returns the Initial keys' parameters of a QUIC version, and
// false for versions whose Initial the sensor cannot read.
func version(v uint32) (quicVersion, bool) {
	switch {
	case v == 1:
		return quicVersion{salt: saltV1}, true
	case v == 0x6b3343cf:
		return quicVersion{salt: saltV2, v2: true, initial: 1}, true
	case v >= 0xff00001d && v <= 0xff000020:
		return quicVersion{salt: saltD29}, true
	case v >= 0xff000017 && v <= 0xff00001c:
		return quicVersion{salt: saltD23}, true
	case v == 0xff000015 || v == 0xff000016 || v == 0xfaceb001:
		return quicVersion{salt: saltD22}, true
	case v == 0xfaceb002:
		return quicVersion{salt: saltD23}, true
	}
	return quicVersion{}, false
}

func gquic(v uint32) bool {
	a, b, c, d := byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return (a == 'Q' || a == 'T') && b >= '0' && b <= '9' && c >= '0' && c <= '9' && d >= '0' && d <= '9'
}

// isQUIC: a long-header packet of a known version, or a Google QUIC
// packet with its version in the public header.
func isQUIC(b []byte) bool {
	if len(b) >= 7 && b[0]&0xc0 == 0xc0 {
		v := binary.BigEndian.Uint32(b[1:])
		// Reserved versions (0x?a?a?a?a) force version negotiation;
		// version 0 is the negotiation itself.
		if _, ok := version(v); ok || gquic(v) || v>>8 == 0xfaceb0 || v&0x0f0f0f0f == 0x0a0a0a0a || v == 0 && len(b) >= 11 {
			return true
		}
	}
	return len(b) >= 13 && b[0]&0x81 == 0x01 && gquic(binary.BigEndian.Uint32(b[9:]))
}

func varint(r *rd) int {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	n := 1 << (r.b[0] >> 6)
	if len(r.b) < n {
		r.bad, r.b = true, nil
		return 0
	}
	v := uint64(r.b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(r.b[i])
	}
	r.b = r.b[n:]
	if v > 1<<40 {
		r.bad = true
		return 0
	}
	return int(v)
}

func expandLabel(secret []byte, label string, n int) []byte {
	info := []byte{byte(n >> 8), byte(n), byte(6 + len(label))}
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		return make([]byte, n)
	}
	return out
}

// quic decrypts the client's Initial packets in a datagram and feeds their
// CRYPTO frames to the ClientHello parser.
func (s *State) quic(b []byte) {
	s.want[0] = false
	if len(b) >= 13 && b[0]&0x80 == 0 {
		s.gquicCHLO(b)
		return
	}
	if len(b) < 7 {
		return
	}
	v := binary.BigEndian.Uint32(b[1:])
	if gquic(v) {
		s.Version = field(b[1:5])
		s.gquicCHLO(b)
		return
	}
	qv, ok := version(v)
	if !ok {
		return
	}
	for len(b) > 7 && b[0]&0xc0 == 0xc0 {
		n, initial := s.quicPacket(b, qv)
		if n <= 0 || n > len(b) {
			break
		}
		if !initial {
			break
		}
		b = b[n:]
	}
	// Parse the contiguous prefix of the CRYPTO stream.
	if s.qbuf == nil {
		return
	}
	n := 0
	for n < len(s.qhas) && s.qhas[n] {
		n++
	}
	if n < 4 || s.qbuf[0] != 1 {
		s.want[0] = n == 0 && s.seen[0] < MaxInspect
		return
	}
	need := int(s.qbuf[1])<<16 | int(s.qbuf[2])<<8 | int(s.qbuf[3])
	if 4+need > n && 4+need <= quicCrypto && s.seen[0] < MaxInspect {
		s.want[0] = true
		return
	}
	parseClientHello(&s.Result, s.qbuf[4:min(n, 4+need)], 'q')
	s.qbuf, s.qhas = nil, nil
}

// quicPacket reads one long-header packet; it returns its length and
// whether it was an Initial (read or not).
func (s *State) quicPacket(pkt []byte, qv quicVersion) (int, bool) {
	r := rd{b: pkt[5:]}
	dcid := r.bytes(r.u8())
	r.bytes(r.u8())
	typ := pkt[0] >> 4 & 3
	if typ != qv.initial {
		return 0, false
	}
	r.bytes(varint(&r)) // token
	length := varint(&r)
	if r.bad || len(dcid) > 20 {
		return 0, true
	}
	pnOff := len(pkt) - len(r.b)
	end := pnOff + length
	if end > len(pkt) || length < 20 || pnOff+4+16 > len(pkt) {
		return 0, true
	}
	initial, err := hkdf.Extract(sha256.New, dcid, qv.salt)
	if err != nil {
		return 0, true
	}
	secret := expandLabel(initial, "client in", 32)
	kl, il, hl := "quic key", "quic iv", "quic hp"
	if qv.v2 {
		kl, il, hl = "quicv2 key", "quicv2 iv", "quicv2 hp"
	}
	key, iv, hp := expandLabel(secret, kl, 16), expandLabel(secret, il, 12), expandLabel(secret, hl, 16)
	hb, err := aes.NewCipher(hp)
	if err != nil {
		return 0, true
	}
	var mask [16]byte
	hb.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	hdr := append([]byte(nil), pkt[:pnOff+4]...)
	hdr[0] ^= mask[0] & 0x0f
	pnLen := int(hdr[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		hdr[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(hdr[pnOff+i])
	}
	hdr = hdr[:pnOff+pnLen]
	kb, err := aes.NewCipher(key)
	if err != nil {
		return 0, true
	}
	aead, err := cipher.NewGCM(kb)
	if err != nil {
		return 0, true
	}
	nonce := append([]byte(nil), iv...)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	plain, err := aead.Open(nil, nonce, pkt[pnOff+pnLen:end], hdr)
	if err != nil {
		return end, true
	}
	s.quicFrames(plain)
	return end, true
}

func (s *State) quicFrames(b []byte) {
	r := rd{b: b}
	for len(r.b) > 0 && !r.bad {
		switch t := varint(&r); t {
		case 0x00, 0x01:
		case 0x02, 0x03:
			varint(&r)
			varint(&r)
			n := varint(&r)
			varint(&r)
			for i := 0; i < n && !r.bad; i++ {
				varint(&r)
				varint(&r)
			}
			if t == 0x03 {
				varint(&r)
				varint(&r)
				varint(&r)
			}
		case 0x06:
			off := varint(&r)
			data := r.bytes(varint(&r))
			if r.bad || off >= quicCrypto {
				return
			}
			if s.qbuf == nil {
				s.qbuf = make([]byte, quicCrypto)
				s.qhas = make([]bool, quicCrypto)
			}
			n := copy(s.qbuf[off:], data)
			for i := off; i < off+n; i++ {
				s.qhas[i] = true
			}
		case 0x1c, 0x1d:
			varint(&r)
			if t == 0x1c {
				varint(&r)
			}
			r.bytes(varint(&r))
		default:
			return
		}
	}
}

// gquicCHLO reads the SNI tag of a Google QUIC CHLO sent in the clear.
func (s *State) gquicCHLO(b []byte) {
	i := bytes.Index(b, []byte("CHLO"))
	if i < 0 || i+8 > len(b) {
		return
	}
	r := rd{b: b[i+4:]}
	ntags := int(binary.LittleEndian.Uint16(r.bytes(2)))
	r.bytes(2)
	if r.bad || ntags > 64 || len(r.b) < 8*ntags {
		return
	}
	data := r.b[8*ntags:]
	prev := 0
	for k := range ntags {
		tag := r.b[8*k : 8*k+4]
		end := int(binary.LittleEndian.Uint32(r.b[8*k+4:]))
		if end < prev || end > len(data) {
			return
		}
		switch string(tag) {
		case "SNI\x00":
			s.Host = field(data[prev:end])
		case "UAID":
			s.UserAgent = field(data[prev:end])
		}
		prev = end
	}
}

func hkdfExtract(secret, salt []byte) ([]byte, error) {
	return hkdf.Extract(sha256.New, secret, salt)
}
