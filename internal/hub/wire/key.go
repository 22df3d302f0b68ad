package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

const keyPEMType = "HERD ED25519 PRIVATE KEY"

// LoadOrCreateKey reads the ed25519 private key at path (PEM, the 32-byte
// seed), or creates it with mode 0600 when the file does not exist. A key
// file readable by others is refused.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", path, err)
		}
		werr := pem.Encode(f, &pem.Block{Type: keyPEMType, Bytes: key.Seed()})
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("key %s: %w", path, werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key %s: mode %v: readable by others (want 0600)", path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != keyPEMType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("key %s: not a %s PEM block", path, keyPEMType)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}
