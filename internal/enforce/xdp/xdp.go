// Package xdp drops packets from banned sources at the driver, before the
// kernel's network stack spends anything on them: an XDP program looks each
// IPv4 or IPv6 source up in an LPM trie of banned prefixes and drops on a
// hit, counting drops per CPU. It is an enforcer fed by the same decision
// changes as nftables (bans add prefixes, unbans and expiries remove them).
//
// The program is written with cilium/ebpf's asm package and loaded at run
// time, so building herd needs no C compiler and ships no object file.
// It is attached in generic (SKB) mode unless native mode is asked for.
package xdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/netns"
	"golang.org/x/sys/unix"
)

// ErrNotSupported is returned, wrapped, when the kernel will not load or
// attach the program here: no bpf(2) (EPERM without CAP_BPF and
// CAP_NET_ADMIN, ENOSYS without CONFIG_BPF_SYSCALL) or no XDP link support.
var ErrNotSupported = errors.New("xdp: eBPF/XDP not available")

// DefaultMaxEntries is the capacity of each trie (IPv4 and IPv6) when
// Options.MaxEntries is 0. The tries allocate per element, so a large
// capacity costs nothing until used.
const DefaultMaxEntries = 1 << 20

// Options configures a Filter.
type Options struct {
	Interfaces []string // the interfaces to attach to; at least one
	Native     bool     // attach in driver (native) mode instead of generic (SKB)
	MaxEntries uint32   // each trie's capacity; 0 = DefaultMaxEntries
	NetNS      int      // fd of the network namespace of the interfaces (0 = current); tests use it
}

var _ enforce.Enforcer = (*Filter)(nil)

// Filter is the XDP enforcer. Its methods are safe for concurrent use.
//
// The program and its maps live as long as the Filter: Close detaches the
// program, and the kernel frees the maps. (The nftables table is the
// enforcer that outlives the process; the XDP filter is a fast path in
// front of it.)
type Filter struct {
	mu    sync.Mutex
	coll  *ebpf.Collection
	ban4  *ebpf.Map
	ban6  *ebpf.Map
	drops *ebpf.Map
	links []link.Link
	max   uint32
	// in is what the tries hold, so that Reconcile deletes only what live
	// lacks and Stats counts entries without walking the kernel's tries.
	in map[netip.Prefix]struct{}
}

// Stats are a Filter's counters.
type Stats struct {
	Dropped4, Dropped6 uint64 // packets dropped, summed over CPUs
	Entries4, Entries6 int    // prefixes in each trie
}

// New loads the program and its maps and attaches it to every interface of
// o. The tries start empty: call Reconcile with the live decisions, as the
// agent does at start. It returns an error wrapping ErrNotSupported when
// the kernel refuses bpf(2) or XDP links.
func New(o Options) (*Filter, error) {
	if len(o.Interfaces) == 0 {
		return nil, errors.New("xdp: no interface to attach to")
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	f, err := load(o.MaxEntries)
	if err != nil {
		return nil, err
	}
	coll := f.coll
	flags := link.XDPGenericMode
	if o.Native {
		flags = link.XDPDriverMode
	}
	err = netns.Do(o.NetNS, func() error {
		for _, name := range o.Interfaces {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				return fmt.Errorf("xdp: interface %s: %w", name, err)
			}
			l, err := link.AttachXDP(link.XDPOptions{Program: coll.Programs[progName], Interface: ifc.Index, Flags: flags})
			if err != nil {
				return wrap("attach to "+name, err)
			}
			f.links = append(f.links, l)
		}
		return nil
	})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// load loads the program and its maps, attached nowhere.
func load(max uint32) (*Filter, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones
	// to the memory cgroup, where this does nothing.
	_ = rlimit.RemoveMemlock()
	coll, err := ebpf.NewCollection(spec(max))
	if err != nil {
		return nil, wrap("load program", err)
	}
	return &Filter{
		coll:  coll,
		ban4:  coll.Maps[mapBan4],
		ban6:  coll.Maps[mapBan6],
		drops: coll.Maps[mapDrops],
		max:   max,
		in:    map[netip.Prefix]struct{}{},
	}, nil
}

// Probe loads the program without attaching it and reports whether this
// kernel allows it: nil, or an error wrapping ErrNotSupported, or another.
func Probe() error {
	_ = rlimit.RemoveMemlock()
	coll, err := ebpf.NewCollection(spec(16))
	if err != nil {
		return wrap("load program", err)
	}
	coll.Close()
	return nil
}

func wrap(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("%w: %s: %w", ErrNotSupported, op, err)
	}
	return fmt.Errorf("xdp: %s: %w", op, err)
}

