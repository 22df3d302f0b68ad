package scenario

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// index maps a bucket's key to its slab slot. It is an open-addressing hash
// table with linear probing whose home slot depends on the key's group
// (address and host hash) only, not its scenario, so the buckets one event
// looks up for its several scenarios sit side by side in one or two cache
// lines of the table. Each slot holds the group's hash, the scenario and
// 1 + the slab slot (0 marks an empty slot): a lookup compares full keys
// only in the slab, where the bucket it finds is read anyway. A Go map of
// the same keys cost a control word, a key slot and then the slab, a cache
// miss each per scenario once the buckets outgrew the cache, which was a
// third of Pour's time.
//
// The hash is seeded per engine (wyhash's multiply-and-fold mixing of the
// group's words with secret constants), so sources an attacker chooses
// cannot aim at one probe sequence. The table is kept at most half full and
// deletion shifts the following entries back (no tombstones), so probe
// sequences stay short under churn.
type index struct {
	slots []slot
	mask  uint32
	n     int
	s     [4]uint64 // hash secrets
}

type slot struct {
	group uint32 // the key's group hash; its low bits are the home slot
	scen  uint32 // key.scen
	idx   uint32 // 1 + slab slot; 0: empty
	_     uint32
}

const minIndexSlots = 16

func newIndex(seed maphash.Seed) index {
	ix := index{slots: make([]slot, minIndexSlots), mask: minIndexSlots - 1}
	for i := range ix.s {
		ix.s[i] = maphash.Comparable(seed, i) | 1
	}
	return ix
}

func (ix *index) len() int { return ix.n }

// hash returns the hash of k's group: its address and host hash, not its
// scenario.
func (ix *index) hash(k *key) uint32 {
	a := binary.LittleEndian.Uint64(k.addr[:8])
	b := binary.LittleEndian.Uint64(k.addr[8:])
	h := mix(a^ix.s[0], b^ix.s[1])
	h = mix(h^ix.s[2], uint64(k.extra)^ix.s[3])
	return uint32(h ^ h>>32)
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// get returns the slab slot of k, whose group hash is h.
func (ix *index) get(slab []bucket, k *key, h uint32) (uint32, bool) {
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		s := &ix.slots[i]
		if s.idx == 0 {
			return 0, false
		}
		if s.group == h && s.scen == k.scen && slab[s.idx-1].key == *k {
			return s.idx - 1, true
		}
	}
}

// put records that k, of group hash h and not in the table, is in slab
// slot idx.
func (ix *index) put(k *key, h, idx uint32) {
	if 2*(ix.n+1) > len(ix.slots) {
		ix.grow()
	}
	ix.insert(slot{group: h, scen: k.scen, idx: idx + 1})
	ix.n++
}

func (ix *index) insert(s slot) {
	i := s.group & ix.mask
	for ix.slots[i].idx != 0 {
		i = (i + 1) & ix.mask
	}
	ix.slots[i] = s
}

func (ix *index) grow() {
	old := ix.slots
	ix.slots = make([]slot, 2*len(old))
	ix.mask = uint32(len(ix.slots) - 1)
	for _, s := range old {
		if s.idx != 0 {
			ix.insert(s)
		}
	}
}

// del removes the entry of slab slot idx, whose key's group hash is h; it
// must be in the table.
func (ix *index) del(h, idx uint32) {
	i := h & ix.mask
	for ix.slots[i].idx != idx+1 {
		i = (i + 1) & ix.mask
	}
	// Shift back each following entry of the run that may move: one whose
	// home slot is not cyclically within (i, j].
	for j := (i + 1) & ix.mask; ; j = (j + 1) & ix.mask {
		s := ix.slots[j]
		if s.idx == 0 {
			break
		}
		home := s.group & ix.mask
		if (j-home)&ix.mask >= (j-i)&ix.mask {
			ix.slots[i] = s
			i = j
		}
	}
	ix.slots[i] = slot{}
	ix.n--
}
