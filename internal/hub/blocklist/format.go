// Package blocklist distributes the hub's community blocklist: signed
// snapshots and deltas in a compact binary format (docs/blocklist.md), the
// hub's HTTP handler that serves and pushes them, and the agent's Follower
// that verifies them and resumes from the version it holds.
package blocklist

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Kind says whether a message is a whole listing or a change to one.
type Kind uint8

// The kinds of message.
const (
	KindSnapshot Kind = 1
	KindDelta    Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindSnapshot:
		return "snapshot"
	case KindDelta:
		return "delta"
	}
	return "invalid"
}

// Format constants; docs/blocklist.md describes every byte.
const (
	// Magic starts every message; its fourth byte is the format version.
	Magic = "HBL\x01"
	// headerLen is magic, kind, from, to, issued-at and key id.
	headerLen = 4 + 1 + 8 + 8 + 8 + KeyIDLen
	// KeyIDLen is the length of a key id: the first bytes of the SHA-256
	// of the ed25519 public key.
	KeyIDLen = 8
	// MaxEntries bounds the entries of one list (IPv4 addresses plus
	// prefixes) that a decoder accepts.
	MaxEntries = 1 << 22
	// MaxMessage bounds the size of one message a decoder accepts.
	MaxMessage = 64 << 20
	// minLen is the smallest message: header, two empty lists, signature.
	minLen = headerLen + 2 + ed25519.SignatureSize
)

// Errors of Decode. Each is wrapped with where it happened.
var (
	ErrFormat    = errors.New("malformed blocklist message")
	ErrSignature = errors.New("blocklist signature does not verify")
	ErrKey       = errors.New("blocklist signed by another key")
)

// Message is one snapshot or delta. For a snapshot From is 0, Added holds
// the whole listing and Removed is empty.
//
// Entries are canonical prefixes: masked, IPv4 unmapped; a single address
// is a /32 or /128. The encoder sorts and deduplicates them; the decoder
// returns them sorted: first every IPv4 /32 in address order, then the
// other prefixes in (address, bits) order.
type Message struct {
	Kind     Kind
	From, To uint64
	Issued   time.Time
	Added    []netip.Prefix
	Removed  []netip.Prefix
}

// KeyID returns the key id of pub: the first KeyIDLen bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) [KeyIDLen]byte {
	h := sha256.Sum256(pub)
	var id [KeyIDLen]byte
	copy(id[:], h[:KeyIDLen])
	return id
}

// Encode returns m encoded and signed with key. It sorts and deduplicates
// copies of the entry lists (m is not modified) and refuses an invalid
// prefix, an IPv4-mapped one, a snapshot with From or Removed set, a delta
// with To < From, and more than MaxEntries entries in a list.
func Encode(m *Message, key ed25519.PrivateKey) ([]byte, error) {
	switch m.Kind {
	case KindSnapshot:
		if m.From != 0 || len(m.Removed) > 0 {
			return nil, fmt.Errorf("blocklist: encode snapshot: from and removed must be empty")
		}
	case KindDelta:
		if m.To < m.From {
			return nil, fmt.Errorf("blocklist: encode delta %d→%d: to before from", m.From, m.To)
		}
	default:
		return nil, fmt.Errorf("blocklist: encode: kind %d", m.Kind)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("blocklist: encode: private key of %d bytes", len(key))
	}
	b := make([]byte, headerLen, headerLen+3*(len(m.Added)+len(m.Removed))+64+ed25519.SignatureSize)
	copy(b, Magic)
	b[4] = byte(m.Kind)
	binary.BigEndian.PutUint64(b[5:], m.From)
	binary.BigEndian.PutUint64(b[13:], m.To)
	var issued int64
	if !m.Issued.IsZero() {
		issued = m.Issued.UnixMilli()
	}
	binary.BigEndian.PutUint64(b[21:], uint64(issued))
	id := KeyID(key.Public().(ed25519.PublicKey))
	copy(b[29:], id[:])
	var err error
	if b, err = appendList(b, m.Added); err != nil {
		return nil, fmt.Errorf("blocklist: encode %s %d→%d: %w", m.Kind, m.From, m.To, err)
	}
	if b, err = appendList(b, m.Removed); err != nil {
		return nil, fmt.Errorf("blocklist: encode %s %d→%d: %w", m.Kind, m.From, m.To, err)
	}
	return append(b, ed25519.Sign(key, b)...), nil
}

// appendList appends one entry list: the IPv4 /32s as a count and
// delta-encoded uvarints, then the other prefixes as a count and
// (family, bits, address bytes) each.
func appendList(b []byte, list []netip.Prefix) ([]byte, error) {
	var v4 []uint32
	var other []netip.Prefix
	for _, p := range list {
		if !p.IsValid() {
			return nil, fmt.Errorf("invalid prefix %v", p)
		}
		if p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("prefix %v: mapped or zoned address", p)
		}
		p = p.Masked()
		if p.Addr().Is4() && p.Bits() == 32 {
			a := p.Addr().As4()
			v4 = append(v4, binary.BigEndian.Uint32(a[:]))
		} else {
			other = append(other, p)
		}
	}
	slices.Sort(v4)
	v4 = slices.Compact(v4)
	slices.SortFunc(other, comparePrefix)
	other = slices.Compact(other)
	if len(v4)+len(other) > MaxEntries {
		return nil, fmt.Errorf("%d entries, more than %d", len(v4)+len(other), MaxEntries)
	}
	b = binary.AppendUvarint(b, uint64(len(v4)))
	var prev uint32
	for i, a := range v4 {
		if i == 0 {
			b = binary.AppendUvarint(b, uint64(a))
		} else {
			b = binary.AppendUvarint(b, uint64(a-prev-1))
		}
		prev = a
	}
	b = binary.AppendUvarint(b, uint64(len(other)))
	for _, p := range other {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			b = append(b, 4, byte(p.Bits()))
			b = append(b, a[:]...)
		} else {
			a := p.Addr().As16()
			b = append(b, 6, byte(p.Bits()))
			b = append(b, a[:]...)
		}
	}
	return b, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Decode verifies b's signature with pub, then decodes it. Nothing of b
