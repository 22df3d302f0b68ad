// Package ipset keeps herd's ipsets and iptables chain in step with the live
// decisions, on hosts where nftables cannot be used (an old kernel, a
// container runtime that only passes through the legacy tables). It behaves
// as internal/enforce/nft: New, Reconcile at start, Apply per change, Remove
// to lift everything, per-element timeouts counted by the kernel.
//
// It shells out to ipset(8) and iptables-restore(8)/iptables-save(8) (and
// their ip6tables twins; with Options.Legacy, the iptables-legacy ones):
// there is no maintained pure-Go library for the ipset netlink protocol that
// herd could vet, and this is a fallback. Every change of the sets is ONE
// ipset process reading an "ipset restore" script on its stdin, whatever its
// size; the iptables tools run only in New and Remove.
//
// With the default name "herd" the kernel holds:
//
//	ipset herd-ban4     hash:ip  family inet  timeout 0   single IPv4 addresses
//	ipset herd-ban6     hash:ip  family inet6 timeout 0   single IPv6 addresses
//	ipset herd-ranges4  hash:net family inet  timeout 0   shorter IPv4 prefixes
//	ipset herd-ranges6  hash:net family inet6 timeout 0   shorter IPv6 prefixes
//
//	iptables  -N HERD; -A HERD -m set --match-set herd-ban4 src -j DROP
//	                   -A HERD -m set --match-set herd-ranges4 src -j DROP
//	          -I INPUT 1 -j HERD   (and -I FORWARD 1 -j HERD with Options.Forward)
//	ip6tables the same with herd-ban6 and herd-ranges6
//
// "timeout 0" makes every element able to carry its own timeout; an element
// added without one stays until deleted. hash:net accepts overlapping
// prefixes, so ranges need none of the merging the nftables interval sets
// do.
//
// ipset counts timeouts in whole seconds up to 2147483 (about 24.8 days):
// a timeout is rounded up to the next second, and a longer one is added
// without a timeout, for the agent to delete when the decision ends (it
// deletes ended decisions every second anyway).
package ipset

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/netns"
)

// ErrNotSupported is returned, wrapped, when the iptables/ipset fallback
// cannot be used here: a tool is missing, or the kernel refuses.
var ErrNotSupported = errors.New("ipset: iptables/ipset not available")

// DefaultName is the name used when Options.Name is empty.
const DefaultName = "herd"

// MaxTimeout is the longest timeout ipset accepts, in seconds.
const MaxTimeout = 2147483

// MaxElem is the capacity given to each set (the kernel grows the hash as
// elements come, it does not allocate this up front).
const MaxElem = 1 << 24

// maxName keeps every name within the kernel's limits: ipset names are at
// most 31 bytes ("-ranges6-new" adds 12), iptables chain names 28.
const maxName = 19

// Tools returns the programs the package runs: with legacy, the
// iptables-legacy variants.
func Tools(legacy bool) []string {
	ts := []string{"ipset"}
	for _, fam := range []int{4, 6} {
		save, restore := tools(fam, legacy)
		ts = append(ts, save, restore)
	}
	return ts
}

// Available reports whether every program of Tools(legacy) is installed,
// and which one is missing otherwise.
func Available(legacy bool) (bool, string) {
	for _, t := range Tools(legacy) {
		if _, err := exec.LookPath(t); err != nil {
			return false, t
		}
	}
	return true, ""
}

// Options configures a Firewall. The zero value programs sets "herd-*" and
// chain HERD in the current network namespace, INPUT only.
type Options struct {
	Name    string // default "herd": set names NAME-ban4..., chain upper-cased NAME
	Forward bool   // also jump to the chain from FORWARD
	NetNS   int    // fd of a network namespace to program (0 = current); tests use it
	// Legacy runs iptables-legacy-save/-restore (the kernel's x_tables)
	// instead of the system's iptables, which on current distributions
	// is iptables-nft and needs nf_tables: where nftables is missing,
	// the legacy tools are the ones that work.
	Legacy bool
}

var _ enforce.Enforcer = (*Firewall)(nil)

// Firewall programs herd's ipsets. Its methods are safe for concurrent use.
type Firewall struct {
	mu    sync.Mutex
	o     Options
	chain string
	sets  [4]string // ban4, ban6, ranges4, ranges6
	buf   bytes.Buffer
}

// set indexes.
const (
	ban4 = iota
	ban6
	ranges4
	ranges6
)

