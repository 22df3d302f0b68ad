package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/rules"
)

// decoy is the address an attacker wants banned (a resolver, a customer).
var decoy = netip.MustParseAddr("203.0.113.66")

// phpStderr is an nginx error-log record whose PHP message carried raw
// newlines, each followed by a forged sshd line naming the decoy.
func phpStderr(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s [error] 2035#2035: *%d FastCGI sent in stderr: "PHP message: PHP Warning:  bad login`, time.Now().UTC().Format("2006/01/02 15:04:05"), n)
	for i := range 6 {
		fmt.Fprintf(&b, "\n%s host sshd[1]: Failed password for root from %s port %d ssh2", time.Now().UTC().Format(time.Stamp), decoy, 1000+i)
	}
	b.WriteString(`" while reading response header from upstream, client: 192.0.2.50, server: example.org` + "\n")
	return b.String()
}

func TestFormatNamesAgree(t *testing.T) {
	for _, n := range config.FormatNames {
		if _, detect, err := detect.ParseFormat(n); err != nil || detect {
			t.Errorf("config format %q: %v (detect %v)", n, err, detect)
		}
	}
	for _, n := range detect.FormatNames() {
		if !slices.Contains(config.FormatNames, n) {
			t.Errorf("format %q is missing from config.FormatNames", n)
		}
	}
	if _, _, err := detect.ParseFormat("any"); err == nil {
		t.Error(`ParseFormat("any"): no error`)
	}
}

// TestAgentFormatPerFile: one source holds an nginx error log and an
// auth.log (as dist/herd.yaml's example does). Each file is bound to its own
// detected format, so the sshd lines PHP wrote into the error log are
// continuations, never sshd's, while auth.log's are.
func TestAgentFormatPerFile(t *testing.T) {
	dir := t.TempDir()
	errLog := filepath.Join(dir, "error.log")
	authLog := filepath.Join(dir, "auth.log")
	appendLine(t, errLog, time.Now().UTC().Format("2006/01/02 15:04:05")+" [notice] 1#1: start worker processes\n")
	appendLine(t, authLog, "")
	cfg := testConfig(dir, authLog)
	cfg.Sources[0].Files = []string{errLog, authLog}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, MetricsListener: ln})
	for i := range 3 {
		appendLine(t, errLog, phpStderr(i))
	}
	attacker := netip.MustParseAddr("192.0.2.7")
	for i := range 6 {
		appendLine(t, authLog, sshdLine(attacker, 40000+i))
	}
	waitFor(t, "the attacker's ban", 10*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.7/32 ") })
	// Each PHP record left 6 continuation lines (the forged ones, the last
	// with nginx's closing text), counted as dropped for that reason.
	waitFor(t, "the continuations counted", 10*time.Second, func() bool {
		sc, err := metrics.Fetch(t.Context(), http.DefaultClient, "http://"+ln.Addr().String()+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return sc.Sum(metrics.LinesDropped, "source", errLog, "reason", "continuation") == 18
	})
	time.Sleep(3 * app.FlushInterval)
	r.stop(t)
	if strings.Contains(r.out.String(), decoy.String()) {
		t.Errorf("the decoy named in the error log's continuation lines was banned:\n%s", r.out)
	}
	for _, want := range []string{"path=" + errLog + " format=\"nginx-error (detected)\"", "path=" + authLog + " format=\"syslog (detected)\""} {
		if !strings.Contains(r.logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, r.logs)
		}
	}
	// herd status tells the same formats.
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	ff, err := query.FileFormats(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	want := []query.FileFormat{{Path: errLog, Format: "nginx-error", How: "detected"}, {Path: authLog, Format: "syslog", How: "detected"}}
	if !slices.Equal(ff, want) {
		t.Errorf("FileFormats = %+v, want %+v", ff, want)
	}
	var out bytes.Buffer
	if err := query.WriteStatus(&out, query.GetStatus(context.Background(), cfg, query.StatusOptions{}), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), errLog+": nginx-error (detected)") {
		t.Errorf("herd status does not report the format:\n%s", out.String())
	}
}

// loggerEntry is what `logger -t sshd ...` run by user 1000 leaves in the
// journal: the identifier it chose, and journald's own fields that say who
// wrote it.
func loggerEntry(n int, src netip.Addr) string {
	return fmt.Sprintf(`{"__CURSOR":"s=739ad463;i=%x;b=6c7c;m=13c2;t=5f1b;x=8d4b","__REALTIME_TIMESTAMP":"%d","_HOSTNAME":"victim","SYSLOG_IDENTIFIER":"sshd","_PID":"999","_UID":"1000","_COMM":"logger","_EXE":"/usr/bin/logger","_SYSTEMD_UNIT":"session-3.scope","MESSAGE":"Failed password for root from %s port %d ssh2"}`+"\n",
		n, time.Now().UnixMicro(), src, 40000+n)
}

// TestAgentJournalLogger: a local user's `logger -t sshd` entries never
// make herd ban the address they name; sshd's own entries still do.
func TestAgentJournalLogger(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(bin, []byte(fakeJournalctl), 0o755); err != nil {
		t.Fatal(err)
	}
	entries := filepath.Join(dir, "entries.json")
	for i := range 12 {
		appendLine(t, entries, loggerEntry(i+1, decoy))
	}
	attacker := netip.MustParseAddr("192.0.2.7")
	for i := range 6 {
		appendLine(t, entries, journalEntry(13+i, attacker))
	}
	cfg := &config.Config{
		Database: config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Firewall: config.Firewall{Enabled: true, Table: "herd"},
		Journald: config.Journald{Enabled: true},
		Timezone: "UTC",
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, JournalCommand: []string{bin}})
	waitFor(t, "the attacker's ban", 10*time.Second, func() bool { return strings.Contains(r.out.String(), "ban 192.0.2.7/32 ") })
	time.Sleep(3 * app.FlushInterval)
	r.stop(t)
	if strings.Contains(r.out.String(), decoy.String()) {
		t.Errorf("logger -t sshd entries banned the decoy:\n%s", r.out)
	}
}

// TestReplayFormat: replay detects each input's format on its own and never
// per line; --format forces one for every input.
func TestReplayFormat(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	var errLog strings.Builder
	errLog.WriteString("2026/11/23 08:00:00 [notice] 1#1: start worker processes\n")
	for i := range 4 {
		errLog.WriteString(phpStderr(i))
	}
	run := func(format string) (query.ReplayStats, string) {
		d, err := detect.New(detect.Options{Rules: set, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		st, err := query.Replay(context.Background(), query.ReplayOptions{
			Detector: d, Format: format, Out: &out,
			Inputs: []query.Input{{Name: "error.log", R: strings.NewReader(errLog.String()), Size: -1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return st, out.String()
	}
	st, out := run("")
	if strings.Contains(out, decoy.String()) || st.Events != 0 {
		t.Errorf("detected: %d events, alerts:\n%s", st.Events, out)
	}
	if st.Continuations != 24 || len(st.Formats) != 1 || st.Formats[0].Binding.String() != "nginx-error (detected)" {
		t.Errorf("detected: %d continuations, formats %+v", st.Continuations, st.Formats)
	}
	// Forced to syslog (wrongly), the same text is read as syslog: the
	// flag is obeyed, and says so.
	st, out = run("syslog")
	if !strings.Contains(out, decoy.String()) || st.Formats[0].Binding.String() != "syslog (configured)" {
		t.Errorf("--format syslog: %+v\n%s", st.Formats, out)
	}
}
