package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/store"
)

// runStdinAgent runs the agent on lines given on its standard input until
// their end, and returns its logs.
func runStdinAgent(t *testing.T, cfg *config.Config, lines string) string {
	t.Helper()
	out, logs := &syncBuffer{}, &syncBuffer{}
	err := app.RunAgent(context.Background(), app.AgentOptions{
		Config: cfg, DryRun: true, Stdout: out, Logger: newTestLogger(logs),
		Getenv: func(string) string { return "" },
		Stdin:  strings.NewReader(lines), StdinProgram: "sshd",
	})
	if err != nil {
		t.Fatalf("RunAgent: %v\n%s", err, logs)
	}
	return logs.String()
}

func TestAgentEnrichesAlertsWithGeoIP(t *testing.T) {
	dir := t.TempDir()
	geo := filepath.Join(dir, "geoip")
	os.Mkdir(geo, 0o755)
	if err := os.WriteFile(filepath.Join(geo, "asn-ipv4.csv"), []byte("192.0.2.0,192.0.2.255,64500,\"Example <b>Net</b>\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Timezone: "UTC",
		GeoIP:    config.GeoIP{Enabled: true, Dir: geo},
	}
	var lines strings.Builder
	for i := range 6 {
		fmt.Fprintf(&lines, "Failed password for root from 192.0.2.77 port %d ssh2\n", 40000+i)
	}
	logs := runStdinAgent(t, cfg, lines.String())
	if !strings.Contains(logs, "geoip enrichment on") {
		t.Errorf("no log line saying enrichment is on:\n%s", logs)
	}
	st := openStore(t, cfg)
	alerts, err := st.Alerts(context.Background(), store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 {
		t.Fatalf("no alert stored\n%s", logs)
	}
	for _, a := range alerts {
		if a.Geo.ASN != 64500 || a.Geo.ASOrg != "Example <b>Net</b>" {
			t.Errorf("alert %s geo %+v, want AS64500", a.Scenario, a.Geo)
		}
	}
}

func TestAgentWithoutGeoIPDatabaseSaysSoOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Timezone: "UTC",
		GeoIP:    config.GeoIP{Enabled: true, Dir: filepath.Join(dir, "absent")},
	}
	logs := runStdinAgent(t, cfg, "Failed password for root from 192.0.2.77 port 1 ssh2\n")
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "geoip") {
			n++
		}
	}
	if n != 1 || !strings.Contains(logs, "geoip enrichment off: no database") {
		t.Errorf("%d log lines about geoip, want one saying it is off:\n%s", n, logs)
	}
}