func names(o Options) (chain string, sets [4]string, err error) {
	name := o.Name
	if name == "" {
		name = DefaultName
	}
	if len(name) > maxName || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return "", sets, fmt.Errorf("ipset: name %q: want at most %d letters, digits, _ or -", name, maxName)
	}
	return strings.ToUpper(name), [4]string{name + "-ban4", name + "-ban6", name + "-ranges4", name + "-ranges6"}, nil
}

// New creates herd's sets and chains in the namespace o.NetNS, or brings
// existing ones back to this shape: the chains' rules are rewritten, the
// sets' elements are kept. It returns an error wrapping ErrNotSupported when
// a tool is missing or the kernel refuses.
func New(o Options) (*Firewall, error) {
	if ok, missing := Available(o.Legacy); !ok {
		return nil, fmt.Errorf("ipset: %w: %s not found", ErrNotSupported, missing)
	}
	chain, sets, err := names(o)
	if err != nil {
		return nil, err
	}
	f := &Firewall{o: o, chain: chain, sets: sets}
	var b bytes.Buffer
	for i, s := range sets {
		fmt.Fprintf(&b, "create %s %s\n", s, createArgs(i))
	}
	if err := f.run(b.Bytes(), "ipset", "restore", "-exist"); err != nil {
		return nil, notSupported("create sets", err)
	}
	for _, fam := range []int{4, 6} {
		if err := f.setupChain(fam); err != nil {
			return nil, notSupported("iptables", err)
		}
	}
	return f, nil
}

// createArgs is the type and options of set i.
func createArgs(i int) string {
	typ, fam := "hash:ip", "inet"
	if i == ranges4 || i == ranges6 {
		typ = "hash:net"
	}
	if i == ban6 || i == ranges6 {
		fam = "inet6"
	}
	return fmt.Sprintf("%s family %s timeout 0 maxelem %d", typ, fam, MaxElem)
}

// tools returns the save and restore programs of a family.
func tools(fam int, legacy bool) (save, restore string) {
	p := "iptables"
	if fam == 6 {
		p = "ip6tables"
	}
	if legacy {
		p += "-legacy"
	}
	return p + "-save", p + "-restore"
}

// setupChain writes the chain, its rules and jumps for one family in one
// iptables-restore transaction (--noflush keeps the other chains; declaring
// herd's chain flushes it).
func (f *Firewall) setupChain(fam int) error {
	save, restore := tools(fam, f.o.Legacy)
	cur, err := f.output(save, "-t", "filter")
	if err != nil {
		return err
	}
	has := ruleSet(cur)
	b4, r4 := f.sets[ban4], f.sets[ranges4]
	if fam == 6 {
		b4, r4 = f.sets[ban6], f.sets[ranges6]
	}
	var b bytes.Buffer
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n", f.chain)
	fmt.Fprintf(&b, "-A %s -m set --match-set %s src -j DROP\n", f.chain, b4)
	fmt.Fprintf(&b, "-A %s -m set --match-set %s src -j DROP\n", f.chain, r4)
	jump := func(from string, want bool) {
		rule := fmt.Sprintf("-A %s -j %s", from, f.chain)
		switch {
		case want && !has[rule]:
			fmt.Fprintf(&b, "-I %s 1 -j %s\n", from, f.chain)
		case !want && has[rule]:
			fmt.Fprintf(&b, "-D %s -j %s\n", from, f.chain)
		}
	}
	jump("INPUT", true)
	jump("FORWARD", f.o.Forward)
	b.WriteString("COMMIT\n")
	return f.run(b.Bytes(), restore, "-w", "--noflush")
}

// ruleSet returns the lines of an iptables-save dump as a set.
func ruleSet(dump []byte) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(string(dump), "\n") {
		m[strings.TrimSpace(l)] = true
	}
	return m
}

// Apply makes one change to the kernel's sets with one ipset process. Each
// added element expires after Until-now, rounded up to the second; decisions
// already expired, simulated ones and those that are not bans are skipped,
// and a zero Until means no expiry. Adding an element that is there replaces
// its timeout; deleting one that is not there (it expired) is not an error.
//
// ipset applies a script line by line: on error, the lines before the
// failing one are applied. The agent reconciles after a failed Apply.
func (f *Firewall) Apply(c event.Change, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := &f.buf
	b.Reset()
	for _, p := range c.Delete {
		for _, e := range elements(p) {
			fmt.Fprintf(b, "del %s %s\n", f.sets[setOf(e)], e)
		}
	}
	f.writeAdds(b, c.Add, now, "")
	if b.Len() == 0 {
		return nil
	}
	if err := f.run(b.Bytes(), "ipset", "restore", "-exist"); err != nil {
		return fmt.Errorf("ipset: apply: %w", err)
	}
	return nil
}

