// Package nft keeps herd's nftables table in step with the live decisions.
//
// The table (inet family, "herd" by default) holds four sets and one or two
// base chains:
//
//	table inet herd {
//		set ban4    { type ipv4_addr; flags timeout; }
//		set ban6    { type ipv6_addr; flags timeout; }
//		set ranges4 { type ipv4_addr; flags interval,timeout; }
//		set ranges6 { type ipv6_addr; flags interval,timeout; }
//		chain input {
//			type filter hook input priority -10; policy accept;
//			ip saddr @ban4 counter drop
//			ip6 saddr @ban6 counter drop
//			ip saddr @ranges4 counter drop
//			ip6 saddr @ranges6 counter drop
//		}
//		chain forward { ... the same rules, hook forward, when Options.Forward ... }
//	}
//
// Single addresses (/32, /128) go to the hash sets, where the kernel expires
// each element itself and adding one costs a few microseconds whatever the
// set's size. Shorter prefixes go to the interval sets, which reject
// overlapping elements: the Firewall keeps the prefixes it has put there and
// rewrites the whole (small) interval set, merged, when one changes.
//
// Every change of up to 65,536 addresses is one netlink batch, so the kernel
// applies it atomically; a larger one is committed in batches of that size,
// which lets the kernel grow its hash table between them (see commitChunk).
// A Reconcile of more than that loads the other set of each hash set's pair
// (ban4b for ban4, ban6b for ban6, and back) and then points the rules at
// it in one transaction, so that no live ban is ever missing.
package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
)

// ErrNotSupported is returned, wrapped, when nftables cannot be programmed
// here: no CAP_NET_ADMIN, or a kernel without nf_tables. Callers fall back to
// a dry run.
var ErrNotSupported = errors.New("nft: nftables not available")

// DefaultTable is the table name used when Options.Table is empty.
const DefaultTable = "herd"

// Priority is the hook priority of herd's base chains: before the usual
// filter chains (priority 0), so that another ruleset's accept cannot let a
// banned source through first, and after conntrack (-200).
const Priority = -10

// Set names inside the table.
const (
	setBan4    = "ban4"
	setBan6    = "ban6"
	setRanges4 = "ranges4"
	setRanges6 = "ranges6"

	// A Reconcile of more than commitChunk addresses loads them into the
	// other hash set of the pair and then points the rules at it: the hash
	// sets are named ban4 or ban4b, ban6 or ban6b.
	setBan4Alt = "ban4b"
	setBan6Alt = "ban6b"
)

// otherName is the other name of a hash set's pair.
func otherName(name string) string {
	switch name {
	case setBan4:
		return setBan4Alt
	case setBan4Alt:
		return setBan4
	case setBan6:
		return setBan6Alt
	}
	return setBan6
}

// canonicalName is the name a set is reported under: ban4b as ban4.
func canonicalName(name string) string {
	switch name {
	case setBan4Alt:
		return setBan4
	case setBan6Alt:
		return setBan6
	}
	return name
}

// Options configures a Firewall. The zero value programs table inet herd in
// the current network namespace, input hook only.
type Options struct {
	Table   string // default "herd"; family inet
	Forward bool   // also drop in the forward hook (routers, container hosts)
	NetNS   int    // fd of a network namespace to program (0 = current); tests use it
}

var _ enforce.Enforcer = (*Firewall)(nil)

// Firewall programs herd's nftables table. Its methods are safe for
// concurrent use; each holds the Firewall for one netlink round trip.
type Firewall struct {
	mu      sync.Mutex
	conn    *nftables.Conn
	table   *nftables.Table
	ban4    *nftables.Set
	ban6    *nftables.Set
	ranges4 *nftables.Set
	ranges6 *nftables.Set
	netns   int  // Options.NetNS, to reconnect
	forward bool // the forward chain is there
	destroy bool // the kernel knows "destroy element" (Linux 6.3+)

	// split lets the Apply in progress commit every commitChunk elements;
	// pending counts the elements queued since the last commit.
	split   bool
	pending int

	// The prefixes (shorter than a single address) in the interval sets,
	// with their expiry (zero: none). Only Apply and Reconcile change them.
	r4, r6 map[netip.Prefix]time.Time
}

