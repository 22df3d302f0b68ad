package blocklist

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// MemLog is a Log kept in memory: the listing and every change since a
// kept horizon. Tests and tools use it; the hub keeps its log in its
// database. Its methods are safe for concurrent use.
type MemLog struct {
	mu      sync.Mutex
	version uint64
	listed  map[netip.Prefix]bool
	changes []memChange // changes[i] made version base+i+1
	base    uint64      // the oldest version Since accepts
}

type memChange struct {
	p     netip.Prefix
	added bool
}

// NewMemLog returns an empty MemLog at version 0.
func NewMemLog() *MemLog { return &MemLog{listed: map[netip.Prefix]bool{}} }

// NewMemLogAt returns an empty MemLog at version base. A log kept in one
// process's memory starts at a base of its own (the start time in
// nanoseconds, say), so that a follower holding a version of another
// process's log gets a snapshot rather than wrong deltas.
func NewMemLogAt(base uint64) *MemLog {
	return &MemLog{listed: map[netip.Prefix]bool{}, version: base, base: base}
}

// List adds ps to the listing, one version per prefix that was not listed,
// and returns the new version.
func (l *MemLog) List(ps ...netip.Prefix) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		p = p.Masked()
		if !l.listed[p] {
			l.listed[p] = true
			l.version++
			l.changes = append(l.changes, memChange{p, true})
		}
	}
	return l.version
}

// Unlist removes ps from the listing, one version per prefix that was
// listed, and returns the new version.
func (l *MemLog) Unlist(ps ...netip.Prefix) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		p = p.Masked()
		if l.listed[p] {
			delete(l.listed, p)
			l.version++
			l.changes = append(l.changes, memChange{p, false})
		}
	}
	return l.version
}

// Forget drops the history up to version v: Since(from < v) then fails
// with ErrTooOld.
func (l *MemLog) Forget(v uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v = min(v, l.version)
	if v > l.base {
		l.changes = l.changes[v-l.base:]
		l.base = v
	}
}

// Snapshot implements Log.
func (l *MemLog) Snapshot(context.Context) (uint64, []netip.Prefix, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]netip.Prefix, 0, len(l.listed))
	for p := range l.listed {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return l.version, out, nil
}

// Since implements Log: the net changes after from.
func (l *MemLog) Since(_ context.Context, from uint64) (uint64, []netip.Prefix, []netip.Prefix, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < l.base || from > l.version {
		return 0, nil, nil, fmt.Errorf("memlog: since %d, history from %d to %d: %w", from, l.base, l.version, ErrTooOld)
	}
	if from >= l.version {
		return l.version, nil, nil, nil
	}
	net := map[netip.Prefix]bool{}
	for _, c := range l.changes[from-l.base:] {
		if prev, ok := net[c.p]; ok && prev != c.added {
			delete(net, c.p) // listed then unlisted (or back): no net change
			continue
		}
		net[c.p] = c.added
	}
	var added, removed []netip.Prefix
	for p, a := range net {
		if a {
			added = append(added, p)
		} else {
			removed = append(removed, p)
		}
	}
	return l.version, added, removed, nil
}

var _ Log = (*MemLog)(nil)
