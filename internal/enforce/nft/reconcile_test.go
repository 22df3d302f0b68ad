package nft

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// TestLargeReconcileNeverLapses reconciles more addresses than one
// transaction carries into a table already holding most of them (an agent's
// restart) while another netlink socket looks up a sample of the live
// addresses in the set the input chain's rule uses, between every
// transaction the Reconcile commits. No live address may ever be missing
// there, and after it the kernel must hold exactly the live bans: stale ones
// gone, new ones in, every timeout that of its decision.
func TestLargeReconcileNeverLapses(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{Forward: true})
	now := time.Now()
	const n = 70_000
	live := decisions(n, now) // one hour each
	live = append(live, ban("198.51.100.0/24", now.Add(time.Hour)), ban("2001:db8::7/128", now.Add(time.Hour)))
	// Before: the first n-1000 addresses with a ten-minute timeout, and
	// stale addresses.
	before := make([]event.Decision, 0, n)
	for _, d := range live[:n-1000] {
		d.Until = now.Add(10 * time.Minute)
		before = append(before, d)
	}
	stale := decisions(n+500, now)[n:]
	for i := range stale {
		a := stale[i].Scope.Addr().As4()
		a[0] = 11
		stale[i].Scope = netip.PrefixFrom(netip.AddrFrom4(a), 32)
	}
	before = append(before, stale...)
	before = append(before, ban("203.0.113.0/24", now.Add(time.Hour)))
	if err := f.Apply(event.Change{Add: before}, now); err != nil {
		t.Fatal(err)
	}

	// The sample: addresses in the kernel before, spread over every chunk.
	var sample []nftables.SetElement
	for i := 0; i < n-1000; i += 701 {
		a := live[i].Scope.Addr().As4()
		sample = append(sample, nftables.SetElement{Key: a[:]})
	}
	probe, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyINet}
	inUse := func() string {
		rules, err := probe.GetRules(table, &nftables.Chain{Table: table, Name: "input"})
		if err != nil {
			t.Errorf("list rules: %v", err)
			return ""
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if l, ok := e.(*expr.Lookup); ok && canonicalName(l.SetName) == setBan4 {
					return l.SetName
				}
			}
		}
		t.Error("no rule looks up the IPv4 hash set")
		return ""
	}
	var stop atomic.Bool
	var rounds, lapses atomic.Int64
	var wg sync.WaitGroup
	watch := func() {
		defer wg.Done()
		name := inUse()
		for name != "" && !stop.Load() {
			_, err := probe.FindSetElements(&nftables.Set{Table: table, Name: name, KeyType: nftables.TypeIPAddr}, sample)
			rounds.Add(1)
			switch {
			case err == nil:
			case !errors.Is(err, syscall.ENOENT):
				t.Errorf("look up: %v", err)
				return
			default:
				// A miss in the set the rules still use is a lapse.
				// The rules may instead have moved to the other set
				// (one Reconcile moves them once), the old one gone.
				cur := inUse()
				if cur == name {
					lapses.Add(1)
				}
				name = cur
			}
		}
	}

	// Three Reconciles: from the state above, then twice from a table
	// already equal to live (once from each set of the pair).
	for range 3 {
		stop.Store(false)
		rounds.Store(0)
		wg.Add(1)
		go watch()
		for rounds.Load() == 0 && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
		r0 := rounds.Load()
		if err := f.Reconcile(live, now); err != nil {
			t.Fatal(err)
		}
		during := rounds.Load() - r0
		stop.Store(true)
		wg.Wait()
		if lapses.Load() != 0 {
			t.Fatalf("during Reconcile, %d look-ups missed live addresses", lapses.Load())
		}
		if during == 0 {
			t.Log("no look-up completed during this Reconcile")
		}
		checkHolds(t, f, live, now)
	}

	// A New on the table (a restart) keeps whichever set is in use, and
	// deletes the other one, left here as by a Reconcile interrupted
	// half-way.
	if f.ban4.Name != setBan4Alt {
		t.Fatalf("after three large Reconciles the rules use %s, want %s", f.ban4.Name, setBan4Alt)
	}
	leftover(t, fd, setBan4)
	g, err := New(Options{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.ban4.Name != f.ban4.Name {
		t.Fatalf("New uses %s, the rules used %s", g.ban4.Name, f.ban4.Name)
	}
	checkHolds(t, g, live, now)
	if got, want := setNames(t, g), []string{setBan4Alt, setBan6Alt, setRanges4, setRanges6}; !slices.Equal(got, want) {
		t.Fatalf("sets after New = %v, want %v", got, want)
	}
	st, err := ReadStats(Options{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	if st.Elements[setBan4] != n || st.Elements[setBan6] != 1 {
		t.Fatalf("ReadStats = %v, want %d in ban4 and 1 in ban6", st.Elements, n)
	}
}

// checkHolds fails unless the kernel holds exactly live (single IPv4
// addresses, and other prefixes), each IPv4 address with the timeout of its
// decision.
func checkHolds(t *testing.T, f *Firewall, live []event.Decision, now time.Time) {
	t.Helper()
	var want []netip.Prefix
	for _, d := range live {
		want = append(want, d.Scope)
	}
	slices.SortFunc(want, comparePrefix)
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List = %d prefixes, want %d", len(got), len(want))
	}
	elems, err := f.conn.GetSetElements(f.ban4)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range elems {
		if e.Timeout < time.Hour-time.Since(now)-time.Second || e.Timeout > time.Hour {
			a, _ := netip.AddrFromSlice(e.Key)
			t.Fatalf("%s has timeout %v, want about %v", a, e.Timeout, time.Hour)
		}
	}
}

// leftover creates the IPv4 hash set name, holding one address no test bans,
// behind herd's back.
func leftover(t *testing.T, fd int, name string) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyINet}
	s := &nftables.Set{Table: table, Name: name, KeyType: nftables.TypeIPAddr, HasTimeout: true}
	if err := c.AddSet(s, []nftables.SetElement{{Key: []byte{192, 0, 2, 99}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// setNames returns the names of the sets in herd's table.
func setNames(t *testing.T, f *Firewall) []string {
	t.Helper()
	sets, err := f.conn.GetSets(f.table)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sets {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// TestNewDeletesLeftoverSet: a New finding both sets of a pair keeps the
// one the rules use and deletes the other.
func TestNewDeletesLeftoverSet(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.7/32", now.Add(time.Hour))}}, now); err != nil {
		t.Fatal(err)
	}
	leftover(t, fd, setBan4Alt)
	g, err := New(Options{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.ban4.Name != setBan4 {
		t.Fatalf("New uses %s, the rules used %s", g.ban4.Name, setBan4)
	}
	if got, want := setNames(t, g), []string{setBan4, setBan6, setRanges4, setRanges6}; !slices.Equal(got, want) {
		t.Fatalf("sets after New = %v, want %v", got, want)
	}
	if got, want := mustList(t, g), prefixes("192.0.2.7/32"); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}
