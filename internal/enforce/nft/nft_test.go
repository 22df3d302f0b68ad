package nft

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// newFirewall programs a fresh namespace and skips the test where nftables
// cannot be used. The table is removed and the Firewall closed at the end.
func newFirewall(t testing.TB, fd int, o Options) *Firewall {
	t.Helper()
	o.NetNS = fd
	f, err := New(o)
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("nftables not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Remove(); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err != nil {
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
	toAttacker, toBy     netip.AddrPort // the listener as each client reaches it
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

// attackerAddr is the attacker's address in the lab.
func attackerAddr(v6 bool) string {
	if v6 {
		return "2001:db8:a::2/128"
	}
	return "192.0.2.2/32"
}

const dialTimeout = 300 * time.Millisecond

func (l lab) mustReach(t *testing.T, who string) {
	t.Helper()
	fd, to := l.attacker, l.toAttacker
	if who == "bystander" {
		fd, to = l.by, l.toBy
	}
	if err := herdtest.Dial(fd, to, 2*time.Second); err != nil {
		t.Fatalf("%s cannot reach the victim: %v", who, err)
	}
}

func (l lab) mustBeDropped(t *testing.T) {
	t.Helper()
	if err := herdtest.Dial(l.attacker, l.toAttacker, dialTimeout); err == nil {
		t.Fatal("the banned attacker reached the victim")
	}
}

func testBanExpires(t *testing.T, v6 bool) {
	l := newLab(t, v6)
	f := newFirewall(t, l.victim, Options{})
	l.mustReach(t, "attacker")
	l.mustReach(t, "bystander")

	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban(attackerAddr(v6), now.Add(2*time.Second))}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t)
	l.mustReach(t, "bystander")

	// The kernel expires the element by itself, without herd.
	deadline := now.Add(5 * time.Second)
	for {
		err := herdtest.Dial(l.attacker, l.toAttacker, dialTimeout)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ban did not expire after 2s: %v", err)
		}
	}
	if d := time.Since(now); d < 2*time.Second {
		t.Fatalf("the ban expired after %v, before its 2s", d)
	}
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("List after expiry = %v, want nothing", got)
	}
}

func TestBanDropsAttackerUntilExpiry(t *testing.T)     { testBanExpires(t, false) }
func TestBanDropsAttackerUntilExpiryIPv6(t *testing.T) { testBanExpires(t, true) }

