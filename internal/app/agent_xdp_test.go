package app_test

import (
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/enforce/xdp"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/metrics"
)

// With xdp: configured, the agent attaches the XDP filter beside nftables
// and feeds it the same decisions: the attacker's packets are dropped at
// the driver (the XDP counter rises), the bystander's pass, and the
// filter's metrics are scraped.
func TestAgentXDPFilter(t *testing.T) {
	herdtest.Skip(t)
	if err := xdp.Probe(); err != nil {
		t.Skipf("this kernel does not allow XDP here: %v", err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	lab := newVictimLab(t, logPath)
	kernelView(t, lab.victim)
	cfg := testConfig(dir, logPath)
	cfg.XDP.Enabled = true
	cfg.XDP.Interfaces = []string{ifaceWith(t, lab.victim, netip.MustParseAddr("198.18.1.1"))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = ln.Addr().String()
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: lab.victim, FromStart: true, MetricsListener: ln})
	if !strings.Contains(r.logs.String(), "XDP filter attached") {
		t.Fatalf("the agent did not attach the XDP filter:\n%s", r.logs)
	}
	for i := range 6 {
		if err := herdtest.Dial(lab.attacker, lab.toAttacker, 2*time.Second); err != nil {
			t.Fatalf("attempt %d refused before the ban: %v", i+1, err)
		}
	}
	scrape := func() metrics.Scrape {
		s, err := metrics.Fetch(t.Context(), http.DefaultClient, "http://"+ln.Addr().String()+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitFor(t, "the ban in the XDP filter", 10*time.Second, func() bool { return scrape().Sum(metrics.XDPPrefixes) == 1 })
	if err := herdtest.Dial(lab.attacker, lab.toAttacker, 500*time.Millisecond); err == nil {
		t.Error("the attacker still connects after the ban")
	}
	if n := scrape().Sum(metrics.XDPDropped); n == 0 {
		t.Error("the XDP filter counted no drop: the attacker's packets did not meet it")
	}
	if err := herdtest.Dial(lab.by, lab.toBy, 2*time.Second); err != nil {
		t.Errorf("the bystander cannot connect: %v", err)
	}
}

// ifaceWith names the interface of namespace fd that holds address a.
func ifaceWith(t *testing.T, fd int, a netip.Addr) string {
	t.Helper()
	var name string
	err := herdtest.Do(fd, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			addrs, _ := i.Addrs()
			for _, ad := range addrs {
				if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr() == a {
					name = i.Name
				}
			}
		}
		return nil
	})
	if err != nil || name == "" {
		t.Fatalf("no interface holds %s: %v", a, err)
	}
	return name
}