// Apply deletes c.Delete, then adds the scopes of c.Add's bans. As with
// nftables, simulated and non-ban decisions and those already expired at
// now are skipped; the tries do not expire entries by themselves: the
// decision set's expiry deletes them.
func (f *Filter) Apply(c event.Change, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range c.Delete {
		if err := f.del(norm(p)); err != nil {
			return err
		}
	}
	for i := range c.Add {
		if !enforceable(&c.Add[i], now) {
			continue
		}
		if err := f.put(norm(c.Add[i].Scope)); err != nil {
			return err
		}
	}
	return nil
}

// enforceable reports whether d is a ban to put in the tries at now.
func enforceable(d *event.Decision, now time.Time) bool {
	return d.Type == event.Ban && !d.Simulated && (d.Until.IsZero() || d.Until.After(now))
}

// Reconcile makes the tries hold exactly live's scopes: it adds what is
// missing before deleting what is no longer live, so no live ban is ever
// absent.
func (f *Filter) Reconcile(live []event.Decision, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := make(map[netip.Prefix]struct{}, len(live))
	for i := range live {
		if !enforceable(&live[i], now) {
			continue
		}
		p := norm(live[i].Scope)
		if !p.IsValid() {
			continue
		}
		want[p] = struct{}{}
		if err := f.put(p); err != nil {
			return err
		}
	}
	for p := range f.in {
		if _, ok := want[p]; !ok {
			if err := f.del(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// norm is p masked, with an IPv4-mapped IPv6 prefix turned into IPv4;
// the zero Prefix when p is invalid.
func norm(p netip.Prefix) netip.Prefix {
	q, ok := ipx.Normalize(p)
	if !ok {
		return netip.Prefix{}
	}
	return q
}

func (f *Filter) put(p netip.Prefix) error {
	if !p.IsValid() {
		return nil
	}
	var err error
	var one = uint32(1)
	if p.Addr().Is4() {
		err = f.ban4.Put(key4{uint32(p.Bits()), p.Addr().As4()}, one)
	} else {
		err = f.ban6.Put(key6{uint32(p.Bits()), p.Addr().As16()}, one)
	}
	if err != nil {
		return fmt.Errorf("xdp: add %s: %w", p, err)
	}
	f.in[p] = struct{}{}
	return nil
}

func (f *Filter) del(p netip.Prefix) error {
	if !p.IsValid() {
		return nil
	}
	var err error
	if p.Addr().Is4() {
		err = f.ban4.Delete(key4{uint32(p.Bits()), p.Addr().As4()})
	} else {
		err = f.ban6.Delete(key6{uint32(p.Bits()), p.Addr().As16()})
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("xdp: delete %s: %w", p, err)
	}
	delete(f.in, p)
	return nil
}

// Stats reads the drop counters (one bpf(2) call) and the tries' sizes.
func (f *Filter) Stats() (Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s Stats
	for p := range f.in {
		if p.Addr().Is4() {
			s.Entries4++
		} else {
			s.Entries6++
		}
	}
	if f.drops == nil {
		return s, errors.New("xdp: closed")
	}
	var per []uint64
	for slot, dst := range []*uint64{&s.Dropped4, &s.Dropped6} {
		if err := f.drops.Lookup(uint32(slot), &per); err != nil {
			return s, fmt.Errorf("xdp: read drop counters: %w", err)
		}
		for _, n := range per {
			*dst += n
		}
	}
	return s, nil
}

// Close detaches the program and releases the maps.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, l := range f.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("xdp: detach: %w", err))
		}
	}
	f.links = nil
	if f.coll != nil {
		f.coll.Close()
		f.coll, f.ban4, f.ban6, f.drops = nil, nil, nil, nil
	}
	return errors.Join(errs...)
}
