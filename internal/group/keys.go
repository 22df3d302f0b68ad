// Package group is the end-to-end encryption of private groups: each member's
// keys, the epoch keys wrapped to members with HPKE (RFC 9180), messages
// sealed per sender with AEAD and signed inside, the roster an admin signs,
// invitations, and each member's state. It does no network I/O: the hub only
// ever relays the blobs it produces (docs/groups.md).
package group

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ID names a member: the first 16 bytes of SHA-256 of its ed25519 public
// key, the same as the hub's reporter id (docs/hub.md).
type ID [16]byte

// IDOf returns the id of an ed25519 public key.
func IDOf(pub ed25519.PublicKey) ID {
	h := sha256.Sum256(pub)
	var id ID
	copy(id[:], h[:16])
	return id
}

// String is the id in 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses 32 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 32 {
		return id, errors.New("group: id: want 32 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("group: id: not hex")
	}
	return id, nil
}

// GroupID names a group: 16 random bytes chosen by its creator.
type GroupID [16]byte

// String is the group id in 32 lowercase hex digits.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// ParseGroupID parses 32 hex digits.
func ParseGroupID(s string) (GroupID, error) {
	id, err := ParseID(s)
	return GroupID(id), err
}

// Identity is a member's keys: the ed25519 key it signs with (the agent's
// hub reporter key) and the X25519 key epoch keys are wrapped to.
type Identity struct {
	Sign ed25519.PrivateKey
	KEM  *ecdh.PrivateKey
}

// ID returns the identity's member id.
func (i Identity) ID() ID { return IDOf(i.Sign.Public().(ed25519.PublicKey)) }

// Public returns the identity's public keys.
func (i Identity) Public() Member {
	return Member{ID: i.ID(), Sign: i.Sign.Public().(ed25519.PublicKey), KEM: i.KEM.PublicKey().Bytes()}
}

// NewIdentity returns an identity with fresh keys (tests).
func NewIdentity() (Identity, error) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Sign: sk, KEM: k}, nil
}

const kemPEMType = "HERD X25519 PRIVATE KEY"

// LoadOrCreateKEMKey reads the X25519 private key at path (PEM, 32 bytes),
// or creates it with mode 0600 when the file does not exist. A key file
// readable by others is refused.
func LoadOrCreateKEMKey(path string) (*ecdh.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("group key %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("group key %s: %w", path, err)
		}
		werr := pem.Encode(f, &pem.Block{Type: kemPEMType, Bytes: k.Bytes()})
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("group key %s: %w", path, werr)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("group key %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("group key %s: mode %v: readable by others (want 0600)", path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != kemPEMType {
		return nil, fmt.Errorf("group key %s: not a %s PEM block", path, kemPEMType)
	}
	k, err := ecdh.X25519().NewPrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("group key %s: %w", path, err)
	}
	return k, nil
}

// MarshalText writes the id in hex (JSON map keys, the groups file).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 32 hex digits.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	*id = v
	return err
}

// MarshalText writes the group id in hex.
func (g GroupID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses 32 hex digits.
func (g *GroupID) UnmarshalText(b []byte) error {
	v, err := ParseGroupID(string(b))
	*g = v
	return err
}