// New creates herd's table, its sets and chains in the namespace o.NetNS, or
// brings an existing table back to this shape: the chains' rules are
// rewritten, the sets' elements are kept. It returns an error wrapping
// ErrNotSupported when nftables cannot be used here.
//
// The Firewall starts without knowledge of the prefixes already in the
// interval sets: call Reconcile with the live decisions before Apply, as the
// agent does at start.
func New(o Options) (*Firewall, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	conn, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(o.NetNS))
	if err != nil {
		return nil, wrap("connect", err)
	}
	f := &Firewall{
		conn:  conn,
		netns: o.NetNS,
		table: &nftables.Table{Name: o.Table, Family: nftables.TableFamilyINet},
		r4:    map[netip.Prefix]time.Time{},
		r6:    map[netip.Prefix]time.Time{},
	}
	if err := f.setup(o.Forward); err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	return f, nil
}

func (f *Firewall) setup(forward bool) error {
	c := f.conn
	hadForward, err := f.hasChain("forward")
	if err != nil {
		return err
	}

	name4, name6, stale, err := f.currentHashSets()
	if err != nil {
		return err
	}
	c.AddTable(f.table)
	f.ban4 = f.hashSet(name4)
	f.ban6 = f.hashSet(name6)
	f.ranges4 = &nftables.Set{Table: f.table, Name: setRanges4, KeyType: nftables.TypeIPAddr, HasTimeout: true, Interval: true}
	f.ranges6 = &nftables.Set{Table: f.table, Name: setRanges6, KeyType: nftables.TypeIP6Addr, HasTimeout: true, Interval: true}
	for _, s := range []*nftables.Set{f.ban4, f.ban6, f.ranges4, f.ranges6} {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("nft: set %s: %w", s.Name, err)
		}
	}
	f.forward = forward
	f.chain("input", nftables.ChainHookInput)
	if forward {
		f.chain("forward", nftables.ChainHookForward)
	} else if hadForward {
		c.DelChain(&nftables.Chain{Table: f.table, Name: "forward"})
	}
	// The other set of a pair, left by a large Reconcile that did not
	// finish: the rules no longer refer to it.
	for _, name := range stale {
		c.DelSet(&nftables.Set{Table: f.table, Name: name})
	}
	if err := c.Flush(); err != nil {
		return wrap("create table "+f.table.Name, err)
	}

	// Probe once for "destroy element", which deletes without failing on an
	// element that is gone (expired, say). Older kernels refuse the message;
	// Apply then adds each element before deleting it, which is the
	// portable way to delete whether or not it is there.
	if err := c.SetDestroyElements(f.ban4, []nftables.SetElement{{Key: make([]byte, 4)}}); err == nil {
		f.destroy = c.Flush() == nil
	}
	return nil
}

// hashSet describes the single-address set called name (ban4, ban4b, ...).
func (f *Firewall) hashSet(name string) *nftables.Set {
	kt := nftables.TypeIPAddr
	if canonicalName(name) == setBan6 {
		kt = nftables.TypeIP6Addr
	}
	return &nftables.Set{Table: f.table, Name: name, KeyType: kt, HasTimeout: true}
}

// currentHashSets returns the names of the hash sets in use, and those of
// the pair's other sets that are in the kernel and must go. In use is the
// set the input chain's rules look up, else the only one there, else ban4
// and ban6.
func (f *Firewall) currentHashSets() (name4, name6 string, stale []string, err error) {
	name4, name6 = setBan4, setBan6
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", "", nil, wrap("list tables", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == f.table.Name }) {
		return name4, name6, nil, nil
	}
	sets, err := f.conn.GetSets(f.table)
	if err != nil {
		return "", "", nil, wrap("list sets", err)
	}
	have := map[string]bool{}
	for _, s := range sets {
		have[s.Name] = true
	}
	used := map[string]bool{}
	if ok, err := f.hasChain("input"); err != nil {
		return "", "", nil, err
	} else if ok {
		rules, err := f.conn.GetRules(f.table, &nftables.Chain{Table: f.table, Name: "input"})
		if err != nil {
			return "", "", nil, wrap("list rules", err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if l, ok := e.(*expr.Lookup); ok {
					used[l.SetName] = true
				}
			}
		}
	}
	pick := func(a string) string {
		b := otherName(a)
		switch {
		case have[a] && have[b]:
			if used[b] && !used[a] {
				a, b = b, a
			}
			stale = append(stale, b)
		case have[b]:
			a = b
		}
		return a
	}
	name4, name6 = pick(setBan4), pick(setBan6)
	return name4, name6, stale, nil
}

