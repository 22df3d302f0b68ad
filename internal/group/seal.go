package group

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The cipher suite is MLS's MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
// (RFC 9420, section 17.1, suite 0x0001): HPKE base mode with
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-128-GCM wraps the epoch
// keys; messages are sealed with AES-128-GCM under a key derived per sender
// with HKDF-SHA256; signatures are ed25519.
var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES128GCM()
)

// Sizes.
const (
	// Version is the first byte of every blob.
	Version = 1
	// HeaderSize is the clear header of a blob: version, kind, group,
	// epoch, sender, sequence.
	HeaderSize = 1 + 1 + 16 + 4 + 16 + 8
	// KeySize is an epoch key's size.
	KeySize = 32
	// MaxBlob bounds a blob (the hub refuses larger ones).
	MaxBlob = 256 << 10
	// sealOverhead: the random nonce and tag of AES-GCM, the signature.
	sealOverhead = 12 + 16 + ed25519.SignatureSize
)

// Kind is what a blob carries.
type Kind uint8

// The kinds of blobs.
const (
	// KindMessage carries a member's decisions (and evidence), sealed
	// under the epoch key.
	KindMessage Kind = 1
	// KindCommit carries a new roster signed by an admin, sealed under the
	// epoch key, with the epoch key wrapped to the members who need it.
	KindCommit Kind = 2
	// KindJoin carries a join request, sealed with HPKE to the admin who
	// made the invitation and proving its secret.
	KindJoin Kind = 3
)

// Errors of Open, to be tested with errors.Is.
var (
	ErrMalformed = errors.New("malformed blob")
	ErrForged    = errors.New("blob does not open: tampered, or not for this key")
	ErrReplay    = errors.New("blob replayed")
	ErrStranger  = errors.New("sender is not a member")
	ErrNoKey     = errors.New("no key for this epoch")
)

// Header is a blob's clear part. The hub sees it; the AEAD binds it.
type Header struct {
	Kind   Kind
	Group  GroupID
	Epoch  uint32
	Sender ID
	Seq    uint64
}

// Append appends h's HeaderSize bytes to b.
func (h Header) Append(b []byte) []byte {
	b = append(b, Version, byte(h.Kind))
	b = append(b, h.Group[:]...)
	b = binary.BigEndian.AppendUint32(b, h.Epoch)
	b = append(b, h.Sender[:]...)
	return binary.BigEndian.AppendUint64(b, h.Seq)
}

// ParseHeader returns the header of blob and what follows it.
func ParseHeader(blob []byte) (Header, []byte, error) {
	var h Header
	if len(blob) < HeaderSize || len(blob) > MaxBlob {
		return h, nil, fmt.Errorf("group: blob of %d bytes: %w", len(blob), ErrMalformed)
	}
	if blob[0] != Version {
		return h, nil, fmt.Errorf("group: blob version %d: %w", blob[0], ErrMalformed)
	}
	h.Kind = Kind(blob[1])
	if h.Kind < KindMessage || h.Kind > KindJoin {
		return h, nil, fmt.Errorf("group: blob kind %d: %w", blob[1], ErrMalformed)
	}
	copy(h.Group[:], blob[2:18])
	h.Epoch = binary.BigEndian.Uint32(blob[18:22])
	copy(h.Sender[:], blob[22:38])
	h.Seq = binary.BigEndian.Uint64(blob[38:46])
	return h, blob[HeaderSize:], nil
}

// senderAEAD returns the AEAD of sender's messages in one epoch of a group:
// AES-128-GCM with random nonces under HKDF-SHA256(epoch key, salt = group
// id, info = label, epoch, sender). A key per sender keeps each key's
// message count (the 2^32 bound of random nonces) to one sender's.
func senderAEAD(key []byte, h Header) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrNoKey
	}
	info := make([]byte, 0, 64)
	info = append(info, "herd-group-sender-v1"...)
	info = binary.BigEndian.AppendUint32(info, h.Epoch)
	info = append(info, h.Sender[:]...)
	k, err := hkdf.Key(sha256.New, key, h.Group[:], string(info), 16)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(blk)
}

// sigContext is what a sealed part's signature covers: a label, the
// header, the extra bound data and the body.
func sigContext(label string, hdr, extra, body []byte) []byte {
	b := make([]byte, 0, len(label)+1+len(hdr)+len(extra)+len(body))
	b = append(b, label...)
	b = append(b, 0)
	b = append(b, hdr...)
	b = append(b, extra...)
	return append(b, body...)
}

// seal appends to dst the AEAD sealing of body || signature, the
// signature by sk over (label, hdr, extra, body); the associated data is
// hdr || extra.
func seal(dst []byte, key []byte, h Header, hdr, extra, body []byte, label string, sk ed25519.PrivateKey) ([]byte, error) {
	a, err := senderAEAD(key, h)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, 0, len(body)+ed25519.SignatureSize)
	pt = append(pt, body...)
	pt = append(pt, ed25519.Sign(sk, sigContext(label, hdr, extra, body))...)
	ad := append(append(make([]byte, 0, len(hdr)+len(extra)), hdr...), extra...)
	return a.Seal(dst, nil, pt, ad), nil
}

// open reverses seal and checks the signature with pub.
func open(key []byte, h Header, hdr, extra, ct []byte, label string, pub ed25519.PublicKey) ([]byte, error) {
	a, err := senderAEAD(key, h)
	if err != nil {
		return nil, err
	}
	if len(ct) < sealOverhead {
		return nil, ErrMalformed
	}
	ad := append(append(make([]byte, 0, len(hdr)+len(extra)), hdr...), extra...)
	pt, err := a.Open(nil, nil, ct, ad)
	if err != nil {
		return nil, ErrForged
	}
	body, sig := pt[:len(pt)-ed25519.SignatureSize], pt[len(pt)-ed25519.SignatureSize:]
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, sigContext(label, hdr, extra, body), sig) {
		return nil, ErrForged
	}
	return body, nil
}

// wrapInfo is the HPKE info of an epoch key wrapped to recipient.
func wrapInfo(g GroupID, epoch uint32, recipient ID) []byte {
	b := make([]byte, 0, 64)
	b = append(b, "herd-group-epoch-v1"...)
	b = append(b, g[:]...)
	b = binary.BigEndian.AppendUint32(b, epoch)
	return append(b, recipient[:]...)
}

// wrap seals an epoch key to a member's X25519 key with HPKE (base mode).
func wrap(pub []byte, g GroupID, epoch uint32, recipient ID, key []byte) ([]byte, error) {
	pk, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("group: member %s: %w", recipient, err)
	}
	hp, err := hpke.NewDHKEMPublicKey(pk)
	if err != nil {
		return nil, err
	}
	return hpke.Seal(hp, kdf, aead, wrapInfo(g, epoch, recipient), key)
}

// unwrap opens an epoch key wrapped to self.
func unwrap(sk *ecdh.PrivateKey, g GroupID, epoch uint32, self ID, ct []byte) ([]byte, error) {
	hk, err := hpke.NewDHKEMPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	key, err := hpke.Open(hk, kdf, aead, wrapInfo(g, epoch, self), ct)
	if err != nil || len(key) != KeySize {
		return nil, ErrForged
	}
	return key, nil
}

// Signature labels: a signature made for one kind never verifies as
// another.
const (
	labelMessage = "herd-group-message-v1"
	labelCommit  = "herd-group-commit-v1"
	labelJoin    = "herd-group-join-v1"
)
