package hub

import (
	"crypto/ed25519"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// LoadOrCreateKey reads the hub's blocklist-signing key at path, or creates
// it (mode 0600) on first start. See wire.LoadOrCreateKey.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	return wire.LoadOrCreateKey(path)
}