// Reconcile makes the kernel hold exactly the bans in live. Each set is
// filled under a temporary name and swapped with herd's, all in one ipset
// process: the rules never see a set empty or half-filled.
func (f *Firewall) Reconcile(live []event.Decision, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := &f.buf
	b.Reset()
	for i, s := range f.sets {
		fmt.Fprintf(b, "create %s-new %s\nflush %s-new\n", s, createArgs(i), s)
	}
	f.writeAdds(b, live, now, "-new")
	for _, s := range f.sets {
		fmt.Fprintf(b, "swap %s-new %s\ndestroy %s-new\n", s, s, s)
	}
	if err := f.run(b.Bytes(), "ipset", "restore", "-exist"); err != nil {
		return fmt.Errorf("ipset: reconcile %d decisions: %w", len(live), err)
	}
	return nil
}

// writeAdds writes an add line for every ban of ds still live at now, into
// the sets named with suffix.
func (f *Firewall) writeAdds(b *bytes.Buffer, ds []event.Decision, now time.Time, suffix string) {
	var num [20]byte
	for i := range ds {
		d := &ds[i]
		if d.Type != event.Ban || d.Simulated {
			continue
		}
		secs, ok := timeout(d.Until, now)
		if !ok {
			continue
		}
		for _, e := range elements(d.Scope) {
			b.WriteString("add ")
			b.WriteString(f.sets[setOf(e)])
			b.WriteString(suffix)
			b.WriteByte(' ')
			b.Write(e.AppendTo(num[:0]))
			if secs > 0 {
				b.WriteString(" timeout ")
				b.Write(strconv.AppendInt(num[:0], secs, 10))
			}
			b.WriteByte('\n')
		}
	}
}

// timeout is the ipset timeout of a decision ending at until: whole seconds
// rounded up, 0 for none (no end, or beyond MaxTimeout), false when it has
// ended (less than a millisecond left, as nft).
func timeout(until, now time.Time) (int64, bool) {
	if until.IsZero() {
		return 0, true
	}
	d := until.Sub(now)
	if d < time.Millisecond {
		return 0, false
	}
	secs := int64((d + time.Second - 1) / time.Second)
	if secs > MaxTimeout {
		return 0, true
	}
	return secs, true
}

// elements returns the set elements of prefix p, unmapped and masked: none
// when p is invalid, two halves for a /0 (hash:net refuses a zero length).
func elements(p netip.Prefix) []netip.Prefix {
	p, ok := ipx.Normalize(p)
	if !ok {
		return nil
	}
	if p.Bits() > 0 {
		return []netip.Prefix{p}
	}
	lo := netip.PrefixFrom(p.Addr(), 1)
	hiAddr := p.Addr().As16()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		a[0] = 0x80
		return []netip.Prefix{lo, netip.PrefixFrom(netip.AddrFrom4(a), 1)}
	}
	hiAddr[0] = 0x80
	return []netip.Prefix{lo, netip.PrefixFrom(netip.AddrFrom16(hiAddr), 1)}
}

// setOf is the set a normalized prefix belongs in.
func setOf(p netip.Prefix) int {
	switch is4 := p.Addr().Is4(); {
	case p.IsSingleIP() && is4:
		return ban4
	case p.IsSingleIP():
		return ban6
	case is4:
		return ranges4
	}
	return ranges6
}

// List returns the prefixes the kernel holds now, sorted: addresses as /32
// and /128, ranges as they were added. It is for tests and status displays.
func (f *Firewall) List() ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Prefix
	for _, s := range f.sets {
		dump, err := f.output("ipset", "save", s)
		if err != nil {
			return nil, fmt.Errorf("ipset: list %s: %w", s, err)
		}
		ps, err := ParseSave(dump, s)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}

