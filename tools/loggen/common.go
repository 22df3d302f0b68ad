package main

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// flushEvery is how many bytes a generator buffers before handing them to the writer.
const flushEvery = 256 << 10

// clock is the generated timeline: it starts at cfg.start and advances by exponentially distributed
// steps so that the last line lands near start+span. It never goes backwards.
type clock struct {
	ns     int64   // current time, Unix nanoseconds
	meanNS float64 // mean step between lines
	sec    int64   // second of the cached stamp, or -1
	stamp  []byte  // formatted stamp of sec
	layout string  // time layout used for stamp
}

func newClock(cfg config, layout string) clock {
	mean := float64(cfg.span.Nanoseconds())
	if cfg.lines > 0 {
		mean /= float64(cfg.lines)
	}
	return clock{ns: cfg.start.UnixNano(), meanNS: mean, sec: -1, layout: layout}
}

// tick advances the clock by one random step.
func (c *clock) tick(r *rand.Rand) {
	c.ns += int64(r.ExpFloat64() * c.meanNS)
}

// unix returns the current second.
func (c *clock) unix() int64 { return c.ns / int64(time.Second) }

// format returns the current time in the clock's layout. The slice is valid until the next call;
// it is formatted once per second.
func (c *clock) format() []byte {
	s := c.unix()
	if s != c.sec {
		c.sec = s
		c.stamp = time.Unix(s, 0).UTC().AppendFormat(c.stamp[:0], c.layout)
	}
	return c.stamp
}

// picker draws indexes with fixed integer weights.
type picker struct {
	cum   []int
	total int
}

func newPicker(weights ...int) picker {
	p := picker{cum: make([]int, len(weights))}
	for i, w := range weights {
		p.total += w
		p.cum[i] = p.total
	}
	return p
}

func (p *picker) pick(r *rand.Rand) int {
	n := r.IntN(p.total)
	for i, c := range p.cum {
		if n < c {
			return i
		}
	}
	return len(p.cum) - 1
}

// addrPool holds pre-formatted addresses. The first few entries are heavy hitters: hot() draws
// them far more often than the rest.
type addrPool struct {
	text  [][]byte
	heavy int
}

// newAttackerPool returns n distinct public addresses, about one in twelve IPv6.
func newAttackerPool(r *rand.Rand, n, heavy int) addrPool {
	seen := make(map[netip.Addr]bool, n)
	p := addrPool{text: make([][]byte, 0, n), heavy: heavy}
	for len(p.text) < n {
		var a netip.Addr
		if r.IntN(12) == 0 {
			a = randPublicV6(r)
		} else {
			a = randPublicV4(r)
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		p.text = append(p.text, []byte(a.String()))
	}
	return p
}

// hot draws an address with a skewed distribution: a quarter of the draws go to the heavy hitters,
// a quarter to the next hundred addresses, and the rest spread over the whole pool.
func (p *addrPool) hot(r *rand.Rand) int {
	switch n := r.IntN(4); {
	case n == 0 && p.heavy > 0:
		return r.IntN(p.heavy)
	case n == 1:
		return r.IntN(min(len(p.text), p.heavy+100))
	default:
		return r.IntN(len(p.text))
	}
}

// randPublicV4 returns a random IPv4 address outside private, shared, loopback, link-local,
// documentation, multicast and reserved space.
func randPublicV4(r *rand.Rand) netip.Addr {
	for {
		v := r.Uint32()
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if publicV4(a) && byte(v) != 0 && byte(v) != 255 {
			return a
		}
	}
}

var nonPublicV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/3"),
}

func publicV4(a netip.Addr) bool {
	for _, p := range nonPublicV4 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// v6Prefixes are /16 heads of regional-registry allocations that hosting providers announce.
var v6Prefixes = []uint16{0x2001, 0x2400, 0x2401, 0x2402, 0x2403, 0x2404, 0x2405, 0x2406, 0x2407,
	0x2408, 0x2409, 0x240e, 0x2600, 0x2602, 0x2603, 0x2604, 0x2605, 0x2606, 0x2607, 0x2610, 0x2620,
	0x2800, 0x2801, 0x2803, 0x2804, 0x2a00, 0x2a01, 0x2a02, 0x2a03, 0x2a04, 0x2a05, 0x2a06, 0x2a07,
	0x2a09, 0x2a0a, 0x2a0b, 0x2a0c, 0x2a0d, 0x2a0e, 0x2a10, 0x2a11, 0x2c0f}

// randPublicV6 returns a random global unicast IPv6 address; about half have a short interface
// identifier (::1, ::a:b), the rest a random one, as servers and clients do.
func randPublicV6(r *rand.Rand) netip.Addr {
	var b [16]byte
	head := v6Prefixes[r.IntN(len(v6Prefixes))]
	b[0], b[1] = byte(head>>8), byte(head)
	if head == 0x2001 {
		b[2], b[3] = 0x04, byte(0x10+r.IntN(0x80)) // 2001:4xx: avoids 2001:db8::/32 and 2001::/23
	} else {
		b[2], b[3] = byte(r.IntN(256)), byte(r.IntN(256))
	}
	for i := 4; i < 8; i++ {
		b[i] = byte(r.IntN(256))
	}
	if r.IntN(2) == 0 {
		b[15] = byte(1 + r.IntN(32))
		if r.IntN(3) == 0 {
			b[13] = byte(r.IntN(256))
		}
	} else {
		for i := 8; i < 16; i++ {
			b[i] = byte(r.IntN(256))
		}
	}
	return netip.AddrFrom16(b)
}

// appendInt appends the decimal form of v.
func appendInt(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }

// appendB64 appends n random characters of the unpadded base64 alphabet.
func appendB64(b []byte, r *rand.Rand, n int) []byte {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for ; n > 0; n -= 10 {
		v := r.Uint64()
		for i := 0; i < min(n, 10); i++ {
			b = append(b, digits[v&63])
			v >>= 6
		}
	}
	return b
}

// ephemeralPort returns a client source port in the Linux ephemeral range.
func ephemeralPort(r *rand.Rand) int { return 32768 + r.IntN(28232) }
