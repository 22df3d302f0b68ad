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
//
// A set's keys and stamps fill one 64-byte cache line, and its addresses
// are kept apart: finding an entry, or the one to overwrite, reads one
// line (the table outgrows the cache under many concurrent sessions).
type sessionTable struct {
	seed  maphash.Seed
	sets  []sessionSet
	addrs [][4]netip.Addr
	mask  uint64
	clock uint64
}

type sessionSet struct {
	key   [4]uint64 // the program's hash mixed with the pid (sessionTable.key)
	stamp [4]uint64 // 0: empty
}

func newSessionTable(max int) *sessionTable {
	n := 1
	for n*4 < max {
		n <<= 1
	}
	return &sessionTable{seed: maphash.MakeSeed(), sets: make([]sessionSet, n), addrs: make([][4]netip.Addr, n), mask: uint64(n - 1)}
}

// key returns the entry key of (prog, pid) and the index of its set. A
// numeric pid is taken exactly and any other hashed; the key is the
// program's hash xor the pid times an odd constant, one-to-one in the pid
// for a given program.
func (t *sessionTable) key(prog, pid []byte) (uint64, uint64) {
	h := maphash.Bytes(t.seed, prog)
	var id uint64
	if n, ok := atoi(pid, 18); ok {
		id = uint64(n)
	} else {
		id = maphash.Bytes(t.seed, pid) | 1<<63
	}
	k := h ^ id*0x9e3779b97f4a7c15
	mix := k * 0xff51afd7ed558ccd
	mix ^= mix >> 32
	return k, mix & t.mask
}

func (t *sessionTable) put(prog, pid []byte, a netip.Addr) {
	k, si := t.key(prog, pid)
	set := &t.sets[si]
	t.clock++
	victim := 0
	for i := range set.key {
		if set.stamp[i] != 0 && set.key[i] == k {
			victim = i
			break
		}
		if set.stamp[i] < set.stamp[victim] {
			victim = i
		}
	}
	set.key[victim], set.stamp[victim] = k, t.clock
	t.addrs[si][victim] = a
}

func (t *sessionTable) get(prog, pid []byte) netip.Addr {
	k, si := t.key(prog, pid)
	set := &t.sets[si]
	for i := range set.key {
		if set.stamp[i] != 0 && set.key[i] == k {
			return t.addrs[si][i]
		}
	}
	return netip.Addr{}
}