// TestDeleteUnbans deletes with "destroy element" and with the add-then-
// delete fallback for kernels before 6.3.
func TestDeleteUnbans(t *testing.T) {
	for _, destroy := range []bool{true, false} {
		t.Run(map[bool]string{true: "destroy", false: "add-delete"}[destroy], func(t *testing.T) {
			l := newLab(t, false)
			f := newFirewall(t, l.victim, Options{})
			if destroy && !f.destroy {
				t.Skip("this kernel lacks destroy element (Linux 6.3+)")
			}
			f.destroy = destroy
			now := time.Now()
			c := event.Change{Add: []event.Decision{ban("192.0.2.2/32", now.Add(time.Hour)), ban("203.0.113.5/32", now.Add(50*time.Millisecond))}}
			if err := f.Apply(c, now); err != nil {
				t.Fatal(err)
			}
			l.mustBeDropped(t)
			time.Sleep(100 * time.Millisecond) // 203.0.113.5 expires
			// Deleting twice, deleting what expired or what was never
			// there is not an error.
			del := event.Change{Delete: prefixes("192.0.2.2/32", "203.0.113.5/32", "203.0.113.9/32", "2001:db8::9/128")}
			for range 2 {
				if err := f.Apply(del, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			l.mustReach(t, "attacker")
			if got := mustList(t, f); len(got) != 0 {
				t.Fatalf("List after deletes = %v, want nothing", got)
			}
			// Delete and add in one Change replaces the expiry.
			now = time.Now()
			if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.2/32", now.Add(time.Hour))}}, now); err != nil {
				t.Fatal(err)
			}
			c = event.Change{Delete: prefixes("192.0.2.2/32"), Add: []event.Decision{ban("192.0.2.2/32", now.Add(time.Second))}}
			if err := f.Apply(c, now); err != nil {
				t.Fatal(err)
			}
			l.mustBeDropped(t)
			time.Sleep(1200 * time.Millisecond)
			l.mustReach(t, "attacker")
		})
	}
}

func TestRangeBanMergesOverlaps(t *testing.T) {
	l := newLab(t, false)
	f := newFirewall(t, l.victim, Options{})
	now := time.Now()
	hour := now.Add(time.Hour)
	c := event.Change{Add: []event.Decision{
		ban("192.0.2.0/24", hour),
		ban("192.0.2.0/25", hour),                   // inside the /24
		ban("192.0.2.128/26", now.Add(2*time.Hour)), // inside, expires later
		ban("192.0.3.0/24", hour),                   // touches the /24
		ban("10.0.0.0/8", hour),
		ban("10.1.2.0/24", hour),
	}}
	if err := f.Apply(c, now); err != nil {
		t.Fatalf("overlapping ranges: %v", err)
	}
	l.mustBeDropped(t)
	l.mustReach(t, "bystander")
	want := prefixes("10.0.0.0/8", "192.0.2.0/23")
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}

	// Deleting the /24 leaves the rest of the overlapping bans in force.
	if err := f.Apply(event.Change{Delete: prefixes("192.0.2.0/24", "10.0.0.0/8")}, now); err != nil {
		t.Fatal(err)
	}
	want = prefixes("10.1.2.0/24", "192.0.2.0/25", "192.0.2.128/26", "192.0.3.0/24") // one range, two prefixes
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List after deletes = %v, want %v", got, want)
	}
	l.mustBeDropped(t) // 192.0.2.2 is in the /25

	if err := f.Apply(event.Change{Delete: prefixes("192.0.2.0/25")}, now); err != nil {
		t.Fatal(err)
	}
	l.mustReach(t, "attacker")

	// IPv6 prefixes go to their own interval set.
	if err := f.Apply(event.Change{Add: []event.Decision{ban("2001:db8::/32", hour), ban("2001:db8:1::/48", hour), ban("::/0", hour)}}, now); err != nil {
		t.Fatal(err)
	}
	want = prefixes("::/0", "10.1.2.0/24", "192.0.2.128/26", "192.0.3.0/24")
	slices.SortFunc(want, comparePrefix)
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List with IPv6 = %v, want %v", got, want)
	}
}

func TestRangeBanExpires(t *testing.T) {
	l := newLab(t, false)
	f := newFirewall(t, l.victim, Options{})
	now := time.Now()
	if err := f.Apply(event.Change{Add: []event.Decision{ban("192.0.2.0/24", now.Add(time.Second))}}, now); err != nil {
		t.Fatal(err)
	}
	l.mustBeDropped(t)
	time.Sleep(1200 * time.Millisecond)
	l.mustReach(t, "attacker")
}

