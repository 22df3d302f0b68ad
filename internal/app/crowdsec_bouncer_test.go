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
	"github.com/herd-ips/herd/internal/herdtest"
)

// bouncerConfig is a crowdsec-firewall-bouncer configuration in nftables
// mode polling herd at api every 100ms, with the table and set names of the
// Debian package's shipped configuration.
const bouncerConfig = `mode: nftables
pid_dir: %[1]s
update_frequency: 100ms
daemonize: false
log_mode: file
log_dir: %[1]s
log_level: debug
api_url: http://%[2]s/
api_key: %[3]s
insecure_skip_verify: false
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
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

// The real crowdsec-firewall-bouncer (the Debian package, unmodified), run
// in a network namespace against the agent's local API, puts a ban added
// with herd decisions add into its own nftables set, and takes it out when
// the decision is deleted.
func TestCrowdsecFirewallBouncer(t *testing.T) {
	herdtest.Skip(t)
	bin, err := exec.LookPath("crowdsec-firewall-bouncer")
	if err != nil {
		t.Skip("crowdsec-firewall-bouncer not found; install the Debian package crowdsec-firewall-bouncer to include this test")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not found; install nftables to include this test")
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
	key, err := app.AddBouncer(context.Background(), cfg, "firewall")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, APIListener: ln})

	bdir := t.TempDir()
	bcfg := filepath.Join(bdir, "crowdsec-firewall-bouncer.yaml")
	if err := os.WriteFile(bcfg, fmt.Appendf(nil, bouncerConfig, bdir, ln.Addr(), key), 0o600); err != nil {
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
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(filepath.Join(bdir, "crowdsec-firewall-bouncer.log"))
			t.Logf("bouncer output:\n%s\nbouncer log:\n%s\nagent log:\n%s", out, b, r.logs)
		}
	})

	set := func(table, set string) []string {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the bouncer exited: %v", err)
		default:
		}
		return nftSetElements(t, name, table, set)
	}
	v4 := netip.MustParsePrefix("192.0.2.55/32")
	v6 := netip.MustParsePrefix("2001:db8:55::7/128")
	waitFor(t, "the bouncer's table", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return set("ip crowdsec", "crowdsec-blacklists") != nil
	})
	for _, p := range []netip.Prefix{v4, v6} {
		if err := app.AddDecision(context.Background(), cfg, p, time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the bans in the bouncer's sets", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return slices.Contains(set("ip crowdsec", "crowdsec-blacklists"), "192.0.2.55") &&
			slices.Contains(set("ip6 crowdsec6", "crowdsec6-blacklists"), "2001:db8:55::7")
	})
	if n, err := app.DeleteDecisions(context.Background(), cfg, v4); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	waitFor(t, "the deleted ban out of the bouncer's set", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return !slices.Contains(set("ip crowdsec", "crowdsec-blacklists"), "192.0.2.55")
	})
	if !slices.Contains(set("ip6 crowdsec6", "crowdsec6-blacklists"), "2001:db8:55::7") {
		t.Error("the IPv6 ban went with the deleted IPv4 one")
	}
}

// nftSetElements lists the addresses of an nftables set in namespace ns
// (nft -j), nil when the set does not exist (yet).
func nftSetElements(t *testing.T, ns, table, set string) []string {
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
	out := []string{}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			// An element is "192.0.2.1", or {"elem": {"val": "192.0.2.1", "timeout": ...}}.
			var s string
			if json.Unmarshal(e, &s) == nil {
				out = append(out, s)
				continue
			}
			var w struct {
				Elem struct {
					Val string `json:"val"`
				} `json:"elem"`
			}
			if json.Unmarshal(e, &w) == nil && w.Elem.Val != "" {
				out = append(out, w.Elem.Val)
			}
		}
	}
	return out
}
