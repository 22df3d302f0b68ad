package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/store"
)

// fakeJournalctl is a shell script standing in for journalctl: it records
// its arguments, prints the entries of the file entries.json (all of them,
// or only those after the entry whose cursor --after-cursor names), then
// follows forever as journalctl --follow does.
const fakeJournalctl = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/args"
after=
while [ $# -gt 0 ]; do
	case "$1" in --after-cursor) after=$2; shift;; esac
	shift
done
if [ -z "$after" ]; then
	cat "$dir/entries.json"
else
	awk -v c="\"__CURSOR\":\"$after\"" 'seen { print } index($0, c) { seen = 1 }' "$dir/entries.json"
fi
exec sleep 3600
`

// journalEntry is sshd's failed password as journalctl -o json prints it,
// stamped now.
func journalEntry(n int, src netip.Addr) string {
	return fmt.Sprintf(`{"__CURSOR":"s=739ad463;i=%x;b=6c7c;m=13c2;t=5f1b;x=8d4b","__REALTIME_TIMESTAMP":"%d","_HOSTNAME":"victim","SYSLOG_IDENTIFIER":"sshd","_PID":"4242","_COMM":"sshd","_SYSTEMD_UNIT":"ssh.service","MESSAGE":"Failed password for root from %s port %d ssh2"}`+"\n",
		n, time.Now().UnixMicro(), src, 40000+n)
}

// TestAgentJournald runs the dry-run agent on a fake journalctl that prints
// six failed passwords from one address: the ban is printed and the cursor
// of the last entry saved; a restart passes it to --after-cursor and reads
// only the later entries.
func TestAgentJournald(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(bin, []byte(fakeJournalctl), 0o755); err != nil {
		t.Fatal(err)
	}
	entries := filepath.Join(dir, "entries.json")
	attacker := netip.MustParseAddr("192.0.2.7")
	for i := range 6 {
		appendLine(t, entries, journalEntry(i+1, attacker))
	}
	cfg := &config.Config{
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Firewall: config.Firewall{Enabled: true, Table: "herd"},
		Journald: config.Journald{Enabled: true, Units: []string{"ssh.service"}},
		Timezone: "UTC",
	}

	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, JournalCommand: []string{bin}})
	waitFor(t, "the dry-run ban", 10*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.7/32 ") })
	time.Sleep(3 * app.FlushInterval)
	r.stop(t)

	st := openStore(t, cfg)
	ctx := context.Background()
	wantCursor := "s=739ad463;i=6;b=6c7c;m=13c2;t=5f1b;x=8d4b"
	if got := journalCursor(t, st); got != wantCursor {
		t.Fatalf("saved cursor = %q, want %q", got, wantCursor)
	}
	alerts, err := st.Alerts(ctx, store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	nAlerts := len(alerts)
	if nAlerts == 0 {
		t.Fatal("no alert stored")
	}

	// Later entries from another address; the restart must read only these.
	second := netip.MustParseAddr("192.0.2.8")
	for i := range 6 {
		appendLine(t, entries, journalEntry(7+i, second))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r2 := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, JournalCommand: []string{bin}, MetricsListener: ln})
	waitFor(t, "the second ban", 10*time.Second, func() bool { return strings.Contains(r2.out.String(), "ban 192.0.2.8/32 ") })
	// The metrics count the journal's entries under source="journald":
	// the six read after the cursor, none before.
	sc, err := metrics.Fetch(ctx, http.DefaultClient, "http://"+ln.Addr().String()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n := sc.Sum(metrics.LinesRead, "source", "journald"); n != 6 || sc.Sum(metrics.LinesRead) != 6 {
		t.Errorf("%s{source=journald} = %v (all sources %v), want 6", metrics.LinesRead, n, sc.Sum(metrics.LinesRead))
	}
	time.Sleep(3 * app.FlushInterval)
	r2.stop(t)

	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	starts := strings.Split(strings.TrimSpace(string(args)), "\n")
	want := []string{
		"-o json --follow -n 0 --unit ssh.service",
		"-o json --follow --no-tail --after-cursor " + wantCursor + " --unit ssh.service",
	}
	if len(starts) != 2 || starts[0] != want[0] || starts[1] != want[1] {
		t.Errorf("journalctl started with %q, want %q", starts, want)
	}
	alerts, err = st.Alerts(ctx, store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts[:len(alerts)-nAlerts] {
		if a.Source == attacker {
			t.Errorf("entries before the saved cursor were read again: %+v", a)
		}
	}
	if got := journalCursor(t, st); got != "s=739ad463;i=c;b=6c7c;m=13c2;t=5f1b;x=8d4b" {
		t.Errorf("cursor after the restart = %q", got)
	}
}

func journalCursor(t *testing.T, st *store.Store) string {
	t.Helper()
	offs, err := st.Offsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		if o.Source == "journald" {
			return o.Cursor
		}
	}
	return ""
}