func TestReconcileListRemove(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not found; install nftables to include this test")
	}
	name, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{Forward: true})
	now := time.Now()
	// Something stale that Reconcile must drop.
	if err := f.Apply(event.Change{Add: []event.Decision{ban("203.0.113.1/32", now.Add(time.Hour)), ban("203.0.113.128/25", now.Add(time.Hour))}}, now); err != nil {
		t.Fatal(err)
	}
	live := []event.Decision{
		ban("192.0.2.7/32", now.Add(time.Hour)),
		ban("2001:db8::7/128", now.Add(time.Hour)),
		ban("198.51.100.0/24", now.Add(time.Hour)),
		ban("2001:db8:ff::/48", time.Time{}),       // no expiry
		ban("192.0.2.8/32", now.Add(-time.Second)), // expired: skipped
		{Type: event.Ban, Scope: netip.MustParsePrefix("192.0.2.9/32"), Until: now.Add(time.Hour), Simulated: true},
		{Type: event.Captcha, Scope: netip.MustParsePrefix("192.0.2.10/32"), Until: now.Add(time.Hour)},
	}
	if err := f.Reconcile(live, now); err != nil {
		t.Fatal(err)
	}
	want := prefixes("192.0.2.7/32", "198.51.100.0/24", "2001:db8::7/128", "2001:db8:ff::/48")
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List after Reconcile = %v, want %v", got, want)
	}
	out := herdtest.Exec(t, name, "nft", "list", "table", "inet", "herd")
	for _, s := range []string{"hook input priority filter - 10", "hook forward priority filter - 10", "ip saddr @ban4", "ip6 saddr @ban6", "ip saddr @ranges4", "ip6 saddr @ranges6"} {
		if !strings.Contains(out, s) {
			t.Errorf("nft list table lacks %q:\n%s", s, out)
		}
	}

	// New on an existing table keeps the elements and does not duplicate
	// rules; without Forward it drops the forward chain.
	g, err := New(Options{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := mustList(t, g); !slices.Equal(got, want) {
		t.Fatalf("List after a second New = %v, want %v", got, want)
	}
	out = herdtest.Exec(t, name, "nft", "list", "table", "inet", "herd")
	if n := strings.Count(out, "@ban4"); n != 1 {
		t.Errorf("second New: %d rules on @ban4, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "hook forward") {
		t.Errorf("second New without Forward kept the forward chain:\n%s", out)
	}

	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if out := herdtest.Exec(t, name, "nft", "list", "tables"); strings.TrimSpace(out) != "" {
		t.Fatalf("tables left after Remove: %q", out)
	}
	if err := g.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// TestNewWithoutPrivilegeIsNotSupported runs a copy of the test binary as
// an unprivileged user, where New must fail with ErrNotSupported so that the
// agent can fall back to a dry run.
func TestNewWithoutPrivilegeIsNotSupported(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		_, err := New(Options{})
		if !errors.Is(err, ErrNotSupported) {
			t.Fatalf("New without privilege = %v, want ErrNotSupported", err)
		}
		return
	}
	herdtest.Skip(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv(1) not found; install util-linux to include this test")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "herd-nft-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "nft.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run=^TestNewWithoutPrivilegeIsNotSupported$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unprivileged New: %v\n%s", err, out)
	}
}

const childEnv = "HERD_NFT_TEST_UNPRIVILEGED"

func mustList(t *testing.T, f *Firewall) []netip.Prefix {
	t.Helper()
	got, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// TestFarFutureUntil checks that a decision ending centuries from now (how a
// "forever" ban may be written) is accepted by the kernel.
func TestFarFutureUntil(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{})
	now := time.Now()
	far := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	c := event.Change{Add: []event.Decision{ban("192.0.2.1/32", far), ban("2001:db8::1/128", now.Add(200*365*24*time.Hour)), ban("198.51.100.0/24", far)}}
	if err := f.Apply(c, now); err != nil {
		t.Fatal(err)
	}
	want := prefixes("192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128")
	if got := mustList(t, f); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

// TestLargeChangeSpansTransactions applies and reconciles more addresses than
// one transaction carries (commitChunk): every address must be there after
// Apply, Reconcile must drop a stale address and keep all live ones, and a
// large delete must remove them all.
func TestLargeChangeSpansTransactions(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	f := newFirewall(t, fd, Options{})
	now := time.Now()
	n := commitChunk*2 + 100
	ds := decisions(n, now)
	stale := ban("203.0.113.7/32", now.Add(time.Hour))
	if err := f.Apply(event.Change{Add: append(ds[:n:n], stale)}, now); err != nil {
		t.Fatal(err)
	}
	has := func(p netip.Prefix) bool {
		t.Helper()
		a := p.Addr().As4()
		got, err := f.conn.FindSetElements(f.ban4, []nftables.SetElement{{Key: a[:]}})
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("find %s: %v", p, err)
		}
		return err == nil && len(got) == 1
	}
	probe := []int{0, commitChunk - 1, commitChunk, 2 * commitChunk, n - 1}
	for _, i := range probe {
		if !has(ds[i].Scope) {
			t.Fatalf("after Apply, kernel lacks %s (element %d of %d)", ds[i].Scope, i, n)
		}
	}
	if err := f.Reconcile(ds, now); err != nil {
		t.Fatal(err)
	}
	if has(stale.Scope) {
		t.Fatalf("after Reconcile, stale %s is still banned", stale.Scope)
	}
	for _, i := range probe {
		if !has(ds[i].Scope) {
			t.Fatalf("after Reconcile, kernel lacks %s", ds[i].Scope)
		}
	}
	del := make([]netip.Prefix, n)
	for i, d := range ds {
		del[i] = d.Scope
	}
	if err := f.Apply(event.Change{Delete: del}, now); err != nil {
		t.Fatal(err)
	}
	for _, i := range probe {
		if has(ds[i].Scope) {
			t.Fatalf("after the delete, kernel still holds %s", ds[i].Scope)
		}
	}
}
