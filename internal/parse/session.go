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
}

func newSessionTable(max int) *sessionTable {
	n := 1
	for n*4 < max {
		n <<= 1
	}
	return &sessionTable{seed: maphash.MakeSeed(), sets: make([][4]sessionEntry, n), mask: uint64(n - 1)}
}

func (t *sessionTable) key(prog, pid []byte) (uint64, uint64, *[4]sessionEntry) {
	h := maphash.Bytes(t.seed, prog)
	var id uint64
	if n, ok := atoi(pid, 18); ok {
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
	set[victim] = sessionEntry{prog: h, pid: id, stamp: t.clock, addr: a}
}

func (t *sessionTable) get(prog, pid []byte) netip.Addr {
	h, id, set := t.key(prog, pid)
	for i := range set {
		if e := &set[i]; e.stamp != 0 && e.prog == h && e.pid == id {
			return e.addr
		}
	}
	return netip.Addr{}
}