// chain adds (or empties) a base chain on hook h and writes the drop rules.
func (f *Firewall) chain(name string, h *nftables.ChainHook) {
	c := f.conn
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name:     name,
		Table:    f.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  h,
		Priority: nftables.ChainPriorityRef(Priority),
		Policy:   &policy,
	})
	c.FlushChain(ch)
	for _, s := range []*nftables.Set{f.ban4, f.ban6, f.ranges4, f.ranges6} {
		c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: dropRule(s)})
	}
}

// dropRule is `ip saddr @s counter drop` (or ip6 for an IPv6 set). In an inet
// table the address family must be checked before loading the source.
func dropRule(s *nftables.Set) []expr.Any {
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if s.KeyType.Bytes == 16 {
		proto, off, n = unix.NFPROTO_IPV6, 8, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func (f *Firewall) hasChain(name string) (bool, error) {
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, wrap("list chains", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == f.table.Name && ch.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// Apply makes one change to the kernel's sets in one netlink batch (which the
// library splits into messages the kernel accepts; the kernel commits them as
// one transaction). A change of more than commitChunk addresses is committed
// in transactions of commitChunk, deletes before adds, which loads a large
// change about twice as fast (see commitChunk); if one of them fails, those
// before it stay applied. Each added element expires after Until-now; decisions
// already expired, simulated ones and those that are not bans are skipped, and
// a zero Until means no expiry. Single addresses go to the hash sets; shorter
// prefixes to the interval sets, whose merged content is rewritten when it
// changes. Deleting what the kernel does not hold (it expired) is not an
// error. On error, the failed transaction leaves the kernel unchanged.
//
// On kernels before 6.10, adding an address already in a set leaves its
// expiry as it was; delete and add it in one Change to replace it.
func (f *Firewall) Apply(c event.Change, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.split = true
	defer func() { f.split = false }()
	return f.apply(c.Add, c.Delete, now, false)
}

// Reconcile makes the kernel hold exactly the bans in live, replacing whatever
// the sets held, without a moment where a live ban is absent from the
// kernel. The agent calls it at start, before reading new lines.
//
// Up to commitChunk live single addresses, that is one transaction that
// empties the sets and loads them. Beyond, the addresses are loaded into the
// other hash set of each pair (ban4b for ban4, and back) in transactions of
// commitChunk, which lets the kernel grow its table between them (see
// commitChunk), while the rules still look up the old sets; one last
// transaction points the rules at the new sets, rewrites the interval sets
// and deletes the old hash sets. Every element then carries the timeout of
// its decision. If a transaction fails the old sets stay in use, unchanged
// but for the interval sets, which only the last transaction touches.
//
// The rules' counters start again from zero at that switch.
func (f *Firewall) Reconcile(live []event.Decision, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.split = true
	defer func() { f.split = false }()
	n := 0
	for _, d := range live {
		if d.Scope.IsSingleIP() {
			n++
		}
	}
	if n <= commitChunk {
		return f.apply(live, nil, now, true)
	}
	return f.swap(live, now)
}

// swap is a large Reconcile: see there.
func (f *Firewall) swap(live []event.Decision, now time.Time) error {
	c := f.conn
	old4, old6 := f.ban4, f.ban6
	n4, n6 := f.hashSet(otherName(old4.Name)), f.hashSet(otherName(old6.Name))
	for _, s := range []*nftables.Set{n4, n6} {
		// Left by a swap that failed, it may hold anything.
		if err := c.AddSet(s, nil); err != nil {
			return f.abandon(fmt.Errorf("nft: set %s: %w", s.Name, err))
		}
		c.FlushSet(s)
	}
	f.ban4, f.ban6 = n4, n6
	err := f.apply(live, nil, now, true, func() {
		f.chain("input", nftables.ChainHookInput)
		if f.forward {
			f.chain("forward", nftables.ChainHookForward)
		}
		f.conn.DelSet(old4)
		f.conn.DelSet(old6)
	})
	if err != nil {
		f.ban4, f.ban6 = old4, old6
		// The old sets are still in use; the new ones go now if they
		// can, else at the next swap or New.
		c = f.conn
		c.DelSet(n4)
		c.DelSet(n6)
		if c.Flush() != nil {
			_ = f.abandon(nil)
		}
	}
	return err
}

// apply queues del and add (and, with reset, empties the sets first), then
// last, queues whatever each of last does, and commits.
func (f *Firewall) apply(add []event.Decision, del []netip.Prefix, now time.Time, reset bool, last ...func()) error {
	c := f.conn
	f.pending = 0
	r4, r6 := f.r4, f.r6
	if reset {
		r4, r6 = map[netip.Prefix]time.Time{}, map[netip.Prefix]time.Time{}
		c.FlushSet(f.ban4)
		c.FlushSet(f.ban6)
	} else {
		r4, r6 = cloneMap(r4), cloneMap(r6)
	}
	dirty4, dirty6 := reset, reset

	// Deletes first. A prefix may come from outside (the CLI, the API): mask
	// and unmap it as ipx does.
	del4, del6 := f.queue(f.ban4, opDelete, len(del)), f.queue(f.ban6, opDelete, len(del))
	for _, p := range del {
		p, ok := ipx.Normalize(p)
		if !ok {
			continue
		}
		switch a := p.Addr(); {
		case p.IsSingleIP() && a.Is4():
			del4.push(a, 0)
		case p.IsSingleIP():
			del6.push(a, 0)
		case a.Is4():
			if _, ok := r4[p]; ok {
				delete(r4, p)
				dirty4 = true
			}
		default:
			if _, ok := r6[p]; ok {
				delete(r6, p)
				dirty6 = true
			}
		}
	}
	del4.flush()
	del6.flush()

	add4, add6 := f.queue(f.ban4, opAdd, len(add)), f.queue(f.ban6, opAdd, len(add))
	for _, d := range add {
		if d.Type != event.Ban || d.Simulated {
			continue
		}
		p, ok := ipx.Normalize(d.Scope)
		if !ok {
			continue
		}
		var timeout time.Duration
		if !d.Until.IsZero() {
			// Sub saturates at about 292 years, which the kernel
			// accepts (it refuses from about 584).
			timeout = d.Until.Sub(now)
			if timeout < time.Millisecond { // the kernel counts in milliseconds
				continue
			}
		}
		switch a := p.Addr(); {
		case p.IsSingleIP() && a.Is4():
			add4.push(a, timeout)
		case p.IsSingleIP():
			add6.push(a, timeout)
		case a.Is4():
			r4[p] = d.Until
			dirty4 = true
		default:
			r6[p] = d.Until
			dirty6 = true
		}
	}
	add4.flush()
	add6.flush()
	for _, q := range []*queue{del4, del6, add4, add6} {
		if q.err != nil {
			return f.abandon(q.err)
		}
	}
	var k keyBuf
	if dirty4 {
		if err := f.rewriteRanges(&k, f.ranges4, r4, true, now); err != nil {
			return f.abandon(err)
		}
	}
	if dirty6 {
		if err := f.rewriteRanges(&k, f.ranges6, r6, false, now); err != nil {
			return f.abandon(err)
		}
	}
	for _, fn := range last {
		fn()
	}
	if err := c.Flush(); err != nil {
		return wrap("apply", err)
	}
	if dirty4 {
		f.r4 = r4
	}
	if dirty6 {
		f.r6 = r6
	}
	return nil
}

// abandon drops the batch being built after err: the library has no way to
// discard queued messages, so the connection is replaced by a fresh one. It
// returns err.
func (f *Firewall) abandon(err error) error {
	_ = f.conn.CloseLasting()
	conn, cerr := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(f.netns))
	if cerr != nil {
		return errors.Join(err, wrap("reconnect", cerr))
	}
	f.conn = conn
	return err
}

// Operations of a queue.
const (
	opAdd = iota
	opDelete
)

// queueChunk is how many elements a queue hands to the library at a time:
// about one netlink message's worth. Queuing in chunks keeps the memory of a
// million-element Apply to the encoded messages, not a SetElement each.
const queueChunk = 2048

// commitChunk is how many elements a large Apply commits per transaction.
// The kernel grows a hash set's table in a worker that, on a kernel without
// preemption, cannot run on the sending CPU until the batch is done: one
// batch of a million additions keeps inserting into a table far too small
// (2.3-2.6 s of kernel time here), while transactions of 65,536 let it grow
// between them (1.0-1.1 s).
const commitChunk = 65536

// queue collects the elements of one operation on one set and passes them to
// the connection's pending batch in chunks.
type queue struct {
	f     *Firewall
	set   *nftables.Set
	op    int
	elems []nftables.SetElement
	keys  keyBuf
	size  int   // capacity to allocate on the first push
	err   error // the first error; later pushes are dropped
}

// queue returns a queue for op on s, expecting at most n elements.
func (f *Firewall) queue(s *nftables.Set, op, n int) *queue {
	return &queue{f: f, set: s, op: op, size: min(n, queueChunk)}
}

func (q *queue) push(a netip.Addr, timeout time.Duration) {
	if q.elems == nil {
		q.elems = make([]nftables.SetElement, 0, q.size)
		q.keys = make(keyBuf, 0, 16*q.size)
	}
	q.elems = append(q.elems, q.keys.elem(a, timeout))
	if len(q.elems) == queueChunk {
		q.flush()
	}
}

// flush passes the collected elements on. The library encodes them at once,
// so the keys' storage is free for the next chunk.
func (q *queue) flush() {
	if len(q.elems) == 0 || q.err != nil {
		return
	}
	c := q.f.conn
	var err error
	switch {
	case q.op == opAdd:
		err = c.SetAddElements(q.set, q.elems)
	case q.f.destroy:
		err = c.SetDestroyElements(q.set, q.elems)
	default:
		// Adding an element that is there is not an error (no
		// NLM_F_EXCL), so add-then-delete removes it whether or not it
		// was there.
		if err = c.SetAddElements(q.set, q.elems); err == nil {
			err = c.SetDeleteElements(q.set, q.elems)
		}
	}
	if err == nil && q.f.split {
		if q.f.pending += len(q.elems); q.f.pending >= commitChunk {
			q.f.pending = 0
			if err = c.Flush(); err != nil {
				err = wrap("commit", err)
			}
		}
	}
	if err != nil {
		q.err = fmt.Errorf("nft: queue for %s: %w", q.set.Name, err)
	}
	q.elems, q.keys = q.elems[:0], q.keys[:0]
}

// rewriteRanges queues a flush of interval set s and the load of ranges,
// merged into disjoint pieces. Expired prefixes are dropped from ranges.
func (f *Firewall) rewriteRanges(k *keyBuf, s *nftables.Set, ranges map[netip.Prefix]time.Time, is4 bool, now time.Time) error {
	for p, until := range ranges {
		if !until.IsZero() && until.Sub(now) < time.Millisecond {
			delete(ranges, p)
		}
	}
	f.conn.FlushSet(s)
	max := maxOf(is4)
	var elems []nftables.SetElement
	for _, pc := range pieces(ranges, is4) {
		var timeout time.Duration
		if !pc.until.IsZero() {
			timeout = pc.until.Sub(now)
		}
		elems = append(elems, k.elem(fromU128(pc.first, is4), timeout))
		// The end element is the first address past the range; a range
		// reaching the family's last address has none (open interval). The
		// kernel refuses a timeout on an end element: the start's counts.
		if end, ok := pc.last.next(max); ok {
			e := k.elem(fromU128(end, is4), 0)
			e.IntervalEnd = true
			elems = append(elems, e)
		}
	}
	if err := f.conn.SetAddElements(s, elems); err != nil {
		return fmt.Errorf("nft: load %s: %w", s.Name, err)
	}
	return nil
}

// keyBuf carves element keys out of one allocation per call.
type keyBuf []byte

// elem returns a set element for a expiring after timeout (0: never).
func (k *keyBuf) elem(a netip.Addr, timeout time.Duration) nftables.SetElement {
	n := len(*k)
	if a.Is4() {
		b := a.As4()
		*k = append(*k, b[:]...)
	} else {
		b := a.As16()
		*k = append(*k, b[:]...)
	}
	return nftables.SetElement{Key: (*k)[n:len(*k):len(*k)], Timeout: timeout}
}

// List returns the prefixes the kernel holds now, sorted: addresses of the
// hash sets as /32 and /128, and the interval sets' ranges as the fewest
// prefixes covering them (merged, so overlapping or touching bans come back
// as one range whatever their expiries).
//
// List is for tests and status displays of modest sets: the kernel restarts
// its walk of a set for every netlink message of a dump, so listing grows
// quadratically with the set's size (minutes for a million elements).
func (f *Firewall) List() ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Prefix
	for _, s := range []*nftables.Set{f.ban4, f.ban6} {
		elems, err := f.conn.GetSetElements(s)
		if err != nil {
			return nil, wrap("list "+s.Name, err)
		}
		for _, e := range elems {
			if a, ok := netip.AddrFromSlice(e.Key); ok {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	for _, s := range []*nftables.Set{f.ranges4, f.ranges6} {
		elems, err := f.conn.GetSetElements(s)
		if err != nil {
			return nil, wrap("list "+s.Name, err)
		}
		out = appendIntervals(out, elems, s == f.ranges4)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}

// appendIntervals turns an interval set's elements (start elements and
// interval-end elements, in whatever order the kernel dumps them) into
// prefixes.
func appendIntervals(dst []netip.Prefix, elems []nftables.SetElement, is4 bool) []netip.Prefix {
	type bound struct {
		at  u128
		end bool
	}
	bs := make([]bound, 0, len(elems))
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok || a.Is4() != is4 {
			continue
		}
		bs = append(bs, bound{toU128(a), e.IntervalEnd})
	}
	// Ascending, an end before a start at the same address (touching ranges).
	slices.SortFunc(bs, func(a, b bound) int {
		if c := a.at.compare(b.at); c != 0 {
			return c
		}
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	// Pair starts with ends, merging touching ranges: the kernel holds a
	// range in pieces when its parts expire at different times.
	var spans []span
	var start u128
	open := false
	for _, b := range bs {
		switch {
		case !b.end && !open:
			open, start = true, b.at
			if n := len(spans); n > 0 {
				if e, ok := spans[n-1].last.next(maxOf(is4)); ok && e == b.at {
					start = spans[n-1].first
					spans = spans[:n-1]
				}
			}
		case b.end && open:
			spans = append(spans, span{start, b.at.prev()})
			open = false
		}
	}
	if open {
		spans = append(spans, span{start, maxOf(is4)})
	}
	for _, s := range spans {
		dst = spanPrefixes(dst, s, is4)
	}
	return dst
}

// Remove deletes herd's table with its sets and chains, leaving no trace in
// the namespace. Removing a table that is not there is not an error.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return wrap("list tables", err)
	}
	for _, t := range tables {
		if t.Name == f.table.Name {
			f.conn.DelTable(f.table)
			if err := f.conn.Flush(); err != nil {
				return wrap("remove table "+f.table.Name, err)
			}
		}
	}
	f.r4, f.r6 = map[netip.Prefix]time.Time{}, map[netip.Prefix]time.Time{}
	return nil
}

// Close releases the netlink socket. The table stays in the kernel and keeps
// dropping; Remove deletes it.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn.CloseLasting()
}

func cloneMap(m map[netip.Prefix]time.Time) map[netip.Prefix]time.Time {
	c := make(map[netip.Prefix]time.Time, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// wrap adds the operation to err, and ErrNotSupported when the kernel says
// nftables cannot be used here.
func wrap(op string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) {
		return fmt.Errorf("nft: %s: %w (%w)", op, ErrNotSupported, err)
	}
	return fmt.Errorf("nft: %s: %w", op, err)
}
