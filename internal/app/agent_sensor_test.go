package app_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/query"
)

// With sensor: configured, the agent captures on the victim's interfaces:
// a scanner in a peer namespace connecting to many closed ports is seen
// on the wire, its probes become scan events, the sensor-portscan scenario
// overflows in the agent's detector and the ban reaches the victim's
// nftables set, as a log's ban would; a client of a single open port is
// not banned. The sensor's metrics are scraped.
func TestAgentSensorBansPortScanner(t *testing.T) {
	herdtest.Skip(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	lab := newVictimLab(t, logPath)
	fw := kernelView(t, lab.victim)
	cfg := testConfig(dir, logPath)
	cfg.Sensor.Enabled = true
	cfg.Sensor.Interfaces = []string{
		ifaceWith(t, lab.victim, netip.MustParseAddr("198.18.1.1")),
		ifaceWith(t, lab.victim, netip.MustParseAddr("198.18.2.1")),
	}
	cfg.Sensor.Filter = "tcp"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = ln.Addr().String()
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: lab.victim, FromStart: true, MetricsListener: ln})
	// The sensor starts after Ready (its part follows the log sources').
	waitFor(t, "the sensor's start", 10*time.Second, func() bool {
		return strings.Contains(r.logs.String(), "packet sensor")
	})
	if !strings.Contains(r.logs.String(), "packet sensor capturing") {
		t.Fatalf("the agent did not start the sensor:\n%s", r.logs)
	}
	// The benign client: one connection to the open port.
	if err := herdtest.Dial(lab.by, lab.toBy, 2*time.Second); err != nil {
		t.Fatalf("the client cannot connect: %v", err)
	}
	// The scanner: connection attempts to 40 closed ports, each refused.
	refused := 0
	for port := 1; port <= 40; port++ {
		if herdtest.Dial(lab.attacker, netip.AddrPortFrom(lab.toAttacker.Addr(), uint16(port)), 300*time.Millisecond) != nil {
			refused++
		}
	}
	if refused != 40 {
		t.Fatalf("%d of 40 probes refused; want all (the ports are closed)", refused)
	}
	scanner := netip.PrefixFrom(lab.attackerAddr, 32)
	// A refused probe's flow ends after the reset's linger (10 s), then
	// within a sweep (1 s).
	waitFor(t, "the scanner's ban in nftables", 30*time.Second, func() bool { return holds(t, fw, scanner) })
	if holds(t, fw, netip.MustParsePrefix("198.18.2.2/32")) {
		t.Error("the single-port client is banned")
	}
	if err := herdtest.Dial(lab.attacker, lab.toAttacker, 500*time.Millisecond); err == nil {
		t.Error("the scanner still connects after the ban")
	}
	if !strings.Contains(r.out.String()+r.logs.String(), "sensor-portscan") {
		t.Errorf("no sensor-portscan alert in the agent's output:\n%s", r.logs)
	}
	s, err := metrics.Fetch(t.Context(), http.DefaultClient, "http://"+ln.Addr().String()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Sum(metrics.SensorPackets); n < 80 {
		t.Errorf("%v packets captured; want at least the 40 probes and their resets", n)
	}
	if n := s.Sum(metrics.SensorAlerts); n < 1 {
		t.Errorf("%v sensor alerts", n)
	}
	if n := s.Sum(metrics.SensorEvents); n < 40 {
		t.Errorf("%v sensor events; want one per probe at least", n)
	}
	var out bytes.Buffer
	st := query.GetStatus(t.Context(), cfg, query.StatusOptions{NetNS: lab.victim})
	if err := query.WriteStatus(&out, st, false); err != nil {
		t.Fatal(err)
	}
	if st.Sensor == nil || !st.Sensor.Capturing || st.Sensor.Packets < 80 || !strings.Contains(out.String(), "sensor     capturing on ") {
		t.Errorf("herd status does not show the sensor capturing: %+v\n%s", st.Sensor, out.String())
	}
}

// Without the rights to capture (or with no such interface), the agent
// says why and runs on its logs.
func TestAgentSensorCannotOpen(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Enabled = false
	cfg.Sensor.Enabled = true
	cfg.Sensor.Interfaces = []string{"herdnosuch0"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = ln.Addr().String()
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, MetricsListener: ln})
	waitFor(t, "the sensor's log line", 10*time.Second, func() bool {
		return strings.Contains(r.logs.String(), "packet sensor")
	})
	if !strings.Contains(r.logs.String(), "packet sensor not started") || !strings.Contains(r.logs.String(), "herdnosuch0") {
		t.Fatalf("no log line saying the sensor did not start and why:\n%s", r.logs)
	}
	var out bytes.Buffer
	if err := query.WriteStatus(&out, query.GetStatus(t.Context(), cfg, query.StatusOptions{}), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sensor     configured on herdnosuch0 but not capturing") {
		t.Errorf("herd status does not say the sensor is not capturing:\n%s", out.String())
	}
}

// A sensor filter that does not compile is a mistake in the configuration:
// the agent stops at start and says which key.
func TestAgentSensorBadFilterStops(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Enabled = false
	cfg.Sensor = config.Sensor{Enabled: true, Interfaces: []string{"lo"}, Filter: "tcp and frobnicate"}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := app.RunAgent(ctx, app.AgentOptions{Config: cfg, DryRun: true, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "sensor.filter") {
		t.Fatalf("RunAgent returned %v; want an error naming sensor.filter", err)
	}
}
