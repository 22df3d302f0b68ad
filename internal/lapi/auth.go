package lapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"sync"

	"github.com/herd-ips/herd/internal/store"
)

// keyBytes is the entropy of a key NewKey makes: 256 bits.
const keyBytes = 32

// HashKey returns the SHA-256 digest of key, the form in which bouncer keys
// are stored (store.AddBouncer). Keys are random, so a plain hash is enough;
// no salt or slow hash is needed.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// NewKey returns a fresh bouncer key: 32 bytes from crypto/rand in unpadded
// URL-safe base64 (43 characters, usable in a header or a YAML file as is).
func NewKey() (string, error) {
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lapi: new key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// keyring authenticates API keys against the registered bouncers.
//
// The store holds SHA-256 digests. Verifying a key the first time hashes it
// and finds the digest (in memory, then in the store for a bouncer added
// since the last reload). A verified key then goes into a small cache keyed
// by a seeded maphash of the key and compared in constant time, so that
// steady traffic (forward-auth, polling bouncers) costs no SHA-256 and no
// allocation. reload drops cached keys whose bouncer was deleted.
type keyring struct {
	seed maphash.Seed

	mu     sync.RWMutex
	hashes map[[sha256.Size]byte]string // digest → bouncer name
	cache  map[uint64]cachedKey         // maphash(key) → verified key
}

type cachedKey struct {
	key, name string
	digest    [sha256.Size]byte
}

func newKeyring() *keyring {
	return &keyring{
		seed:   maphash.MakeSeed(),
		hashes: map[[sha256.Size]byte]string{},
		cache:  map[uint64]cachedKey{},
	}
}

// cached returns the bouncer name of a key verified before, and false when
// the key is not in the cache. It does not allocate.
func (k *keyring) cached(key string) (string, bool) {
	h := maphash.String(k.seed, key)
	k.mu.RLock()
	c, ok := k.cache[h]
	k.mu.RUnlock()
	if !ok || !equalConstantTime(c.key, key) {
		return "", false
	}
	return c.name, true
}

// verify hashes key and looks the digest up, in memory and then through
// lookup; it returns the bouncer's name and true, or false for an unknown
// key. A store error is returned as such, not as an unknown key.
func (k *keyring) verify(ctx context.Context, key string, lookup func(context.Context, []byte) (string, error)) (string, bool, error) {
	if key == "" {
		return "", false, nil
	}
	digest := sha256.Sum256([]byte(key))
	k.mu.RLock()
	name, ok := k.hashes[digest]
	k.mu.RUnlock()
	if !ok {
		var err error
		name, err = lookup(ctx, digest[:])
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
	}
	k.mu.Lock()
	k.hashes[digest] = name
	// The cache holds only verified keys, so it is bounded by the number of
	// bouncers; the cap guards against a store full of them.
	if len(k.cache) < maxCachedKeys {
		k.cache[maphash.String(k.seed, key)] = cachedKey{key: key, name: name, digest: digest}
	}
	k.mu.Unlock()
	return name, true, nil
}

// maxCachedKeys bounds the verified-key cache.
const maxCachedKeys = 4096

// reload replaces the known digests with bs and drops cached keys whose
// digest is no longer registered. It returns the new digests (digest →
// bouncer name), which the caller must not change.
func (k *keyring) reload(bs []store.Bouncer) map[[sha256.Size]byte]string {
	hashes := make(map[[sha256.Size]byte]string, len(bs))
	for _, b := range bs {
		if len(b.KeyHash) == sha256.Size {
			hashes[[sha256.Size]byte(b.KeyHash)] = b.Name
		}
	}
	k.mu.Lock()
	// A copy: verify adds keys found through lookup to k.hashes under the
	// lock, while the caller reads the returned map without it.
	k.hashes = maps.Clone(hashes)
	for h, c := range k.cache {
		if name, ok := hashes[c.digest]; !ok || name != c.name {
			delete(k.cache, h)
		}
	}
	k.mu.Unlock()
	return hashes
}

// equalConstantTime reports whether a and b are equal, in time that depends
// only on their lengths (which are not secret: keys have a fixed length).
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// limiter is a token bucket per client (an IPv4 address or an IPv6 /64) that
// failed authentications drain: burst failures at once, then one per every.
// Its map holds at most max clients; when full, refilled buckets are swept
// and, if none was, an arbitrary one is dropped, so memory stays bounded
// whatever the number of addresses an attacker uses.
type limiter struct {
	burst float64
	every int64 // nanoseconds per token
	max   int

	mu      sync.Mutex
	buckets map[pkey]bucket
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last update
}

func newLimiter(burst int, every int64, max int) *limiter {
	return &limiter{burst: float64(burst), every: every, max: max, buckets: map[pkey]bucket{}}
}

func clientKey(a netip.Addr) pkey {
	a = a.Unmap()
	hi, lo := halves(a)
	if a.Is6() {
		return maskKey(hi, lo, 64, true)
	}
	return maskKey(hi, lo, 32, false)
}

// refill returns b brought up to now.
func (l *limiter) refill(b bucket, now int64) bucket {
	if now > b.last {
		b.tokens = min(l.burst, b.tokens+float64(now-b.last)/float64(l.every))
		b.last = now
	}
	return b
}

// allowed reports whether a may still try to authenticate at now (unix
// nanoseconds). It does not allocate.
func (l *limiter) allowed(a netip.Addr, now int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[clientKey(a)]
	if !ok {
		return true
	}
	return l.refill(b, now).tokens >= 1
}

// fail takes one token from a's bucket at now.
func (l *limiter) fail(a netip.Addr, now int64) {
	k := clientKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = bucket{tokens: l.burst, last: now}
	}
	b = l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
	l.buckets[k] = b
}

// evict makes room for one bucket. The caller holds l.mu.
func (l *limiter) evict(now int64) {
	for k, b := range l.buckets {
		if l.refill(b, now).tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	for k := range l.buckets {
		delete(l.buckets, k)
		return
	}
}
