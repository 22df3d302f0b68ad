package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/enforce/ipset"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/query"
)

// bouncerConfig is the Debian package's shipped crowdsec-firewall-bouncer
// configuration with its files in directory %[1]s, no daemon and no
// metrics. As shipped, it names neither the mode nor the key: the override
// file (bouncerOverride) does, as docs/firewall.md tells the operator.
const bouncerConfig = `mode: ${BACKEND}
pid_dir: %[1]s
update_frequency: 10s
daemonize: false
log_mode: file
log_dir: %[1]s
log_level: debug
api_url: http://127.0.0.1:8080/
api_key: ${API_KEY}
insecure_skip_verify: false
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
ipset_type: nethash
iptables_chains:
  - INPUT
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: true
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
`

// bouncerOverride is the crowdsec-firewall-bouncer.yaml.local of
// docs/firewall.md: mode, herd's address %[2]s, the key %[3]s from herd
// bouncers add, and a poll every 100ms.
const bouncerOverride = `mode: %[1]s
api_url: http://%[2]s/
api_key: %[3]s
update_frequency: 100ms
`

// The real crowdsec-firewall-bouncer (the Debian package, unmodified, set up
// with the override file of docs/firewall.md), run in a network namespace
// against the agent's local API, puts the bans added with herd decisions add
// into its own sets, and takes one out when its decision is deleted.
//
// In nftables mode the bouncer (0.0.25) keeps only the first address of a
// Range decision (its sets have no interval flag): herd's IPv6 /64 bans are
// not enforced whole that way, which docs/firewall.md says. The test checks
// single addresses there; in iptables mode (ipsets of type hash:net) it
// checks ranges too.
func TestCrowdsecFirewallBouncerNftables(t *testing.T) { testCrowdsecBouncer(t, "nftables") }

// The same in the bouncer's iptables mode, with ranges.
func TestCrowdsecFirewallBouncerIptables(t *testing.T) { testCrowdsecBouncer(t, "iptables") }

func testCrowdsecBouncer(t *testing.T, mode string) {
	herdtest.Skip(t)
	bin, err := exec.LookPath("crowdsec-firewall-bouncer")
	if err != nil {
		t.Skip("crowdsec-firewall-bouncer not found; install the Debian package crowdsec-firewall-bouncer to include this test")
	}
	tool := "nft"
	if mode == "iptables" {
		tool = "ipset"
	}
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not found; install it to include this test", tool)
	}
	name, fd := herdtest.NewNetns(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)

	// herd's API listens inside the namespace, on its loopback.
	var ln net.Listener
	if err := herdtest.Do(fd, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	key, err := query.AddBouncer(context.Background(), cfg, "firewall")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, APIListener: ln})
	// A ban live before the bouncer starts reaches it in its startup=true
	// answer; the others in later polls.
	early := netip.MustParsePrefix("203.0.113.9/32")
	if err := query.AddDecision(context.Background(), cfg, nil, early, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}

	bdir := t.TempDir()
	bcfg := filepath.Join(bdir, "crowdsec-firewall-bouncer.yaml")
	if err := os.WriteFile(bcfg, fmt.Appendf(nil, bouncerConfig, bdir), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bcfg+".local", fmt.Appendf(nil, bouncerOverride, mode, ln.Addr(), key), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", name, bin, "-c", bcfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(bdir, "crowdsec-firewall-bouncer.log"))
			t.Logf("bouncer output:\n%s\nbouncer log:\n%s\nagent log:\n%s", out, b, r.logs)
		}
	})

	// held lists what the bouncer's IPv4 and IPv6 sets hold, nil while
	// they do not exist.
	held := func() []netip.Prefix {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the bouncer exited: %v", err)
		default:
		}
		if mode == "iptables" {
			return ipsetElements(t, name, "crowdsec-blacklists", "crowdsec6-blacklists")
		}
		return append(nftSetElements(t, name, "ip crowdsec", "crowdsec-blacklists"), nftSetElements(t, name, "ip6 crowdsec6", "crowdsec6-blacklists")...)
	}
	waitFor(t, "the ban live at the bouncer's start in its sets", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return slices.Contains(held(), early)
	})
	bans := []netip.Prefix{netip.MustParsePrefix("192.0.2.55/32"), netip.MustParsePrefix("2001:db8:55::7/128")}
	if mode == "iptables" {
		bans = append(bans, netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:66::/64"))
	}
	for _, p := range bans {
		if err := query.AddDecision(context.Background(), cfg, nil, p, time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the bans in the bouncer's sets", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		h := held()
		for _, p := range bans {
			if !slices.Contains(h, p) {
				return false
			}
		}
		return true
	})
	if n, err := query.DeleteDecisions(context.Background(), cfg, bans[0]); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	waitFor(t, "the deleted ban out of the bouncer's set", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return !slices.Contains(held(), bans[0])
	})
	if h := held(); !slices.Contains(h, bans[1]) || !slices.Contains(h, early) {
		t.Errorf("the other bans went with the deleted one: %v", h)
	}
}

// ipsetElements lists the elements of ipsets in namespace ns, nil when one
// does not exist (yet).
func ipsetElements(t *testing.T, ns string, sets ...string) []netip.Prefix {
	t.Helper()
	out := []netip.Prefix{}
	for _, s := range sets {
		b, err := exec.Command("ip", "netns", "exec", ns, "ipset", "save", s).Output()
		if err != nil {
			return nil
		}
		ps, err := ipset.ParseSave(b, s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ps...)
	}
	return out
}

// nftSetElements lists the elements of an nftables set in namespace ns
// (nft -j), nil when the set does not exist (yet).
func nftSetElements(t *testing.T, ns, table, set string) []netip.Prefix {
	t.Helper()
	args := append([]string{"netns", "exec", ns, "nft", "-j", "list", "set"}, strings.Fields(table)...)
	args = append(args, set)
	b, err := exec.Command("ip", args...).Output()
	if err != nil {
		return nil
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("nft -j list set %s %s: %v: %s", table, set, err, b)
	}
	out := []netip.Prefix{}
	add := func(s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("nft -j list set %s %s: element %q: %v", table, set, s, err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			// An element is "192.0.2.1", or {"elem": {"val": "192.0.2.1", "timeout": ...}}.
			var s string
			if json.Unmarshal(e, &s) == nil {
				add(s)
				continue
			}
			var w struct {
				Elem struct {
					Val string `json:"val"`
				} `json:"elem"`
			}
			if json.Unmarshal(e, &w) == nil && w.Elem.Val != "" {
				add(w.Elem.Val)
			}
		}
	}
	return out
}
