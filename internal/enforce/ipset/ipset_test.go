package ipset

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// newFirewall programs namespace fd and skips the test where the tools are
// missing. The sets and chains are removed at the end.
func newFirewall(t testing.TB, fd int, o Options) *Firewall {
	t.Helper()
	if ok, missing := Available(o.Legacy); !ok {
		t.Skipf("%s not found; install ipset and iptables to include this test", missing)
	}
	o.NetNS = fd
	f, err := New(o)
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("iptables/ipset not usable here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Remove(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func ban(scope string, until time.Time) event.Decision {
	return event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix(scope), Until: until, Origin: "herd"}
}

// lab is a victim namespace with a TCP listener, reached from an attacker
// namespace and a bystander namespace over their own veth links.
type lab struct {
	victimName           string
	victim, attacker, by int
	toAttacker, toBy     netip.AddrPort
}

func newLab(t *testing.T, v6 bool) lab {
	t.Helper()
	var l lab
	var attackerName, byName string
	l.victimName, l.victim = herdtest.NewNetns(t)
	attackerName, l.attacker = herdtest.NewNetns(t)
	byName, l.by = herdtest.NewNetns(t)
	nets := [2][2]string{{"192.0.2.1/24", "192.0.2.2/24"}, {"198.51.100.1/24", "198.51.100.2/24"}}
	listen := "0.0.0.0:0"
	if v6 {
		nets = [2][2]string{{"2001:db8:a::1/64", "2001:db8:a::2/64"}, {"2001:db8:b::1/64", "2001:db8:b::2/64"}}
		listen = "[::]:0"
	}
	herdtest.Veth(t, l.victimName, attackerName, netip.MustParsePrefix(nets[0][0]), netip.MustParsePrefix(nets[0][1]))
	herdtest.Veth(t, l.victimName, byName, netip.MustParsePrefix(nets[1][0]), netip.MustParsePrefix(nets[1][1]))
	port := herdtest.Listen(t, l.victim, listen).Port()
	l.toAttacker = netip.AddrPortFrom(netip.MustParsePrefix(nets[0][0]).Addr(), port)
	l.toBy = netip.AddrPortFrom(netip.MustParsePrefix(nets[1][0]).Addr(), port)
	return l
}

const dialTimeout = 300 * time.Millisecond

func (l lab) reaches(who string) error {
	fd, to := l.attacker, l.toAttacker
	if who == "bystander" {
		fd, to = l.by, l.toBy
	}
	return herdtest.Dial(fd, to, 2*time.Second)
}

func (l lab) mustReach(t *testing.T, who string) {
	t.Helper()
	if err := l.reaches(who); err != nil {
		t.Fatalf("%s cannot reach the victim: %v", who, err)
	}
}

func (l lab) mustBeDropped(t *testing.T) {
	t.Helper()
	if err := herdtest.Dial(l.attacker, l.toAttacker, dialTimeout); err == nil {
		t.Fatal("the banned attacker reached the victim")
	}
}

// A ban drops the attacker and not the bystander, and the kernel lifts it
// by itself at its timeout.
func testBanExpires(t *testing.T, v6 bool, scope string) {
	l := newLab(t, v6)
	f := newFirewall(t, l.victim, Options{})
	l.mustReach(t, "attacker")
	l.mustReach(t, "bystander")

	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban(scope, now.Add(2*time.Second))}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t)
	l.mustReach(t, "bystander")
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix(scope)}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}

	deadline := now.Add(6 * time.Second)
	for herdtest.Dial(l.attacker, l.toAttacker, dialTimeout) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the ban did not expire after 2s")
		}
	}
	if d := time.Since(now); d < 2*time.Second {
		t.Fatalf("the ban expired after %v, before its 2s", d)
	}
	if got, err := f.List(); err != nil || len(got) != 0 {
		t.Fatalf("List after expiry = %v, %v; want nothing", got, err)
	}
}

func TestBanDropsAttackerUntilExpiry(t *testing.T)     { testBanExpires(t, false, "192.0.2.2/32") }
func TestBanDropsAttackerUntilExpiryIPv6(t *testing.T) { testBanExpires(t, true, "2001:db8:a::2/128") }
func TestRangeBanDropsAttacker(t *testing.T)           { testBanExpires(t, false, "192.0.2.0/28") }
func TestRangeBanDropsAttackerIPv6(t *testing.T)       { testBanExpires(t, true, "2001:db8:a::/64") }

