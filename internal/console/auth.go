package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// The password's key derivation: Argon2id with the parameters RFC 9106
// recommends for memory-constrained uses (64 MiB, 3 passes), 2 lanes.
const (
	kdfMemoryKiB = 64 << 10
	kdfTime      = 3
	kdfThreads   = 2
	kdfKeyLen    = 32
	kdfSaltLen   = 16
	// MinPasswordLen is the shortest password SetPassword accepts.
	MinPasswordLen = 10
	// maxPasswordLen bounds what is hashed (the KDF costs the same for any
	// length, but a request body must stay small).
	maxPasswordLen = 1024
)

// ErrNoPassword is returned by LoadPassword when no password was set.
var ErrNoPassword = errors.New("console: no password set (run herd console passwd)")

// Hash is a password's Argon2id hash with its parameters, as the password
// file holds it: $argon2id$v=19$m=65536,t=3,p=2$SALT$KEY (base64 without
// padding), the PHC string format.
type Hash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// NewHash derives the hash of password with a fresh random salt.
func NewHash(password string) (Hash, error) {
	if len(password) < MinPasswordLen {
		return Hash{}, fmt.Errorf("console: the password must have at least %d characters", MinPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return Hash{}, fmt.Errorf("console: the password must have at most %d characters", maxPasswordLen)
	}
	h := Hash{memory: kdfMemoryKiB, time: kdfTime, threads: kdfThreads, salt: make([]byte, kdfSaltLen)}
	if _, err := rand.Read(h.salt); err != nil {
		return Hash{}, fmt.Errorf("console: salt: %w", err)
	}
	h.key = argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, kdfKeyLen)
	return h, nil
}

// String returns the hash in the PHC string format.
func (h Hash) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.time, h.threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// ParseHash reads a hash in the PHC string format. Parameters beyond sane
// bounds are refused, so that a tampered file cannot make a login cost
// gigabytes.
func ParseHash(s string) (Hash, error) {
	parts := strings.Split(strings.TrimSpace(s), "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Hash{}, errors.New("console: password hash: not an argon2id hash in PHC format")
	}
	var h Hash
	var p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Hash{}, fmt.Errorf("console: password hash: parameter %q: %w", k, err)
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			p = n
		default:
			return Hash{}, fmt.Errorf("console: password hash: unknown parameter %q", k)
		}
	}
	if h.memory < 8<<10 || h.memory > 1<<20 || h.time < 1 || h.time > 16 || p < 1 || p > 16 {
		return Hash{}, errors.New("console: password hash: parameters out of bounds")
	}
	h.threads = uint8(p)
	b64 := base64.RawStdEncoding
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return Hash{}, errors.New("console: password hash: bad salt")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return Hash{}, errors.New("console: password hash: bad key")
	}
	return h, nil
}

// Verify reports whether password is the one hashed, comparing the keys
// in constant time.
func (h Hash) Verify(password string) bool {
	if len(password) > maxPasswordLen || len(h.key) == 0 {
		return false
	}
	k := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

// SetPassword writes password's hash to path (mode 0600, through a
// temporary file renamed over it), creating its directory (0700).
func SetPassword(path, password string) error {
	h, err := NewHash(password)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("console: password file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".console-password-*")
	if err != nil {
		return fmt.Errorf("console: password file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("console: password file: %w", err)
	}
	if _, err := tmp.WriteString(h.String() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("console: password file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("console: password file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("console: password file: %w", err)
	}
	return nil
}

// LoadPassword reads the hash at path; ErrNoPassword when the file does
// not exist.
func LoadPassword(path string) (Hash, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Hash{}, ErrNoPassword
	}
	if err != nil {
		return Hash{}, fmt.Errorf("console: password file: %w", err)
	}
	h, err := ParseHash(string(bytes.TrimSpace(b)))
	if err != nil {
		return Hash{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// token returns n random bytes in base64url.
func token(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // cannot happen on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// equal compares two secrets in constant time.
func equal(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Session lifetimes and bounds.
const (
	SessionIdle = 30 * time.Minute // a session unused this long ends
	SessionMax  = 12 * time.Hour   // and any session ends this long after login
	maxSessions = 64               // the oldest session ends when one more logs in
)

type session struct {
	csrf    string
	created time.Time
	used    time.Time
}

// sessions are the logged-in browsers, by their cookie's token.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func (s *sessions) create(now time.Time) (id string, se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	if len(s.m) >= maxSessions {
		var oldest string
		for k, v := range s.m {
			if oldest == "" || v.created.Before(s.m[oldest].created) {
				oldest = k
			}
		}
		delete(s.m, oldest)
	}
	id = token(32)
	se = &session{csrf: token(32), created: now, used: now}
	s.m[id] = se
	return id, se
}

// get returns the live session of id, refreshing its use, or nil. The map
// lookup is by the token itself: its 256 random bits are what protects it,
// and the lookup's timing tells nothing useful about a guess.
func (s *sessions) get(id string, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[id]
	if se == nil {
		return nil
	}
	if now.Sub(se.used) > SessionIdle || now.Sub(se.created) > SessionMax {
		delete(s.m, id)
		return nil
	}
	se.used = now
	return se
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// Login limits: each source may try LoginBurst times, then once per
// LoginEvery; all sources together GlobalBurst times, then once per
// GlobalEvery. A refused attempt costs no key derivation.
const (
	LoginBurst  = 5
	LoginEvery  = 12 * time.Second // 5 a minute
	GlobalBurst = 20
	GlobalEvery = 2 * time.Second // 30 a minute
	maxLimited  = 4096            // sources tracked; beyond, the global limit alone holds
)

// bucket is a token bucket: tokens left at last.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill returns the tokens the bucket holds at now, at most burst.
func (b *bucket) refill(now time.Time, burst int, every time.Duration) float64 {
	if b.last.IsZero() {
		return float64(burst)
	}
	t := b.tokens + float64(now.Sub(b.last))/float64(every)
	return min(t, float64(burst))
}

// take spends one token if the bucket has one.
func (b *bucket) take(now time.Time, burst int, every time.Duration) bool {
	b.tokens, b.last = b.refill(now, burst, every), now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limiter rate-limits login attempts per source address and globally.
type limiter struct {
	mu     sync.Mutex
	global bucket
	per    map[netip.Addr]*bucket
}

// allow reports whether src may try to log in now.
func (l *limiter) allow(src netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per == nil {
		l.per = map[netip.Addr]*bucket{}
	}
	key := src.Unmap()
	if key.Is6() {
		key = netip.PrefixFrom(key, 64).Masked().Addr() // one IPv6 client holds a /64
	}
	b := l.per[key]
	if b == nil {
		if len(l.per) >= maxLimited {
			for k, v := range l.per { // forget the sources whose buckets are full again
				if v.refill(now, LoginBurst, LoginEvery) >= LoginBurst {
					delete(l.per, k)
				}
			}
		}
		b = &bucket{}
		if len(l.per) < maxLimited {
			l.per[key] = b
		}
	}
	if !b.take(now, LoginBurst, LoginEvery) {
		return false
	}
	return l.global.take(now, GlobalBurst, GlobalEvery)
}
