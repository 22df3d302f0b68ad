package hub

import (
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// limiter is a set of token buckets, one per key, holding at most max keys:
// when full, buckets that have refilled (and so carry no state worth
// keeping) are dropped; if none has, new keys are refused.
type limiter[K comparable] struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	buckets map[K]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter[K comparable](rate, burst float64, max int) *limiter[K] {
	return &limiter[K]{rate: rate, burst: burst, max: max, buckets: map[K]*bucket{}}
}

// allow takes n tokens from k's bucket at now, if it holds them.
func (l *limiter[K]) allow(k K, n float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.max {
			for kk, bb := range l.buckets {
				if bb.tokens+now.Sub(bb.at).Seconds()*l.rate >= l.burst {
					delete(l.buckets, kk)
				}
			}
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[k] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// nonceCache remembers (reporter, nonce) pairs for at least ttl, in two
// generations of at most max/2 entries each: a pair is a replay if either
// generation holds it; every ttl the older generation is dropped.
type nonceCache struct {
	mu        sync.Mutex
	ttl       time.Duration
	half      int
	cur, prev map[nonceKey]struct{}
	rotated   time.Time
}

type nonceKey struct {
	id    wire.ReporterID
	nonce [16]byte
}

type nonceResult uint8

const (
	nonceOK nonceResult = iota
	nonceReplay
	nonceFull
)

func newNonceCache(max int, ttl time.Duration) *nonceCache {
	return &nonceCache{ttl: ttl, half: max / 2, cur: map[nonceKey]struct{}{}, prev: map[nonceKey]struct{}{}}
}

func (c *nonceCache) add(id wire.ReporterID, nonce [16]byte, now time.Time) nonceResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rotated.IsZero() {
		c.rotated = now
	}
	if now.Sub(c.rotated) >= c.ttl {
		c.prev, c.cur = c.cur, c.prev
		clear(c.cur)
		if now.Sub(c.rotated) >= 2*c.ttl {
			clear(c.prev)
		}
		c.rotated = now
	}
	k := nonceKey{id, nonce}
	if _, ok := c.cur[k]; ok {
		return nonceReplay
	}
	if _, ok := c.prev[k]; ok {
		return nonceReplay
	}
	if len(c.cur) >= c.half {
		return nonceFull
	}
	c.cur[k] = struct{}{}
	return nonceOK
}
