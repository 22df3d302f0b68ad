package hub

import (
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

// sweepEvery is the shortest interval between two sweeps of a full
// limiter table: a table kept full by a flood is scanned at most once a
// second, not once per refused request.
const sweepEvery = time.Second

// limiter is a set of token buckets, one per key, holding at most max keys:
// when full, buckets that have refilled (and so carry no state worth
// keeping) are dropped, at most once per sweepEvery; if none has, new keys
// are refused.
type limiter[K comparable] struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	buckets map[K]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter[K comparable](rate, burst float64, max int) *limiter[K] {
	return &limiter[K]{rate: rate, burst: burst, max: max, buckets: map[K]*bucket{}}
}

// tokens returns the tokens b holds at now.
func (l *limiter[K]) tokens(b *bucket, now time.Time) float64 {
	if b == nil {
		return l.burst
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		return min(l.burst, b.tokens+dt*l.rate)
	}
	return b.tokens
}

// has reports whether k's bucket holds n tokens at now, without taking
// them and without creating a bucket: a refused request leaves no state.
func (l *limiter[K]) has(k K, n float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil && len(l.buckets) >= l.max && now.Sub(l.swept) < sweepEvery {
		return false
	}
	return l.tokens(b, now) >= n
}

// allow takes n tokens from k's bucket at now, if it holds them.
func (l *limiter[K]) allow(k K, n float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if l.burst < n {
			return false
		}
		if len(l.buckets) >= l.max {
			if now.Sub(l.swept) < sweepEvery {
				return false
			}
			l.swept = now
			for kk, bb := range l.buckets {
				if l.tokens(bb, now) >= l.burst {
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
	b.tokens = l.tokens(b, now)
	if now.After(b.at) {
		b.at = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// len returns the number of buckets held.
func (l *limiter[K]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// nonceCache remembers (reporter, nonce) pairs for at least ttl, in two
// generations: a pair is a replay if either generation holds it; every ttl
// the older generation is dropped. Only enrolled reporters' requests with
// a valid signature that passed the rate limit reach it.
//
// Each reporter may hold at most perReporter nonces in the current
// generation (beyond, its requests are refused as over quota, so one
// member cannot take the others' slots), and the generation holds at most
// half entries in total; when it is full, a reporter still holding fewer
// than floor nonces is admitted all the same, so a full cache never locks
// out a reporter sending at an honest pace. The memory is therefore at
// most 2 × (half + reporters × floor) entries.
type nonceCache struct {
	mu          sync.Mutex
	ttl         time.Duration
	half        int
	perReporter int
	floor       int
	cur, prev   map[nonceKey]struct{}
	held        map[wire.ReporterID]int // entries per reporter in cur
	rotated     time.Time
}

type nonceKey struct {
	id    wire.ReporterID
	nonce [16]byte
}

type nonceResult uint8

const (
	nonceOK nonceResult = iota
	nonceReplay
	nonceQuota // the reporter holds its quota
	nonceFull  // the cache is full
)

func newNonceCache(max, perReporter, floor int, ttl time.Duration) *nonceCache {
	return &nonceCache{
		ttl: ttl, half: max / 2, perReporter: perReporter, floor: min(floor, perReporter),
		cur: map[nonceKey]struct{}{}, prev: map[nonceKey]struct{}{}, held: map[wire.ReporterID]int{},
	}
}

func (c *nonceCache) rotate(now time.Time) {
	if c.rotated.IsZero() {
		c.rotated = now
	}
	if now.Sub(c.rotated) >= c.ttl {
		c.prev, c.cur = c.cur, c.prev
		clear(c.cur)
		clear(c.held)
		if now.Sub(c.rotated) >= 2*c.ttl {
			clear(c.prev)
		}
		c.rotated = now
	}
}

// seen reports whether the pair is held, without storing it.
func (c *nonceCache) seen(id wire.ReporterID, nonce [16]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	k := nonceKey{id, nonce}
	_, a := c.cur[k]
	_, b := c.prev[k]
	return a || b
}

// add stores the pair unless it is a replay or the reporter's quota or the
// cache is full.
func (c *nonceCache) add(id wire.ReporterID, nonce [16]byte, now time.Time) nonceResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	k := nonceKey{id, nonce}
	if _, ok := c.cur[k]; ok {
		return nonceReplay
	}
	if _, ok := c.prev[k]; ok {
		return nonceReplay
	}
	n := c.held[id]
	if n >= c.perReporter {
		return nonceQuota
	}
	if len(c.cur) >= c.half && n >= c.floor {
		return nonceFull
	}
	c.cur[k] = struct{}{}
	c.held[id] = n + 1
	return nonceOK
}

// len returns the number of pairs held.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}
