package app_test

import (
	"context"
	"errors"
	"github.com/herd-ips/herd/internal/enforce/backend"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce/ipset"
	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/query"
)

func skipWithoutIpset(t *testing.T) {
	t.Helper()
	if ok, missing := ipset.Available(false); !ok {
		t.Skipf("%s not found; install ipset and iptables to include this test", missing)
	}
}

// With firewall.backend: iptables the agent bans through ipsets and an
// iptables chain: the attacker is dropped, the bystander is not, and a
// decision deleted in the store is lifted.
func TestAgentIptablesBackend(t *testing.T) {
	herdtest.Skip(t)
	skipWithoutIpset(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	lab := newVictimLab(t, logPath)
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Backend = config.BackendIptables
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: lab.victim, FromStart: true})
	if !strings.Contains(r.logs.String(), "backend=iptables") {
		t.Fatalf("the agent did not take the iptables backend:\n%s", r.logs)
	}
	t.Cleanup(func() {
		if err := ipset.Remove(ipset.Options{NetNS: lab.victim}); err != nil {
			t.Error(err)
		}
	})
	for i := range 6 {
		if err := herdtest.Dial(lab.attacker, lab.toAttacker, 2*time.Second); err != nil {
			t.Fatalf("attempt %d refused before the ban: %v", i+1, err)
		}
	}
	banned := netip.PrefixFrom(lab.attackerAddr, 32)
	view := &ipsetView{t: t, fd: lab.victim}
	waitFor(t, "the attacker in herd-ban4", 10*time.Second, func() bool { return view.holds(banned) })
	if err := herdtest.Dial(lab.attacker, lab.toAttacker, 500*time.Millisecond); err == nil {
		t.Error("the attacker still connects after the ban")
	}
	if err := herdtest.Dial(lab.by, lab.toBy, 2*time.Second); err != nil {
		t.Errorf("the bystander cannot connect: %v", err)
	}

	// A ban added and deleted through the store (herd decisions add/delete)
	// reaches the kernel and leaves it.
	by := netip.MustParsePrefix("198.18.2.2/32")
	if err := query.AddDecision(context.Background(), cfg, nil, by, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added ban in herd-ban4", 10*time.Second, func() bool { return view.holds(by) })
	if err := herdtest.Dial(lab.by, lab.toBy, 500*time.Millisecond); err == nil {
		t.Error("the source banned with decisions add still connects")
	}
	if n, err := query.DeleteDecisions(context.Background(), cfg, by); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	waitFor(t, "the ban lifted", 10*time.Second, func() bool { return !view.holds(by) })
	if err := herdtest.Dial(lab.by, lab.toBy, 2*time.Second); err != nil {
		t.Errorf("the source is still dropped after the decision's deletion: %v", err)
	}
	if !view.holds(banned) {
		t.Error("the attacker's ban went with the other one")
	}
}

// ipsetView reads herd-ban4 in a namespace with ipset save.
type ipsetView struct {
	t  *testing.T
	fd int
}

// holds reports whether herd-ban4 holds p, false when the set is absent.
func (v *ipsetView) holds(p netip.Prefix) bool {
	var out []byte
	err := herdtest.Do(v.fd, func() (err error) {
		out, err = exec.Command("ipset", "save", "herd-ban4").Output()
		return err
	})
	if err != nil {
		return false
	}
	got, err := ipset.ParseSave(out, "herd-ban4")
	if err != nil {
		v.t.Fatal(err)
	}
	return slices.Contains(got, p)
}

// herd firewall remove deletes what both backends created and leaves no
// trace of herd in nft, iptables-save, ip6tables-save or ipset list.
func TestRemoveFirewallCleansBothBackends(t *testing.T) {
	name, fd := herdtest.NewNetns(t)
	skipWithoutIpset(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not found; install nftables to include this test")
	}
	nf, err := nft.New(nft.Options{NetNS: fd, Forward: true})
	if errors.Is(err, nft.ErrNotSupported) {
		t.Skipf("nftables not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = nf.Close()
	if _, err := ipset.New(ipset.Options{NetNS: fd, Forward: true}); err != nil {
		t.Fatal(err)
	}
	before := herdtest.Exec(t, name, "ipset", "list", "-n") + herdtest.Exec(t, name, "iptables-save") + herdtest.Exec(t, name, "nft", "list", "ruleset")
	for _, want := range []string{"herd-ban4", "-A INPUT -j HERD", "table inet herd"} {
		if !strings.Contains(before, want) {
			t.Fatalf("setup: %q missing:\n%s", want, before)
		}
	}
	cfg := &config.Config{Firewall: config.Firewall{Enabled: true, Table: "herd"}}
	var removed string
	if err := herdtest.Do(fd, func() (err error) {
		removed, err = backend.Remove(cfg.Firewall.Table)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(removed, "nftables") || !strings.Contains(removed, "ipsets") {
		t.Errorf("backend.Remove says %q, want both backends named", removed)
	}
	for _, cmd := range [][]string{{"ipset", "list", "-n"}, {"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		if out := herdtest.Exec(t, name, cmd...); strings.Contains(strings.ToLower(out), "herd") {
			t.Errorf("%v after herd firewall remove:\n%s", cmd, out)
		}
	}
}

// When the configured backend cannot be used (here: iptables forced, its
// tools not on PATH) the agent runs dry and says why, rather than failing
// or enforcing nothing silently.
func TestAgentBackendUnusableRunsDry(t *testing.T) {
	herdtest.Skip(t) // as root, so that the backend is tried
	_, fd := herdtest.NewNetns(t)
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Backend = config.BackendIptables
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd})
	logs := r.logs.String()
	if !strings.Contains(logs, "no firewall backend usable; running dry") || !strings.Contains(logs, "not found") {
		t.Fatalf("no clear message about the unusable backend:\n%s", logs)
	}
	if err := query.AddDecision(context.Background(), cfg, nil, netip.MustParsePrefix("192.0.2.99/32"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dry-run print", 5*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.99/32 ") })
}

// With the iptables backend too, a restarted agent has every live ban back
// in the kernel (after herd firewall remove, say) before it reads a line.
func TestAgentIptablesRestoresBansBeforeReading(t *testing.T) {
	herdtest.Skip(t)
	skipWithoutIpset(t)
	_, fd := herdtest.NewNetns(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Backend = config.BackendIptables
	t.Cleanup(func() {
		if err := ipset.Remove(ipset.Options{NetNS: fd}); err != nil {
			t.Error(err)
		}
	})
	attacker := netip.MustParseAddr("192.0.2.77")
	banned := netip.PrefixFrom(attacker, 32)
	view := &ipsetView{t: t, fd: fd}

	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true})
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the ban", 10*time.Second, func() bool { return view.holds(banned) })
	r.stop(t)

	if err := ipset.Remove(ipset.Options{NetNS: fd}); err != nil {
		t.Fatal(err)
	}
	var atReady bool
	startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true, Ready: func() {
		atReady = view.holds(banned)
	}})
	if !atReady {
		t.Error("the ban was not back in the kernel before the agent read a line")
	}
}
