// Package wire defines what crosses the network between an agent and the hub:
// the signal batch encoding, the scenario classes, reporter ids and the
// signed-request header. Both the agent-side client and the hub use it, so
// the two cannot disagree on a byte.
//
// The format is specified byte for byte in docs/hub.md; this file is its
// reference implementation.
package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
)

// Class is a scenario class: the only description of an attack that leaves
// an agent. The set is small and fixed; its numeric values are part of the
// wire format and never change meaning.
type Class uint8

// The scenario classes. Zero is not a class.
const (
	SSHBruteforce  Class = 1
	HTTPProbing    Class = 2
	HTTPBruteforce Class = 3
	MailBruteforce Class = 4
	FTPBruteforce  Class = 5
	DBBruteforce   Class = 6
	Portscan       Class = 7
	HTTPExploit    Class = 8
	MailAbuse      Class = 9
	maxClass             = MailAbuse
)

var classNames = [...]string{
	SSHBruteforce:  "ssh-bruteforce",
	HTTPProbing:    "http-probing",
	HTTPBruteforce: "http-bruteforce",
	MailBruteforce: "mail-bruteforce",
	FTPBruteforce:  "ftp-bruteforce",
	DBBruteforce:   "db-bruteforce",
	Portscan:       "portscan",
	HTTPExploit:    "http-exploit",
	MailAbuse:      "mail-abuse",
}

// Valid reports whether c is one of the defined classes.
func (c Class) Valid() bool { return c >= 1 && c <= maxClass }

// String returns the class name, or "class(N)" for an undefined value.
func (c Class) String() string {
	if c.Valid() {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Classes returns every defined class in numeric order.
func Classes() []Class {
	out := make([]Class, 0, maxClass)
	for c := Class(1); c <= maxClass; c++ {
		out = append(out, c)
	}
	return out
}

// ParseClass returns the class named s.
func ParseClass(s string) (Class, error) {
	for c := Class(1); c <= maxClass; c++ {
		if classNames[c] == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("wire: unknown class %q", s)
}

// Signal is one report: this source was seen attacking in this class during
// this minute. It is everything an agent ever tells the hub about an attack.
type Signal struct {
	Source netip.Addr // unmapped, no zone
	Class  Class
	Minute uint32 // minutes since 1970-01-01T00:00Z
}

// Batch encoding: a version byte, then records.
const (
	// BatchVersion is the first byte of a signal batch body.
	BatchVersion = 0x01
	// ContentType is the media type of a signal batch body.
	ContentType = "application/x-herd-signals"
	// MaxBatch is the largest number of signals one batch may carry.
	MaxBatch = 4096
	// MaxBatchBytes is the size of the largest valid batch body.
	MaxBatchBytes = 1 + MaxBatch*recordLen6

	tag4       = 0x04
	tag6       = 0x06
	recordLen4 = 1 + 4 + 1 + 4
	recordLen6 = 1 + 16 + 1 + 4
)

// Errors of the decoders, to be tested with errors.Is.
var (
	ErrBadVersion = errors.New("bad version")
	ErrTruncated  = errors.New("truncated")
	ErrBadTag     = errors.New("bad address tag")
	ErrBadClass   = errors.New("bad class")
	ErrTooMany    = errors.New("too many signals")
	ErrEmpty      = errors.New("empty batch")
	ErrMapped     = errors.New("IPv4-mapped IPv6 address")
)

// AppendBatch appends the encoding of signals to dst: the version byte,
// then per signal a tag (0x04 or 0x06), the 4 or 16 address bytes, the class
// byte and the minute as 4 bytes big-endian. IPv4-mapped addresses are
// written as IPv4. It does not allocate when dst has room.
func AppendBatch(dst []byte, signals []Signal) []byte {
	dst = append(dst, BatchVersion)
	for i := range signals {
		s := &signals[i]
		a := s.Source.Unmap()
		if a.Is4() {
			b := a.As4()
			dst = append(dst, tag4)
			dst = append(dst, b[:]...)
		} else {
			b := a.As16()
			dst = append(dst, tag6)
			dst = append(dst, b[:]...)
		}
		dst = append(dst, byte(s.Class))
		dst = binary.BigEndian.AppendUint32(dst, s.Minute)
	}
	return dst
}

// DecodeBatch decodes a batch body, appending its signals to dst. It checks
// the structure only (version, tags, lengths, classes, at most MaxBatch
// records, at least one); whether an address may be reported is the hub's
// policy. On error dst is returned unchanged in length.
func DecodeBatch(dst []Signal, body []byte) ([]Signal, error) {
	n0 := len(dst)
	if len(body) == 0 {
		return dst, fmt.Errorf("wire: batch: %w", ErrTruncated)
	}
	if body[0] != BatchVersion {
		return dst, fmt.Errorf("wire: batch: %w %d", ErrBadVersion, body[0])
	}
	p := body[1:]
	if len(p) == 0 {
		return dst, fmt.Errorf("wire: batch: %w", ErrEmpty)
	}
	for len(p) > 0 {
		if len(dst)-n0 == MaxBatch {
			return dst[:n0], fmt.Errorf("wire: batch: %w (max %d)", ErrTooMany, MaxBatch)
		}
		var s Signal
		switch p[0] {
		case tag4:
			if len(p) < recordLen4 {
				return dst[:n0], fmt.Errorf("wire: batch record %d: %w", len(dst)-n0, ErrTruncated)
			}
			s.Source = netip.AddrFrom4([4]byte(p[1:5]))
			p = p[5:]
		case tag6:
			if len(p) < recordLen6 {
				return dst[:n0], fmt.Errorf("wire: batch record %d: %w", len(dst)-n0, ErrTruncated)
			}
			s.Source = netip.AddrFrom16([16]byte(p[1:17]))
			if s.Source.Is4In6() {
				return dst[:n0], fmt.Errorf("wire: batch record %d: %w", len(dst)-n0, ErrMapped)
			}
			p = p[17:]
		default:
			return dst[:n0], fmt.Errorf("wire: batch record %d: %w 0x%02x", len(dst)-n0, ErrBadTag, p[0])
		}
		s.Class = Class(p[0])
		if !s.Class.Valid() {
			return dst[:n0], fmt.Errorf("wire: batch record %d: %w %d", len(dst)-n0, ErrBadClass, p[0])
		}
		s.Minute = binary.BigEndian.Uint32(p[1:5])
		p = p[5:]
		dst = append(dst, s)
	}
	return dst, nil
}

// ReporterID is the id of a reporter: the first 16 bytes of the SHA-256 of
// its ed25519 public key.
type ReporterID [16]byte

// IDOf returns the reporter id of pub.
func IDOf(pub ed25519.PublicKey) ReporterID {
	h := sha256.Sum256(pub)
	return ReporterID(h[:16])
}

// String returns the id as 32 lowercase hex digits.
func (id ReporterID) String() string { return hex.EncodeToString(id[:]) }

// ParseReporterID parses 32 hex digits.
func ParseReporterID(s string) (ReporterID, error) {
	var id ReporterID
	if len(s) != 2*len(id) {
		return id, errors.New("wire: reporter id: want 32 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("wire: reporter id: not hex")
	}
	return id, nil
}
