package lapi

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

// pkey is a prefix as a pointer-free map key: the masked address as two
// big-endian halves of the 128-bit space (IPv4 as ::ffff:a.b.c.d), its length
// in its own family, and the family. Maps keyed by it are not scanned by the
// garbage collector.
type pkey struct {
	hi, lo uint64
	bits   uint8
	v6     bool
}

// halves returns a (unmapped, zone ignored) as two big-endian halves.
func halves(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// maskKey masks the address (hi, lo) to bits of its family.
func maskKey(hi, lo uint64, bits uint8, v6 bool) pkey {
	total := uint(bits)
	if !v6 {
		total += 96
	}
	switch {
	case total == 0:
		hi, lo = 0, 0
	case total < 64:
		hi &= ^uint64(0) << (64 - total)
		lo = 0
	case total == 64:
		lo = 0
	case total < 128:
		lo &= ^uint64(0) << (128 - total)
	}
	return pkey{hi: hi, lo: lo, bits: bits, v6: v6}
}

// keyOf returns the key of p, unmapped and masked, and false if p is not
// valid.
func keyOf(p netip.Prefix) (pkey, bool) {
	if !p.IsValid() {
		return pkey{}, false
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			hi, lo := halves(a)
			return maskKey(hi, lo, uint8(bits), true), true
		}
		a, bits = a.Unmap(), bits-96
	}
	hi, lo := halves(a)
	return maskKey(hi, lo, uint8(bits), a.Is6()), true
}

// lengths counts, per prefix length of one family, the scopes of that length
// in the deny map, and lists the lengths in use longest first: a lookup tries
// one map probe per length in use (one or two in practice: /32 and /24 for
// IPv4), which handles nested ranges without any interval arithmetic.
type lengths struct {
	count [129]int32
	inUse []uint8
}

func (l *lengths) add(bits uint8, n int32) {
	before := l.count[bits]
	l.count[bits] += n
	if (before == 0) != (l.count[bits] == 0) {
		l.inUse = l.inUse[:0]
		for b := 128; b >= 0; b-- {
			if l.count[b] > 0 {
				l.inUse = append(l.inUse, uint8(b))
			}
		}
	}
}

// mirror is the server's in-memory copy of the live decisions, following the
// store's stream with one cursor. It answers forward-auth, the bouncer
// endpoints' startup and query calls, and the push stream's snapshots.
//
// Simulated decisions never enter it: they are reported, never enforced.
// Decisions whose Until has passed stay until the store marks them deleted
// (the agent's ExpireDecisions); every reader compares Until with its clock.
type mirror struct {
	mu     sync.RWMutex
	loaded bool
	cursor int64
	live   map[int64]store.DecisionRecord
	scopes map[pkey][]int64 // ids of live decisions per scope
	// deny holds, per scope with at least one live ban, the latest Until of
	// its bans in unix nanoseconds.
	deny         map[pkey]int64
	lens4, lens6 lengths // prefix lengths in deny
	all4, all6   lengths // prefix lengths in scopes
	subs         map[*subscriber]struct{}
}

func newMirror() *mirror {
	return &mirror{
		live:   map[int64]store.DecisionRecord{},
		scopes: map[pkey][]int64{},
		deny:   map[pkey]int64{},
		subs:   map[*subscriber]struct{}{},
	}
}

// apply adds and removes decisions and moves the cursor to next; it returns
// the records it actually added and removed (simulated and unknown ones are
// skipped). The caller holds m.mu for writing.
func (m *mirror) apply(added, deleted []store.DecisionRecord, next int64) (in, out []store.DecisionRecord) {
	dirty := map[pkey]struct{}{}
	for i := range added {
		d := &added[i]
		k, ok := keyOf(d.Scope)
		if !ok || d.Simulated {
			continue
		}
		if _, dup := m.live[d.ID]; dup {
			continue
		}
		m.live[d.ID] = *d
		if len(m.scopes[k]) == 0 {
			m.scopeLens(k).add(k.bits, 1)
		}
		m.scopes[k] = append(m.scopes[k], d.ID)
		dirty[k] = struct{}{}
		in = append(in, *d)
	}
	for i := range deleted {
		d := &deleted[i]
		old, ok := m.live[d.ID]
		if !ok {
			continue
		}
		delete(m.live, d.ID)
		k, _ := keyOf(old.Scope)
		ids := m.scopes[k]
		if j := slices.Index(ids, d.ID); j >= 0 {
			ids = slices.Delete(ids, j, j+1)
		}
		if len(ids) == 0 {
			delete(m.scopes, k)
			m.scopeLens(k).add(k.bits, -1)
		} else {
			m.scopes[k] = ids
		}
		dirty[k] = struct{}{}
		out = append(out, *d)
	}
	for k := range dirty {
		m.refreshDeny(k)
	}
	m.cursor = max(m.cursor, next)
	return in, out
}

func (m *mirror) scopeLens(k pkey) *lengths {
	if k.v6 {
		return &m.all6
	}
	return &m.all4
}

// refreshDeny recomputes deny[k] from the live bans of scope k.
func (m *mirror) refreshDeny(k pkey) {
	var until int64
	has := false
	for _, id := range m.scopes[k] {
		d := m.live[id]
		if d.Type != event.Ban {
			continue
		}
		has = true
		until = max(until, d.Until.UnixNano())
	}
	_, had := m.deny[k]
	if has {
		m.deny[k] = until
	} else {
		delete(m.deny, k)
	}
	if has != had {
		n := int32(1)
		if !has {
			n = -1
		}
		if k.v6 {
			m.lens6.add(k.bits, n)
		} else {
			m.lens4.add(k.bits, n)
		}
	}
}

// banned reports whether a is covered by a ban whose Until is after now (unix
// nanoseconds). IPv4-mapped addresses count as IPv4. It does not allocate;
// it costs one map probe per prefix length in use in a's family. The caller
// holds m.mu for reading.
func (m *mirror) banned(a netip.Addr, now int64) bool {
	a = a.Unmap()
	hi, lo := halves(a)
	v6 := a.Is6()
	lens := m.lens4.inUse
	if v6 {
		lens = m.lens6.inUse
	}
	for _, bits := range lens {
		if until, ok := m.deny[maskKey(hi, lo, bits, v6)]; ok && until > now {
			return true
		}
	}
	return false
}

// covering appends to dst the ids of the live decisions whose scope contains
// a. The caller holds m.mu for reading.
func (m *mirror) covering(dst []int64, a netip.Addr) []int64 {
	a = a.Unmap()
	if !a.IsValid() {
		return dst
	}
	hi, lo := halves(a)
	v6 := a.Is6()
	lens := m.all4.inUse
	if v6 {
		lens = m.all6.inUse
	}
	for _, bits := range lens {
		dst = append(dst, m.scopes[maskKey(hi, lo, bits, v6)]...)
	}
	return dst
}

// sortedLive returns the live decisions whose Until is after now, ordered by
// id. The caller holds m.mu.
func (m *mirror) sortedLive(now time.Time) []store.DecisionRecord {
	out := make([]store.DecisionRecord, 0, len(m.live))
	for _, d := range m.live {
		if d.Until.After(now) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y store.DecisionRecord) int { return cmpInt(x.ID, y.ID) })
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
