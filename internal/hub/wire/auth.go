package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuthHeader is the HTTP header that carries a request's signature.
const AuthHeader = "Herd-Auth"

// Auth is the content of a Herd-Auth header:
//
//	v1 key=<32 hex> ts=<unix seconds> nonce=<32 hex> sig=<86 base64url, no padding>
//
// The signature is ed25519 over SigningString(method, path, ts, nonce, body).
type Auth struct {
	Key   ReporterID
	Time  int64 // unix seconds
	Nonce [16]byte
	Sig   [ed25519.SignatureSize]byte
}

const maxAuthLen = 256

// ParseAuth parses a Herd-Auth header value. The fields must appear in the
// order above, separated by one space; anything else is an error.
func ParseAuth(v string) (Auth, error) {
	var a Auth
	if len(v) > maxAuthLen {
		return a, errors.New("wire: auth: too long")
	}
	rest, ok := strings.CutPrefix(v, "v1 ")
	if !ok {
		return a, errors.New("wire: auth: want version v1")
	}
	fields := strings.Split(rest, " ")
	if len(fields) != 4 {
		return a, errors.New("wire: auth: want 4 fields")
	}
	val := func(i int, name string) (string, error) {
		s, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return "", fmt.Errorf("wire: auth: field %d: want %s=", i+1, name)
		}
		return s, nil
	}
	s, err := val(0, "key")
	if err != nil {
		return a, err
	}
	if !lowerHex(s) {
		return a, errors.New("wire: auth: key: want lowercase hex")
	}
	if a.Key, err = ParseReporterID(s); err != nil {
		return a, err
	}
	if s, err = val(1, "ts"); err != nil {
		return a, err
	}
	if len(s) == 0 || len(s) > 12 || s[0] == '0' && len(s) > 1 || strings.Trim(s, "0123456789") != "" {
		return a, errors.New("wire: auth: ts: want 1-12 decimal digits")
	}
	if a.Time, err = strconv.ParseInt(s, 10, 64); err != nil {
		return a, errors.New("wire: auth: ts: bad number")
	}
	if s, err = val(2, "nonce"); err != nil {
		return a, err
	}
	if len(s) != 32 || !lowerHex(s) {
		return a, errors.New("wire: auth: nonce: want 32 lowercase hex digits")
	}
	if _, err := hex.Decode(a.Nonce[:], []byte(s)); err != nil {
		return a, errors.New("wire: auth: nonce: not hex")
	}
	if s, err = val(3, "sig"); err != nil {
		return a, err
	}
	if len(s) != base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize) {
		return a, errors.New("wire: auth: sig: want 86 base64url characters")
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(a.Sig[:], []byte(s)); err != nil || n != ed25519.SignatureSize {
		return a, errors.New("wire: auth: sig: not base64url")
	}
	return a, nil
}

// String formats a as a Herd-Auth header value.
func (a Auth) String() string {
	return "v1 key=" + a.Key.String() + " ts=" + strconv.FormatInt(a.Time, 10) +
		" nonce=" + hex.EncodeToString(a.Nonce[:]) + " sig=" + base64.RawURLEncoding.EncodeToString(a.Sig[:])
}

// SigningString returns the bytes a request signature covers:
//
//	"herd-request-v1\n" METHOD "\n" PATH "\n" TS "\n" NONCE-HEX "\n" SHA256-HEX(body)
func SigningString(method, path string, ts int64, nonce [16]byte, body []byte) []byte {
	h := sha256.Sum256(body)
	b := make([]byte, 0, 16+len(method)+len(path)+12+32+64+5)
	b = append(b, "herd-request-v1\n"...)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '\n')
	b = hex.AppendEncode(b, nonce[:])
	b = append(b, '\n')
	b = hex.AppendEncode(b, h[:])
	return b
}

// Sign returns the Auth for a request signed by key at time now with nonce.
func Sign(key ed25519.PrivateKey, method, path string, now time.Time, nonce [16]byte, body []byte) Auth {
	a := Auth{Key: IDOf(key.Public().(ed25519.PublicKey)), Time: now.Unix(), Nonce: nonce}
	copy(a.Sig[:], ed25519.Sign(key, SigningString(method, path, a.Time, nonce, body)))
	return a
}

// Verify reports whether a's signature over the request is valid for pub.
// It does not check the time or the nonce; the hub does.
func (a Auth) Verify(pub ed25519.PublicKey, method, path string, body []byte) bool {
	if len(pub) != ed25519.PublicKeySize || IDOf(pub) != a.Key {
		return false
	}
	return ed25519.Verify(pub, SigningString(method, path, a.Time, a.Nonce, body), a.Sig[:])
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
