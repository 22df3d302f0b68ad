package scenario

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// index maps a bucket's key to its slab slot. It is an open-addressing hash
// table with linear probing whose slots are 8 bytes: the high 32 bits of the
// key's seeded hash, then 1 + the slab slot (0 marks an empty slot). A
// lookup reads one or two adjacent slots and compares full keys only in the
// slab, where the bucket it finds is read anyway; a Go map of the same keys
// costs a control word, a key slot and then the slab, a cache miss each once
// the buckets outgrow the cache, which was a third of Pour's time.
//
// The hash is seeded per engine (wyhash's multiply-and-fold mixing of the
// key's three words with secret constants), so sources an attacker chooses
// cannot aim at one probe sequence. The table is kept at most half full and
// deletion shifts the following entries back (no tombstones), so probe
// sequences stay short under churn.
type index struct {
	slots []uint64
	mask  uint64
	n     int
	s     [4]uint64 // hash secrets
}

const minIndexSlots = 16

func newIndex(seed maphash.Seed) index {
	ix := index{slots: make([]uint64, minIndexSlots), mask: minIndexSlots - 1}
	for i := range ix.s {
		ix.s[i] = maphash.Comparable(seed, i) | 1
	}
	return ix
}

func (ix *index) len() int { return ix.n }

// hash returns the 32 bits of k's hash that the table keeps: the home slot
// is its low bits.
func (ix *index) hash(k *key) uint32 {
	a := binary.LittleEndian.Uint64(k.addr[:8])
	b := binary.LittleEndian.Uint64(k.addr[8:])
	c := uint64(k.extra)<<32 | uint64(k.scen)
	h := mix(a^ix.s[0], b^ix.s[1])
	h = mix(h^ix.s[2], c^ix.s[3])
	return uint32(h ^ h>>32)
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// get returns the slab slot of k.
func (ix *index) get(slab []bucket, k *key, h uint32) (uint32, bool) {
	for i := uint64(h) & ix.mask; ; i = (i + 1) & ix.mask {
		s := ix.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == h {
			if idx := uint32(s) - 1; slab[idx].key == *k {
				return idx, true
			}
		}
	}
}

// put records that the key of hash h, which is not in the table, is in
// slab slot idx.
func (ix *index) put(h, idx uint32) {
	if 2*(ix.n+1) > len(ix.slots) {
		ix.grow()
	}
	ix.insert(h, idx)
	ix.n++
}

func (ix *index) insert(h, idx uint32) {
	i := uint64(h) & ix.mask
	for ix.slots[i] != 0 {
		i = (i + 1) & ix.mask
	}
	ix.slots[i] = uint64(h)<<32 | uint64(idx+1)
}

func (ix *index) grow() {
	old := ix.slots
	ix.slots = make([]uint64, 2*len(old))
	ix.mask = uint64(len(ix.slots) - 1)
	for _, s := range old {
		if s != 0 {
			ix.insert(uint32(s>>32), uint32(s)-1)
		}
	}
}

// del removes the entry of the key of hash h held in slab slot idx, which
// must be in the table.
func (ix *index) del(h, idx uint32) {
	want := uint64(idx + 1)
	i := uint64(h) & ix.mask
	for ix.slots[i]&0xffffffff != want {
		i = (i + 1) & ix.mask
	}
	// Shift back each following entry of the run that may move: one whose
	// home slot is not cyclically within (i, j].
	for j := (i + 1) & ix.mask; ; j = (j + 1) & ix.mask {
		s := ix.slots[j]
		if s == 0 {
			break
		}
		home := uint64(s>>32) & ix.mask
		if (j-home)&ix.mask >= (j-i)&ix.mask {
			ix.slots[i] = s
			i = j
		}
	}
	ix.slots[i] = 0
	ix.n--
}
