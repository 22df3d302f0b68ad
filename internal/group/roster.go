package group

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Member is one member of a roster: its public keys, whether it may
// change the membership, and the label it chose when it joined (a host
// name, say; at most 64 bytes).
type Member struct {
	ID    ID
	Sign  ed25519.PublicKey
	KEM   []byte // X25519 public key, 32 bytes
	Admin bool
	Label string
}

// Roster is a group's membership at one version, signed by an admin in a
// commit. Evidence says whether members share the log lines behind their
// decisions.
type Roster struct {
	Version  uint32
	Name     string
	Evidence bool
	Members  []Member
}

// Limits of a roster.
const (
	MaxMembers  = 1024
	MaxLabel    = 64
	MaxNameSize = 64
)

// Find returns the member with id.
func (r *Roster) Find(id ID) (Member, bool) {
	for _, m := range r.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// appendRoster encodes r:
//
//	version(4) flags(1: bit 0 evidence) name-len(1) name count(2)
//	member{ ed25519(32) x25519(32) flags(1: bit 0 admin) label-len(1) label }
func appendRoster(b []byte, r *Roster) []byte {
	b = binary.BigEndian.AppendUint32(b, r.Version)
	var f byte
	if r.Evidence {
		f = 1
	}
	b = append(b, f, byte(len(r.Name)))
	b = append(b, r.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Members)))
	for _, m := range r.Members {
		b = append(b, m.Sign...)
		b = append(b, m.KEM...)
		f = 0
		if m.Admin {
			f = 1
		}
		b = append(b, f, byte(len(m.Label)))
		b = append(b, m.Label...)
	}
	return b
}

// checkText refuses names and labels that are too long, not UTF-8 or
// hold control characters.
func checkText(what, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return fmt.Errorf("group: %s: at most %d bytes of UTF-8", what, max)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("group: %s: control character", what)
		}
	}
	return nil
}

// decodeRoster parses what appendRoster wrote; every field is checked.
func decodeRoster(b []byte) (Roster, error) {
	var r Roster
	bad := func(why string) (Roster, error) {
		return Roster{}, fmt.Errorf("group: roster: %s: %w", why, ErrMalformed)
	}
	if len(b) < 8 {
		return bad("short")
	}
	r.Version = binary.BigEndian.Uint32(b)
	if b[4]&^1 != 0 {
		return bad("flags")
	}
	r.Evidence = b[4] == 1
	n := int(b[5])
	b = b[6:]
	if len(b) < n+2 {
		return bad("name")
	}
	r.Name = string(b[:n])
	if err := checkText("name", r.Name, MaxNameSize); err != nil || r.Name == "" {
		return bad("name")
	}
	b = b[n:]
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if count == 0 || count > MaxMembers {
		return bad("member count")
	}
	seen := make(map[ID]bool, count)
	for range count {
		if len(b) < 66 {
			return bad("member")
		}
		m := Member{Sign: ed25519.PublicKey(append([]byte(nil), b[:32]...)), KEM: append([]byte(nil), b[32:64]...)}
		if _, err := ecdh.X25519().NewPublicKey(m.KEM); err != nil {
			return bad("member key")
		}
		if b[64]&^1 != 0 {
			return bad("member flags")
		}
		m.Admin = b[64] == 1
		ln := int(b[65])
		b = b[66:]
		if len(b) < ln {
			return bad("label")
		}
		m.Label = string(b[:ln])
		if err := checkText("label", m.Label, MaxLabel); err != nil {
			return bad("label")
		}
		b = b[ln:]
		m.ID = IDOf(m.Sign)
		if seen[m.ID] {
			return bad("member twice")
		}
		seen[m.ID] = true
		r.Members = append(r.Members, m)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return r, nil
}