// Deleting lifts a ban at once; deleting what is not there is no error.
func TestDeleteLiftsBan(t *testing.T) {
	l := newLab(t, false)
	f := newFirewall(t, l.victim, Options{})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.2/32", now.Add(time.Hour)), ban("192.0.2.0/24", time.Time{})}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t)
	if err := f.Apply(event.Change{Delete: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t) // the /24 still holds it
	del := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if err := f.Apply(event.Change{Delete: del}, now); err != nil {
		t.Fatal(err)
	}
	l.mustReach(t, "attacker")
}

// Reconcile replaces whatever the sets held with exactly the live bans,
// skipping ended, simulated and non-ban decisions.
func TestReconcileReplacesSets(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("203.0.113.1/32", now.Add(time.Hour)), ban("10.0.0.0/8", now.Add(time.Hour))}}, now); err != nil {
		t.Fatal(err)
	}
	sim := ban("203.0.113.7/32", now.Add(time.Hour))
	sim.Simulated = true
	captcha := ban("203.0.113.8/32", now.Add(time.Hour))
	captcha.Type = event.Captcha
	live := []event.Decision{
		ban("198.51.100.4/32", now.Add(time.Hour)),
		ban("2001:db8::1/128", time.Time{}),
		ban("2001:db8:1::/48", now.Add(90*24*time.Hour)),  // beyond ipset's longest timeout
		ban("::ffff:192.0.2.0/120", now.Add(time.Minute)), // mapped: 192.0.2.0/24
		ban("203.0.113.5/32", now.Add(-time.Second)),      // ended
		sim, captcha,
	}
	if err := f.Reconcile(live, now); err != nil {
		t.Fatal(err)
	}
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.4/32"),
		netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("2001:db8:1::/48"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after Reconcile: %v, want %v", got, want)
	}
	// A second New on the same namespace keeps the elements and the shape.
	g, err := New(Options{NetNS: fd, Forward: true})
	if err != nil {
		t.Fatal(err)
	}
	if got2, err := g.List(); err != nil || !slices.Equal(got2, want) {
		t.Fatalf("after a second New: %v, %v; want %v", got2, err, want)
	}
	dump := string(save(t, fd, "iptables-save"))
	for _, rule := range []string{"-A INPUT -j HERD", "-A FORWARD -j HERD", "-A HERD -m set --match-set herd-ban4 src -j DROP"} {
		if strings.Count(dump, rule+"\n") != 1 {
			t.Errorf("iptables-save has %q %d times, want once:\n%s", rule, strings.Count(dump, rule+"\n"), dump)
		}
	}
	if _, err := New(Options{NetNS: fd}); err != nil {
		t.Fatal(err)
	}
	if dump := string(save(t, fd, "iptables-save")); strings.Contains(dump, "-A FORWARD -j HERD") {
		t.Errorf("the FORWARD jump stayed after New without Forward:\n%s", dump)
	}
}

func save(t *testing.T, fd int, prog string, args ...string) []byte {
	t.Helper()
	f := &Firewall{o: Options{NetNS: fd}}
	out, err := f.output(prog, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Remove leaves nothing of herd's in iptables-save, ip6tables-save or ipset
// list, and keeps what others put there.
func TestRemoveLeavesNoTrace(t *testing.T) {
	if ok, missing := Available(false); !ok {
		t.Skipf("%s not found; install ipset and iptables to include this test", missing)
	}
	name, fd := herdtest.NewNetns(t)
	herdtest.Exec(t, name, "iptables", "-w", "-A", "INPUT", "-s", "203.0.113.0/24", "-j", "ACCEPT")
	herdtest.Exec(t, name, "ipset", "create", "theirs", "hash:ip")
	f := newFirewall(t, fd, Options{Forward: true})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.9/32", now.Add(time.Hour)), ban("2001:db8::/64", now.Add(time.Hour))}}, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"iptables-save", "ip6tables-save"} {
		dump := string(save(t, fd, prog))
		if strings.Contains(strings.ToLower(dump), "herd") {
			t.Errorf("%s after Remove still shows herd:\n%s", prog, dump)
		}
		if prog == "iptables-save" && !strings.Contains(dump, "-A INPUT -s 203.0.113.0/24 -j ACCEPT") {
			t.Errorf("Remove deleted another rule:\n%s", dump)
		}
	}
	list := string(save(t, fd, "ipset", "list", "-n"))
	if strings.Contains(list, "herd") || !strings.Contains(list, "theirs") {
		t.Errorf("ipset list -n after Remove: %q, want only theirs", list)
	}
	// Removing again, and through the package function, is not an error.
	if err := Remove(Options{NetNS: fd}); err != nil {
		t.Fatal(err)
	}
}

func TestTimeout(t *testing.T) {
	now := time.Unix(1e9, 0)
	for _, c := range []struct {
		until time.Time
		secs  int64
		ok    bool
	}{
		{time.Time{}, 0, true},
		{now.Add(time.Second), 1, true},
		{now.Add(1500 * time.Millisecond), 2, true},
		{now.Add(time.Millisecond), 1, true},
		{now.Add(time.Millisecond - 1), 0, false},
		{now.Add(-time.Hour), 0, false},
		{now.Add(MaxTimeout * time.Second), MaxTimeout, true},
		{now.Add((MaxTimeout + 1) * time.Second), 0, true},
	} {
		if secs, ok := timeout(c.until, now); secs != c.secs || ok != c.ok {
			t.Errorf("timeout(now+%v) = %d, %v; want %d, %v", c.until.Sub(now), secs, ok, c.secs, c.ok)
		}
	}
}

func TestElements(t *testing.T) {
	for in, want := range map[string][]string{
		"192.0.2.7/24":         {"192.0.2.0/24"},
		"0.0.0.0/0":            {"0.0.0.0/1", "128.0.0.0/1"},
		"::/0":                 {"::/1", "8000::/1"},
		"::ffff:192.0.2.7/128": {"192.0.2.7/32"},
	} {
		var got []string
		for _, p := range elements(netip.MustParsePrefix(in)) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("elements(%s) = %v, want %v", in, got, want)
		}
	}
	if got := elements(netip.Prefix{}); got != nil {
		t.Errorf("elements(invalid) = %v", got)
	}
	if _, _, err := names(Options{Name: "a-name-far-too-long-for-ipset"}); err == nil {
		t.Error("a 29-byte name was accepted")
	}
	if _, _, err := names(Options{Name: "bad name"}); err == nil {
		t.Error("a name with a space was accepted")
	}
}

