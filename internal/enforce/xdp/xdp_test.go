package xdp_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/enforce/xdp"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// pair is two namespaces joined by a veth pair: a sender (10.77.0.1,
// fd77::1) and a receiver (10.77.0.2, fd77::2) whose veth end carries the
// XDP program.
type pair struct {
	nsA, nsB string
	fdA, fdB int
	dev      string // the receiver's veth end
}

func newPair(t testing.TB) pair {
	t.Helper()
	var p pair
	p.nsA, p.fdA = herdtest.NewNetns(t)
	p.nsB, p.fdB = herdtest.NewNetns(t)
	herdtest.Veth(t, p.nsA, p.nsB, netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("10.77.0.2/24"))
	herdtest.Exec(t, p.nsA, "ip", "addr", "add", "fd77::1/64", "dev", vethIn(t, p.fdA), "nodad")
	p.dev = vethIn(t, p.fdB)
	herdtest.Exec(t, p.nsB, "ip", "addr", "add", "fd77::2/64", "dev", p.dev, "nodad")
	return p
}

// vethIn names the one interface but loopback in namespace fd.
func vethIn(t testing.TB, fd int) string {
	t.Helper()
	var name string
	err := herdtest.Do(fd, func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				name = i.Name
			}
		}
		return err
	})
	if err != nil || name == "" {
		t.Fatalf("no veth in namespace: %v", err)
	}
	return name
}

func open(t *testing.T, p pair, native bool) *xdp.Filter {
	t.Helper()
	f, err := xdp.New(xdp.Options{Interfaces: []string{p.dev}, NetNS: p.fdB, Native: native})
	if errors.Is(err, xdp.ErrNotSupported) {
		t.Skipf("this kernel does not allow XDP here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func ban(s string) event.Decision {
	return event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix(s), Scenario: "test"}
}

const (
	reach   = 3 * time.Second
	blocked = 400 * time.Millisecond
)

func TestDropsListedSources(t *testing.T) {
	for _, native := range []bool{false, true} {
		name := "generic"
		if native {
			name = "native"
		}
		t.Run(name, func(t *testing.T) {
			p := newPair(t)
			f := open(t, p, native)
			srv4 := herdtest.Listen(t, p.fdB, "10.77.0.2:0")
			srv6 := herdtest.Listen(t, p.fdB, "[fd77::2]:0")
			now := time.Unix(1_800_000_000, 0)

			// Nothing listed: both families pass.
			if err := f.Reconcile(nil, now); err != nil {
				t.Fatal(err)
			}
			mustReach(t, p.fdA, srv4)
			mustReach(t, p.fdA, srv6)

			// An unlisted source passes; a listed one does not.
			if err := f.Apply(event.Change{Add: []event.Decision{ban("10.99.0.0/16"), ban("fd99::/32")}}, now); err != nil {
				t.Fatal(err)
			}
			mustReach(t, p.fdA, srv4)
			mustReach(t, p.fdA, srv6)
			if err := f.Apply(event.Change{Add: []event.Decision{ban("10.77.0.0/24"), ban("fd77::1/128")}}, now); err != nil {
				t.Fatal(err)
			}
			mustNotReach(t, p.fdA, srv4)
			mustNotReach(t, p.fdA, srv6)
			s, err := f.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if s.Dropped4 == 0 || s.Dropped6 == 0 {
				t.Errorf("drops counted %+v, want both families above zero", s)
			}
			if s.Entries4 != 2 || s.Entries6 != 2 {
				t.Errorf("entries %+v, want 2 and 2", s)
			}

			// Unbanning restores traffic.
			if err := f.Apply(event.Change{Delete: []netip.Prefix{netip.MustParsePrefix("10.77.0.0/24"), netip.MustParsePrefix("fd77::1/128")}}, now); err != nil {
				t.Fatal(err)
			}
			mustReach(t, p.fdA, srv4)
			mustReach(t, p.fdA, srv6)

			// Reconcile installs exactly the live set: the /24 back in,
			// the unrelated prefixes out; a v4-mapped scope counts as IPv4.
			if err := f.Reconcile([]event.Decision{ban("::ffff:10.77.0.1/128")}, now); err != nil {
				t.Fatal(err)
			}
			mustNotReach(t, p.fdA, srv4)
			mustReach(t, p.fdA, srv6)
			s, _ = f.Stats()
			if s.Entries4 != 1 || s.Entries6 != 0 {
				t.Errorf("after reconcile: entries %+v, want 1 and 0", s)
			}
		})
	}
}

func TestCloseDetaches(t *testing.T) {
	p := newPair(t)
	f, err := xdp.New(xdp.Options{Interfaces: []string{p.dev}, NetNS: p.fdB})
	if errors.Is(err, xdp.ErrNotSupported) {
		t.Skipf("this kernel does not allow XDP here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := herdtest.Listen(t, p.fdB, "10.77.0.2:0")
	if err := f.Apply(event.Change{Add: []event.Decision{ban("10.77.0.1/32")}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, p.fdA, srv)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustReach(t, p.fdA, srv)
	if out := herdtest.Exec(t, p.nsB, "ip", "link", "show", p.dev); strings.Contains(out, "xdp") {
		t.Errorf("program still attached after Close: %s", out)
	}
}

func TestNoInterface(t *testing.T) {
	if _, err := xdp.New(xdp.Options{}); err == nil {
		t.Error("New without interfaces succeeded")
	}
}

func mustReach(t *testing.T, fd int, a netip.AddrPort) {
	t.Helper()
	if err := herdtest.Dial(fd, a, reach); err != nil {
		t.Errorf("%s unreachable, want reachable: %v", a, err)
	}
}

func mustNotReach(t *testing.T, fd int, a netip.AddrPort) {
	t.Helper()
	if err := herdtest.Dial(fd, a, blocked); err == nil {
		t.Errorf("%s reachable, want dropped", a)
	}
}

// Simulated, non-ban and expired decisions never reach the tries, as with
// nftables.
func TestSkipsWhatIsNotABan(t *testing.T) {
	p := newPair(t)
	f := open(t, p, false)
	now := time.Unix(1_800_000_000, 0)
	sim := ban("10.1.0.1/32")
	sim.Simulated = true
	captcha := ban("10.1.0.2/32")
	captcha.Type = event.Captcha
	expired := ban("10.1.0.3/32")
	expired.Until = now.Add(-time.Second)
	live := ban("10.1.0.4/32")
	live.Until = now.Add(time.Hour)
	if err := f.Apply(event.Change{Add: []event.Decision{sim, captcha, expired, live}}, now); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.Stats(); s.Entries4 != 1 {
		t.Errorf("Apply: %d entries, want only the live ban", s.Entries4)
	}
	if err := f.Reconcile([]event.Decision{sim, captcha, expired}, now); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.Stats(); s.Entries4 != 0 {
		t.Errorf("Reconcile: %d entries, want none", s.Entries4)
	}
}
