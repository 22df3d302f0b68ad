package scenario

import (
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// The index agrees with a Go map through random inserts and deletes,
// across growth and the wrap-around of probe runs, small tables included.
func TestIndexAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, universe := range []int{8, 100, 5000} {
		ix := newIndex(maphash.MakeSeed())
		var slab []bucket
		var free []uint32
		ref := map[key]uint32{}
		keyOf := func(n int) key { // groups of up to four scenarios' buckets
			var k key
			k.addr[15], k.addr[14] = byte(n/4), byte(n>>10)
			k.scen = uint32(n % 4)
			return k
		}
		for step := range 50_000 {
			k := keyOf(r.IntN(universe))
			h := ix.hash(&k)
			idx, ok := ix.get(slab, &k, h)
			want, wok := ref[k]
			if ok != wok || ok && idx != want {
				t.Fatalf("universe %d step %d: get(%v) = %d, %v; want %d, %v", universe, step, k, idx, ok, want, wok)
			}
			switch {
			case ok && r.IntN(2) == 0:
				ix.del(h, idx)
				delete(ref, k)
				slab[idx].key.scen = freeSlot
				free = append(free, idx)
			case !ok:
				if n := len(free); n > 0 {
					idx = free[n-1]
					free = free[:n-1]
				} else {
					idx = uint32(len(slab))
					slab = append(slab, bucket{})
				}
				slab[idx].key = k
				ix.put(h, idx)
				ref[k] = idx
			}
			if ix.len() != len(ref) {
				t.Fatalf("universe %d step %d: len %d, want %d", universe, step, ix.len(), len(ref))
			}
		}
		for k, want := range ref {
			if idx, ok := ix.get(slab, &k, ix.hash(&k)); !ok || idx != want {
				t.Fatalf("universe %d: %v lost (%d, %v; want %d)", universe, k, idx, ok, want)
			}
		}
	}
}

// Dispatch by service and kind is only a shortcut: Pour visits exactly
// the scenarios whose whole filter accepts the event, in order, whatever
// services and kinds the filters name (several, none, shared).
func TestDispatchPoursWhereTheFiltersSay(t *testing.T) {
	specs := defaultLike()
	specs = append(specs,
		rules.ScenarioSpec{Name: "any-kind-ssh", Type: "trigger", Filter: rules.FilterSpec{Services: []string{"ssh"}}},
		rules.ScenarioSpec{Name: "mail-or-ssh", Type: "trigger", Filter: rules.FilterSpec{Kinds: []string{"auth_failure", "scan"}, Services: []string{"smtp", "ssh", "imap"}}},
		rules.ScenarioSpec{Name: "anything", Type: "trigger"},
		rules.ScenarioSpec{Name: "none-kind", Type: "trigger", Filter: rules.FilterSpec{Kinds: []string{"none", "abuse"}}},
		rules.ScenarioSpec{Name: "imap-only", Type: "trigger", Filter: rules.FilterSpec{Services: []string{"imap"}}},
	)
	e := mustCompile(t, specs, Options{})
	services := []string{"ssh", "http", "smtp", "imap", "ftp", ""}
	n := 0
	for _, svc := range services {
		for k := range event.Kind(numKinds) {
			for _, path := range []string{"/", "/.env"} {
				ev := httpReq("192.0.2.9", t0.Add(time.Duration(n)*time.Hour), "GET", path, 404, "sqlmap")
				ev.Service, ev.Kind, ev.User = svc, k, []byte("u")
				n++
				var want []int
				for i := range e.scen {
					if acceptsKind(&specs[i], k) && e.scen[i].filter.match(ev, &view{lits: e.view.lits, uaLits: e.view.uaLits, uaSeed: e.view.uaSeed, uaCache: new([1024]uaEntry)}) {
						want = append(want, i)
					}
				}
				got, _ := e.Pour(ev, nil, nil)
				if !equalInts(got, want) {
					t.Errorf("service %q kind %v path %s: poured %v, want %v", svc, k, path, got, want)
				}
			}
		}
	}
}

func acceptsKind(sp *rules.ScenarioSpec, k event.Kind) bool {
	if len(sp.Filter.Kinds) == 0 {
		return k != event.KindNone && k.String() != "invalid"
	}
	for _, n := range sp.Filter.Kinds {
		if n == k.String() {
			return true
		}
	}
	return false
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every kind a filter can name fits the dispatch lists.
func TestKindsFitDispatch(t *testing.T) {
	for k := range 256 {
		if event.Kind(k).String() != "invalid" && k >= numKinds {
			t.Fatalf("kind %v (%d) is beyond the dispatch lists (%d)", event.Kind(k), k, numKinds)
		}
	}
}

// Buckets are found again among many sources, IPv4 and IPv6, after
// evictions and sweeps have deleted others from the index.
func TestIndexThroughEvictionAndSweep(t *testing.T) {
	e := mustCompile(t, one("s", "leaky", 3, time.Minute), Options{MaxBuckets: 500})
	var alerts []event.Alert
	var poured []int
	src := func(i int) netip.Addr {
		if i%2 == 0 {
			return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		}
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(i >> 8), 7: byte(i)})
	}
	at := t0
	for range 4 {
		for i := range 2000 {
			at = at.Add(time.Millisecond)
			ev := sshFail("192.0.2.1", at, "root")
			ev.Source = src(i)
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		}
	}
	if live := e.Stats().Live; live > 500 || int(live) != countLive(e) {
		t.Fatalf("live %d (slab holds %d), max 500", live, countLive(e))
	}
	// Every live bucket is found by its key.
	for i := range e.slab {
		b := &e.slab[i]
		if b.key.scen == freeSlot {
			continue
		}
		if idx, ok := e.index.get(e.slab, &b.key, e.index.hash(&b.key)); !ok || idx != uint32(i) {
			t.Fatalf("bucket %d not found by its key (%d, %v)", i, idx, ok)
		}
	}
	e.Sweep(at.Add(time.Hour))
	if live := e.Stats().Live; live != 0 {
		t.Fatalf("%d live after the sweep", live)
	}
}

func countLive(e *Engine) int {
	n := 0
	for i := range e.slab {
		if e.slab[i].key.scen != freeSlot {
			n++
		}
	}
	return n
}
