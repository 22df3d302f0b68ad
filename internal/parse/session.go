package parse

import (
	"hash/maphash"
	"net/netip"
)

// sessionTable remembers the last source address seen per (program, pid):
// a fixed-size, 4-way set-associative table that overwrites its least
// recently written entry, so memory stays bounded whatever the input and
// nothing is allocated after construction. Keys are seeded hashes, so an
// attacker who can choose program names cannot aim at a collision.
type sessionTable struct {
	seed  maphash.Seed
	sets  [][4]sessionEntry
	mask  uint64
	clock uint64
}

type sessionEntry struct {
	prog, pid uint64
	stamp     uint64 // 0: empty
	addr      netip.Addr
	// aux is, for a pid session, the hash of the user the connection
	// first failed for (session: user); for a connection id (session:
	// conn), a waiting event: its rule+1 << 40 | its Unix second. 0: none.
	aux uint64
}

func newSessionTable(max int) *sessionTable {
	n := 1
	for n*4 < max {
		n <<= 1
	}
	return &sessionTable{seed: maphash.MakeSeed(), sets: make([][4]sessionEntry, n), mask: uint64(n - 1)}
}

func (t *sessionTable) key(prog, pid []byte) (uint64, uint64, *[4]sessionEntry) {
	return t.keyOf(maphash.Bytes(t.seed, prog), pid, false)
}

// connKey is key for a connection id (session: conn): its own key space,
// apart from the program's pids.
func (t *sessionTable) connKey(prog, conn []byte) (uint64, uint64, *[4]sessionEntry) {
	return t.keyOf(^maphash.Bytes(t.seed, prog), conn, true)
}

func (t *sessionTable) keyOf(h uint64, pid []byte, hashed bool) (uint64, uint64, *[4]sessionEntry) {
	var id uint64
	if n, ok := atoi(pid, 18); ok && !hashed {
		id = uint64(n)
	} else {
		id = maphash.Bytes(t.seed, pid) | 1<<63
	}
	mix := (h ^ id*0x9e3779b97f4a7c15) * 0xff51afd7ed558ccd
	mix ^= mix >> 32
	return h, id, &t.sets[mix&t.mask]
}

func (t *sessionTable) put(prog, pid []byte, a netip.Addr) {
	h, id, set := t.key(prog, pid)
	t.store(h, id, set, a)
}

// store records a for the entry (h, id) of set.
func (t *sessionTable) store(h, id uint64, set *[4]sessionEntry, a netip.Addr) {
	t.clock++
	victim := 0
	for i := range set {
		e := &set[i]
		if e.stamp != 0 && e.prog == h && e.pid == id {
			victim = i
			break
		}
		if e.stamp < set[victim].stamp {
			victim = i
		}
	}
	var aux uint64
	if e := &set[victim]; e.stamp != 0 && e.prog == h && e.pid == id && e.addr == a {
		aux = e.aux // the same connection: keep what it said
	}
	set[victim] = sessionEntry{prog: h, pid: id, stamp: t.clock, addr: a, aux: aux}
}

// userSwitch compares user, named by a failure (failed) or a success of the
// connection (prog, pid) from a, with the user the connection first failed
// for, which a failure records. It reports a failure for another user, or a
// success after failures for another user: one connection trying several
// names. A connection is its process and its address, so that a reused pid
// never carries one client's names over to another; the address is the
// line's own, read by the rule, and the names only decide what the event of
// that address is.
func (t *sessionTable) userSwitch(prog, pid []byte, a netip.Addr, user []byte, failed bool) bool {
	h, id, set := t.key(prog, pid)
	for i := range set {
		e := &set[i]
		if e.stamp == 0 || e.prog != h || e.pid != id || e.addr != a {
			continue
		}
		u := maphash.Bytes(t.seed, user) | 1
		if e.aux == 0 {
			if failed {
				e.aux = u
			}
			return false
		}
		return e.aux != u
	}
	return false
}

func (t *sessionTable) get(prog, pid []byte) netip.Addr {
	h, id, set := t.key(prog, pid)
	return t.load(h, id, set)
}

func (t *sessionTable) load(h, id uint64, set *[4]sessionEntry) netip.Addr {
	for i := range set {
		if e := &set[i]; e.stamp != 0 && e.prog == h && e.pid == id {
			return e.addr
		}
	}
	return netip.Addr{}
}

// putConn records a for the connection id conn of prog, and getConn returns
// what was recorded (session: conn).
func (t *sessionTable) putConn(prog, conn []byte, a netip.Addr) {
	h, id, set := t.connKey(prog, conn)
	t.store(h, id, set, a)
}

func (t *sessionTable) getConn(prog, conn []byte) netip.Addr {
	h, id, set := t.connKey(prog, conn)
	return t.load(h, id, set)
}

// setPending leaves the event of rule waiting, stamped at (Unix seconds),
// for the connection id conn of prog, whose address is not known yet.
func (t *sessionTable) setPending(prog, conn []byte, rule int, at int64) {
	h, id, set := t.connKey(prog, conn)
	t.store(h, id, set, netip.Addr{})
	for i := range set {
		if e := &set[i]; e.stamp != 0 && e.prog == h && e.pid == id {
			e.aux = uint64(rule+1)<<40 | uint64(at)&(1<<40-1)
			return
		}
	}
}

// takePending returns and forgets the event waiting for the connection id
// conn of prog: its rule and Unix second.
func (t *sessionTable) takePending(prog, conn []byte) (rule int, at int64, ok bool) {
	h, id, set := t.connKey(prog, conn)
	for i := range set {
		e := &set[i]
		if e.stamp == 0 || e.prog != h || e.pid != id || e.aux == 0 {
			continue
		}
		rule, at = int(e.aux>>40)-1, int64(e.aux&(1<<40-1))
		e.aux = 0
		return rule, at, true
	}
	return 0, 0, false
}
