package scenario

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/herd-ips/herd/internal/event"
)

// DefaultMaxKnownUsers bounds the user names an engine remembers as having
// logged in (Options.MaxKnownUsers): 16 bytes each, 1 MiB in all, held only
// when some scenario's filter has unless_user_seen_ok.
const DefaultMaxKnownUsers = 1 << 16

// knownProbe is how many consecutive slots a name may occupy from its home
// slot: an insert into a full window replaces the slot whose last success
// is oldest (least recently used), a lookup reads the whole window.
const knownProbe = 8

// knownUsers remembers the user names that logged in successfully (events
// of kind auth_success), for the filters with unless_user_seen_ok: an event
// whose user name did so recently is not a trap's catch. A name is
// remembered per family of services (the services list of the filter that
// asks, sorted; one family for a filter naming none), compared by its part
// before the last '@', ASCII case folded, as a 64-bit seeded hash with the
// time of its latest success.
//
// The table is a fixed array of slots allocated at Compile: learning and
// looking up never allocate, and its size never grows, whoever logs in.
// Only successful logins fill it, which an attacker cannot forge without
// the passwords. It lives in memory: a restart forgets it (Adopt carries
// it over a reload).
type knownUsers struct {
	slots []knownSlot // len a power of two
	mask  uint64
	seed  maphash.Seed
	ttl   int64 // the longest unless_user_seen_ok: older entries are free slots

	bySvc  map[string][]uint64 // service → families that include it
	anySvc []uint64            // families of filters that name no service
}

type knownSlot struct {
	h uint64 // 0: empty
	t int64  // Unix nanoseconds of the latest success seen
}

// setupKnown gives the engine a known-users table when some scenario's
// filter has unless_user_seen_ok, and points those filters at it.
func (e *Engine) setupKnown(size int) {
	var k *knownUsers
	for i := range e.scen {
		f := &e.scen[i].filter
		if f.unlessSeen == 0 {
			continue
		}
		if k == nil {
			if size <= 0 {
				size = DefaultMaxKnownUsers
			}
			n := knownProbe
			for n < size {
				n <<= 1
			}
			k = &knownUsers{slots: make([]knownSlot, n), mask: uint64(n - 1), seed: e.seed, bySvc: map[string][]uint64{}}
		}
		svcs := slices.Clone(f.services)
		slices.Sort(svcs)
		svcs = slices.Compact(svcs)
		f.family = familyHash(svcs)
		f.known = k
		k.ttl = max(k.ttl, f.unlessSeen)
		if len(svcs) == 0 {
			if !slices.Contains(k.anySvc, f.family) {
				k.anySvc = append(k.anySvc, f.family)
			}
		}
		for _, s := range svcs {
			if !slices.Contains(k.bySvc[s], f.family) {
				k.bySvc[s] = append(k.bySvc[s], f.family)
			}
		}
	}
	e.known = k
}

// learn remembers the user of ev, a successful login, in every family that
// includes its service.
func (k *knownUsers) learn(ev *event.Event) {
	if len(ev.User) == 0 {
		return
	}
	t := ev.Time.UnixNano()
	for _, fam := range k.bySvc[ev.Service] {
		k.put(k.key(fam, ev.User), t)
	}
	for _, fam := range k.anySvc {
		k.put(k.key(fam, ev.User), t)
	}
}

// seen reports whether user logged in successfully in family within ttl
// before now. A success logged later than now (lines out of order) counts.
func (k *knownUsers) seen(family uint64, user []byte, now, ttl int64) bool {
	if len(user) == 0 {
		return false
	}
	h := k.key(family, user)
	for i := range uint64(knownProbe) {
		s := &k.slots[(h+i)&k.mask]
		if s.h == h {
			return now-s.t <= ttl
		}
	}
	return false
}

// put records a success of the name hashed h at t: in its slot if it has
// one, else in the first free or expired slot of its window, else in place
// of the name whose latest success is oldest.
func (k *knownUsers) put(h uint64, t int64) {
	free, oldest := -1, -1
	for i := range uint64(knownProbe) {
		j := int((h + i) & k.mask)
		s := &k.slots[j]
		switch {
		case s.h == h:
			s.t = max(s.t, t)
			return
		case s.h == 0 || t-s.t > k.ttl:
			if free < 0 {
				free = j
			}
		case oldest < 0 || s.t < k.slots[oldest].t:
			oldest = j
		}
	}
	if free < 0 {
		free = oldest
	}
	k.slots[free] = knownSlot{h: h, t: t}
}

// familyHash names a sorted set of services (FNV-1a, unseeded: it must
// mean the same in an engine that adopts another's table).
func familyHash(svcs []string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range svcs {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff // a byte no service name holds: ["ab"] is not ["a", "b"]
		h *= 1099511628211
	}
	return h
}

// len counts the names remembered (tests).
func (k *knownUsers) len() int {
	n := 0
	for _, s := range k.slots {
		if s.h != 0 {
			n++
		}
	}
	return n
}

// key hashes family and the local part of user (up to its last '@'),
// ASCII case folded. It never returns 0 (an empty slot) and does not
// allocate.
func (k *knownUsers) key(family uint64, user []byte) uint64 {
	if i := bytes.LastIndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	var h maphash.Hash
	h.SetSeed(k.seed)
	var buf [64]byte
	binary.LittleEndian.PutUint64(buf[:8], family)
	h.Write(buf[:8])
	for len(user) > 0 {
		n := copy(buf[:], user)
		lowerInPlace(buf[:n])
		h.Write(buf[:n])
		user = user[n:]
	}
	return h.Sum64() | 1
}

// adoptKnown takes over old's remembered names (herd reload): the engines
// share a seed after Adopt, so the hashes keep their meaning.
func (e *Engine) adoptKnown(old *Engine) {
	if e.known == nil || old.known == nil {
		return
	}
	k := e.known
	k.seed = old.seed
	for _, s := range old.known.slots {
		if s.h != 0 {
			k.put(s.h, s.t)
		}
	}
}
