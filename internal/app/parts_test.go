package app_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/app"
)

// TestAgentReleasesWhatItOpenedWhenAPartFails: when a part of the table
// cannot start (here the metrics listener, whose address is taken), the
// agent returns the error and has released everything the earlier parts
// opened: the local API's and the syslog receiver's sockets can be bound
// again at once, and the store can be opened again.
func TestAgentReleasesWhatItOpenedWhenAPartFails(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Firewall.Enabled = false
	free := func(network string) string {
		t.Helper()
		if network == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			return c.LocalAddr().String()
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	cfg.API.Listen = free("tcp")
	cfg.Syslog.UDP = free("udp")
	cfg.Syslog.TCP = free("tcp")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.Metrics.Listen = taken.Addr().String()

	err = app.RunAgent(context.Background(), app.AgentOptions{Config: cfg, DryRun: true})
	if err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("RunAgent with the metrics address taken returned %v, want the metrics listener's error", err)
	}
	for _, addr := range []string{cfg.API.Listen, cfg.Syslog.TCP} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still held after the failed start: %v", addr, err)
			continue
		}
		l.Close()
	}
	c, err := net.ListenPacket("udp", cfg.Syslog.UDP)
	if err != nil {
		t.Errorf("syslog UDP %s still held after the failed start: %v", cfg.Syslog.UDP, err)
	} else {
		c.Close()
	}
	openStore(t, cfg).Close()
}
