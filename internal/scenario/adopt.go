package scenario

import (
	"crypto/sha256"
	"encoding/json"

	"github.com/herd-ips/herd/internal/rules"
)

// SpecHash identifies what a scenario spec makes the engine do: a SHA-256 of
// every field but Pos, so that a rule moved within its file, or to another
// file, keeps its hash and a rule whose name, type, filter, capacity, leak,
// window, grouping, blackhole or remedy changed does not.
func SpecHash(sp *rules.ScenarioSpec) [32]byte {
	c := *sp
	c.Pos = rules.Pos{}
	// A spec is plain data (strings, numbers, durations, a *bool): it
	// always encodes, and encoding/json writes struct fields in order and
	// map keys sorted, so equal specs give equal bytes.
	b, err := json.Marshal(&c)
	if err != nil {
		panic("scenario: encoding a spec: " + err.Error())
	}
	return sha256.Sum256(b)
}

// Adoption is what Adopt carried over from the engine it replaced.
type Adoption struct {
	Kept    []string // scenarios whose spec is unchanged: their buckets carry on
	Fresh   []string // new or changed scenarios: they start with no bucket
	Dropped []string // scenarios of the old engine the new one lacks
	Buckets int      // live buckets carried over
	Evicted int      // buckets of kept scenarios left behind because MaxBuckets was reached
}

// Adopt carries over into e, a freshly compiled engine that has not poured
// yet, the live buckets of every scenario of old whose spec is identical
// (SpecHash) to one of e's, whatever its index; the buckets of changed,
// new and removed scenarios start empty (or end). e takes old's hash seeds
// so that distinct values and host groupings hashed before keep their
// meaning; old must not be used afterwards. Adopt costs one pass over old's
// slab and allocates the copies.
func (e *Engine) Adopt(old *Engine) Adoption {
	var ad Adoption
	e.seed, e.hostSeed, e.rng = old.seed, old.hostSeed, old.rng
	e.stats = old.stats
	e.adoptKnown(old)
	if e.view.uaLits != nil {
		e.view.uaSeed = old.seed
		clear(e.view.uaCache[:])
	}
	byHash := make(map[[32]byte]uint32, len(e.scen))
	for i := range e.scen {
		byHash[e.scen[i].spec] = uint32(i)
	}
	to := make([]uint32, len(old.scen)) // old index → new index, or freeSlot
	kept := make([]bool, len(e.scen))
	for j := range old.scen {
		to[j] = freeSlot
		if i, ok := byHash[old.scen[j].spec]; ok && !kept[i] {
			to[j] = i
			kept[i] = true
			ad.Kept = append(ad.Kept, e.scen[i].name)
			continue
		}
		ad.Dropped = append(ad.Dropped, old.scen[j].name)
	}
	for i := range e.scen {
		if !kept[i] {
			ad.Fresh = append(ad.Fresh, e.scen[i].name)
		}
	}
	for i := range old.slab {
		ob := &old.slab[i]
		if ob.key.scen == freeSlot || to[ob.key.scen] == freeSlot {
			continue
		}
		if len(e.slab) >= e.max {
			ad.Evicted++
			e.stats.Evicted++
			continue
		}
		os, ns := &old.scen[ob.key.scen], &e.scen[to[ob.key.scen]]
		nb := *ob
		nb.key.scen = to[ob.key.scen]
		nb.chunk = 0
		if ob.chunk != 0 {
			// Same spec, same stride: copy the bucket's ring of distinct
			// values into a chunk of its new scenario's pool.
			src := os.pool[int(ob.chunk-1)*os.stride:][:os.stride]
			ns.pool = append(ns.pool, src...)
			nb.chunk = uint32(len(ns.pool) / ns.stride)
		}
		e.index.put(e.index.hash(&nb.key), uint32(len(e.slab)))
		e.slab = append(e.slab, nb)
		ad.Buckets++
	}
	ad.Buckets += e.adoptNetworks(old, to)
	return ad
}