// but its fixed header is read before the signature verifies; a message
// signed by another key fails with ErrKey, a bad signature with
// ErrSignature, anything malformed with ErrFormat. The returned message
// does not alias b.
func Decode(b []byte, pub ed25519.PublicKey) (*Message, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("blocklist: decode: public key of %d bytes", len(pub))
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("blocklist: decode: %d bytes, more than %d: %w", len(b), MaxMessage, ErrFormat)
	}
	if len(b) < minLen {
		return nil, fmt.Errorf("blocklist: decode: %d bytes, fewer than %d: %w", len(b), minLen, ErrFormat)
	}
	if string(b[:4]) != Magic {
		return nil, fmt.Errorf("blocklist: decode: bad magic or format version %q: %w", b[:4], ErrFormat)
	}
	id := KeyID(pub)
	if !bytes.Equal(b[29:29+KeyIDLen], id[:]) {
		return nil, fmt.Errorf("blocklist: decode: key id %x, want %x: %w", b[29:29+KeyIDLen], id, ErrKey)
	}
	body, sig := b[:len(b)-ed25519.SignatureSize], b[len(b)-ed25519.SignatureSize:]
	if !ed25519.Verify(pub, body, sig) {
		return nil, fmt.Errorf("blocklist: decode: %w", ErrSignature)
	}
	m, err := decodeBody(body)
	if err != nil {
		return nil, fmt.Errorf("blocklist: decode: %w: %w", err, ErrFormat)
	}
	return m, nil
}

// decodeBody decodes a message whose signature has verified.
func decodeBody(b []byte) (*Message, error) {
	m := &Message{
		Kind: Kind(b[4]),
		From: binary.BigEndian.Uint64(b[5:]),
		To:   binary.BigEndian.Uint64(b[13:]),
	}
	if ms := int64(binary.BigEndian.Uint64(b[21:])); ms != 0 {
		m.Issued = time.UnixMilli(ms)
	}
	switch m.Kind {
	case KindSnapshot:
		if m.From != 0 {
			return nil, fmt.Errorf("snapshot with from %d", m.From)
		}
	case KindDelta:
		if m.To < m.From {
			return nil, fmt.Errorf("delta %d→%d goes back", m.From, m.To)
		}
	default:
		return nil, fmt.Errorf("kind %d", b[4])
	}
	d := decoder{b: b[headerLen:]}
	m.Added = d.list("added")
	m.Removed = d.list("removed")
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the lists", len(d.b))
	}
	if d.err == nil && m.Kind == KindSnapshot && len(m.Removed) > 0 {
		d.err = fmt.Errorf("snapshot with %d removed entries", len(m.Removed))
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// decoder reads entry lists, keeping the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%s: bad varint", what)
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.err = fmt.Errorf("%s: varint not minimal", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// list decodes one entry list. Counts are checked against the bytes left
// (an IPv4 address takes at least one byte, a prefix six) before anything
// is allocated.
func (d *decoder) list(name string) []netip.Prefix {
	n4 := d.uvarint(name + " ipv4 count")
	if d.err == nil && (n4 > MaxEntries || n4 > uint64(len(d.b))) {
		d.err = fmt.Errorf("%s: %d ipv4 entries in %d bytes", name, n4, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	out := make([]netip.Prefix, 0, n4)
	var prev uint64
	for i := range n4 {
		v := d.uvarint(name) // no string built per entry
		if i > 0 {
			v += prev + 1
		}
		if d.err == nil && v > 0xffffffff {
			d.err = fmt.Errorf("%s: ipv4 entry %d beyond 255.255.255.255", name, i)
		}
		if d.err != nil {
			return nil
		}
		prev = v
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(v))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	np := d.uvarint(name + " prefix count")
	if d.err == nil && (np+n4 > MaxEntries || np > uint64(len(d.b))/6) {
		d.err = fmt.Errorf("%s: %d prefixes in %d bytes", name, np, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	out = slices.Grow(out, int(np))
	first := len(out)
	for i := range np {
		if len(d.b) < 2 {
			d.err = fmt.Errorf("%s: prefix %d cut short", name, i)
			return nil
		}
		fam, bits := d.b[0], int(d.b[1])
		var p netip.Prefix
		switch {
		case fam == 4 && len(d.b) >= 6 && bits < 32:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte(d.b[2:6])), bits)
			d.b = d.b[6:]
		case fam == 6 && len(d.b) >= 18 && bits <= 128:
			a := netip.AddrFrom16([16]byte(d.b[2:18]))
			if a.Is4In6() {
				d.err = fmt.Errorf("%s: prefix %d is IPv4-mapped", name, i)
				return nil
			}
			p = netip.PrefixFrom(a, bits)
			d.b = d.b[18:]
		default:
			d.err = fmt.Errorf("%s: prefix %d: family %d, %d bits, %d bytes left", name, i, fam, bits, len(d.b))
			return nil
		}
		if p.Masked() != p {
			d.err = fmt.Errorf("%s: prefix %v has host bits set", name, p)
			return nil
		}
		if len(out) > first && comparePrefix(out[len(out)-1], p) >= 0 {
			d.err = fmt.Errorf("%s: prefix %v out of order", name, p)
			return nil
		}
		out = append(out, p)
	}
	return out
}