func TestParseSave(t *testing.T) {
	dump := []byte("create herd-ban4 hash:ip family inet hashsize 1024 maxelem 16777216 timeout 0\n" +
		"add herd-ban4 192.0.2.1 timeout 55\nadd other 10.0.0.1\nadd herd-ban4 192.0.2.2\n")
	got, err := ParseSave(dump, "herd-ban4")
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")}; !slices.Equal(got, want) {
		t.Fatalf("ParseSave = %v, want %v", got, want)
	}
	if _, err := ParseSave([]byte("add herd-ban4 not-an-address\n"), "herd-ban4"); err == nil {
		t.Fatal("a malformed element was accepted")
	}
}

func FuzzParseSave(f *testing.F) {
	f.Add([]byte("add herd-ban4 192.0.2.1 timeout 55\n"))
	f.Add([]byte("add herd-ranges6 2001:db8::/32\nadd herd-ranges6 x/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseSave(b, "herd-ban4")
		if err == nil {
			for _, p := range ps {
				if !p.IsValid() {
					t.Fatalf("invalid prefix %v without an error", p)
				}
			}
		}
	})
}

// Adding an address that is there replaces its timeout: a ban extended
// before it ends stays past its first expiry.
func TestAddAgainReplacesTimeout(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{})
	now := time.Now()
	for _, until := range []time.Time{now.Add(time.Second), now.Add(time.Hour)} {
		if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.5/32", until), ban("198.51.100.0/24", until)}}, now); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("192.0.2.5/32"), netip.MustParsePrefix("198.51.100.0/24")}; !slices.Equal(got, want) {
		t.Fatalf("after the first expiry: %v, want %v", got, want)
	}
}

// With Options.Legacy the chains go to iptables-legacy (x_tables), and drop
// there as well.
func TestLegacyDropsAttacker(t *testing.T) {
	l := newLab(t, false)
	f := newFirewall(t, l.victim, Options{Legacy: true})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.2/32", now.Add(time.Hour))}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t)
	l.mustReach(t, "bystander")
	if dump := string(save(t, l.victim, "iptables-legacy-save")); !strings.Contains(dump, "-A INPUT -j HERD") {
		t.Fatalf("iptables-legacy-save has no jump to HERD:\n%s", dump)
	}
	if dump := string(save(t, l.victim, "iptables-save")); strings.Contains(dump, "HERD") {
		t.Fatalf("the legacy Firewall wrote to the default iptables:\n%s", dump)
	}
}

// Remove takes herd's chains out of both variants of iptables before
// destroying the sets they reference.
func TestRemoveCleansBothVariants(t *testing.T) {
	name, fd := herdtest.NewNetns(t)
	if ok, missing := Available(true); !ok {
		t.Skipf("%s not found", missing)
	}
	newFirewall(t, fd, Options{})
	newFirewall(t, fd, Options{Legacy: true, Forward: true})
	if err := Remove(Options{NetNS: fd}); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save"} {
		if dump := herdtest.Exec(t, name, prog); strings.Contains(strings.ToLower(dump), "herd") {
			t.Errorf("%s after Remove:\n%s", prog, dump)
		}
	}
	if list := herdtest.Exec(t, name, "ipset", "list", "-n"); strings.Contains(list, "herd") {
		t.Errorf("ipset list -n after Remove: %q", list)
	}
}