// ParseSave returns the elements of set in the output of "ipset save": the
// "add SET ELEMENT [options]" lines. Other lines are skipped; a malformed
// element of set is an error.
func ParseSave(dump []byte, set string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for n, line := range strings.Split(string(dump), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "add" || fields[1] != set {
			continue
		}
		e := fields[2]
		var p netip.Prefix
		var err error
		if strings.Contains(e, "/") {
			p, err = netip.ParsePrefix(e)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(e); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("ipset: save of %s, line %d: %w", set, n+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Remove deletes herd's chains, the jumps to them and herd's sets, leaving no
// trace in the namespace: the chains of both the system's iptables and
// iptables-legacy, where their tools are installed. What is not there is not
// an error.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return remove(f.o, f.chain, f.sets)
}

// Remove deletes the chains, jumps and sets a Firewall with options o would
// have created, with either variant of iptables, without creating anything
// first: herd firewall remove uses it. What is not there is not an error;
// nor is a name New would refuse (nothing can have been created under it).
// o.Legacy is ignored.
func Remove(o Options) error {
	if ok, missing := Available(false); !ok {
		if ok, _ := Available(true); !ok {
			return fmt.Errorf("ipset: %w: %s not found", ErrNotSupported, missing)
		}
	}
	chain, sets, err := names(o)
	if err != nil {
		return nil
	}
	return remove(o, chain, sets)
}

func remove(o Options, chain string, sets [4]string) error {
	f := &Firewall{o: o}
	for _, legacy := range []bool{false, true} {
		if ok, _ := Available(legacy); !ok {
			continue
		}
		if err := f.removeChains(chain, legacy); err != nil {
			return err
		}
	}
	return f.destroySets(sets)
}

// removeChains deletes chain and the jumps to it in one variant of
// iptables, both families.
func (f *Firewall) removeChains(chain string, legacy bool) error {
	for _, fam := range []int{4, 6} {
		save, restore := tools(fam, legacy)
		cur, err := f.output(save, "-t", "filter")
		if err != nil && legacy {
			// A kernel without x_tables: nothing of herd's can be there.
			continue
		}
		if err != nil {
			return fmt.Errorf("ipset: remove: %w", err)
		}
		has := ruleSet(cur)
		var b bytes.Buffer
		for _, from := range []string{"INPUT", "FORWARD", "OUTPUT"} {
			if has[fmt.Sprintf("-A %s -j %s", from, chain)] {
				fmt.Fprintf(&b, "-D %s -j %s\n", from, chain)
			}
		}
		if chainDeclared(cur, chain) {
			fmt.Fprintf(&b, "-F %s\n-X %s\n", chain, chain)
		}
		if b.Len() == 0 {
			continue
		}
		script := append([]byte("*filter\n"), b.Bytes()...)
		script = append(script, "COMMIT\n"...)
		if err := f.run(script, restore, "-w", "--noflush"); err != nil {
			return fmt.Errorf("ipset: remove chain %s: %w", chain, err)
		}
	}
	return nil
}

// destroySets destroys herd's sets, and their -new twins left by an
// interrupted Reconcile.
func (f *Firewall) destroySets(sets [4]string) error {
	list, err := f.output("ipset", "list", "-n")
	if err != nil {
		return fmt.Errorf("ipset: remove: %w", err)
	}
	present := ruleSet(list)
	var b bytes.Buffer
	for _, s := range sets {
		for _, n := range []string{s, s + "-new"} {
			if present[n] {
				fmt.Fprintf(&b, "destroy %s\n", n)
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := f.run(b.Bytes(), "ipset", "restore"); err != nil {
		return fmt.Errorf("ipset: remove sets: %w", err)
	}
	return nil
}

// chainDeclared reports whether an iptables-save dump declares chain, with
// whatever counters.
func chainDeclared(dump []byte, chain string) bool {
	for _, l := range strings.Split(string(dump), "\n") {
		if strings.HasPrefix(l, ":"+chain+" ") {
			return true
		}
	}
	return false
}

// Close releases nothing the kernel holds: the sets and chains stay and keep
// dropping; Remove deletes them. It is there to match the nft backend.
func (f *Firewall) Close() error { return nil }

// run runs a program with stdin in the Firewall's namespace.
func (f *Firewall) run(stdin []byte, name string, args ...string) error {
	_, err := f.exec(stdin, name, args...)
	return err
}

// output runs a program in the Firewall's namespace and returns its stdout.
func (f *Firewall) output(name string, args ...string) ([]byte, error) {
	return f.exec(nil, name, args...)
}

func (f *Firewall) exec(stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := netns.Do(f.o.NetNS, cmd.Run)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// notSupported wraps err with ErrNotSupported: New's failures all mean the
// fallback cannot be used here.
func notSupported(op string, err error) error {
	return fmt.Errorf("ipset: %s: %w (%w)", op, ErrNotSupported, err)
}
