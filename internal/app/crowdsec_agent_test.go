package app_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

// crowdsecAgentConfig is a CrowdSec agent's config.yaml for a run with
// -no-api: its files under %[1]s, the package's hub %[2]s, logs to stdout,
// no Prometheus listener. %[1]s/etc/local_api_credentials.yaml names herd's
// local API and the machine's credentials (docs/migrating.md).
const crowdsecAgentConfig = `common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: %[1]s/etc/
  data_dir: %[1]s/data/
  simulation_path: %[1]s/etc/simulation.yaml
  hub_dir: %[2]s/
  index_path: %[2]s/.index.json
crowdsec_service:
  acquisition_path: %[1]s/etc/acquis.yaml
  parser_routines: 1
api:
  client:
    insecure_skip_verify: false
    credentials_path: %[1]s/etc/local_api_credentials.yaml
prometheus:
  enabled: false
`

// crowdsecRoot returns where the Debian package crowdsec's files are: the
// directory HERD_TEST_CROWDSEC_ROOT names (the package extracted with
// dpkg-deb -x, as scripts/test.sh does), or / when the package is
// installed; "" when neither.
func crowdsecRoot() string {
	if d := os.Getenv("HERD_TEST_CROWDSEC_ROOT"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "usr/bin/crowdsec")); err == nil {
			return d
		}
	}
	if _, err := os.Stat("/usr/share/crowdsec/hub/.index.json"); err == nil {
		if _, err := exec.LookPath("crowdsec"); err == nil {
			return "/"
		}
	}
	return ""
}

// TestCrowdsecAgentReportsToHerd runs the real CrowdSec agent (the Debian
// package's binary and hub: syslog-logs, sshd-logs, dateparse-enrich
// parsers and the ssh-bf scenario, unmodified) with -no-api, logged in to
// herd's local API with credentials from herd machines add, in a network
// namespace. The agent sees an SSH brute force in a log herd does not read
// and reports an alert without a decision; herd's profiles decide on it and
// the ban lands in herd's nftables set. The allowlisted address's brute
// force is reported too but never banned. Unless -short, it then waits for
// the agent's heartbeat (one a minute) and checks herd answered it.
func TestCrowdsecAgentReportsToHerd(t *testing.T) {
	herdtest.Skip(t)
	root := crowdsecRoot()
	if root == "" {
		t.Skip("crowdsec not found: install the Debian package crowdsec, or extract it (apt-get download crowdsec; " +
			"dpkg-deb -x crowdsec_*.deb DIR) and set HERD_TEST_CROWDSEC_ROOT=DIR; scripts/test.sh does the latter")
	}
	name, fd := herdtest.NewNetns(t)
	view := kernelView(t, fd)
	dir := t.TempDir()
	herdLog := filepath.Join(dir, "herd-reads.log") // herd itself sees none of the attack
	appendLine(t, herdLog, "")
	cfg := testConfig(dir, herdLog)
	allowed := netip.MustParsePrefix("198.51.100.77/32")
	cfg.Allow = []netip.Prefix{allowed}

	var ln net.Listener
	if err := herdtest.Do(fd, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	password, err := query.AddMachine(context.Background(), cfg, "crowdsec-web1")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, APIListener: ln})

	// The CrowdSec agent's configuration: the package's hub items, linked
	// where cscli would install them.
	cs := t.TempDir()
	hub := filepath.Join(root, "usr/share/crowdsec/hub")
	for _, l := range [][2]string{
		{"parsers/s00-raw/syslog-logs.yaml", "parsers/s00-raw/crowdsecurity/syslog-logs.yaml"},
		{"parsers/s01-parse/sshd-logs.yaml", "parsers/s01-parse/crowdsecurity/sshd-logs.yaml"},
		{"parsers/s02-enrich/dateparse-enrich.yaml", "parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml"},
		{"scenarios/ssh-bf.yaml", "scenarios/crowdsecurity/ssh-bf.yaml"},
	} {
		dst := filepath.Join(cs, "etc", l[0])
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(hub, l[1]), dst); err != nil {
			t.Fatal(err)
		}
	}
	patterns := filepath.Join(root, "etc/crowdsec/patterns")
	if err := os.Symlink(patterns, filepath.Join(cs, "etc/patterns")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cs, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	authLog := filepath.Join(cs, "auth.log")
	appendLine(t, authLog, "")
	files := map[string]string{
		"config.yaml":                    fmt.Sprintf(crowdsecAgentConfig, cs, hub),
		"etc/simulation.yaml":            "simulation: false\n",
		"etc/acquis.yaml":                fmt.Sprintf("filenames:\n  - %s\nlabels:\n  type: syslog\n", authLog),
		"etc/local_api_credentials.yaml": fmt.Sprintf("url: http://%s/\nlogin: crowdsec-web1\npassword: %s\n", ln.Addr(), password),
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(cs, f), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", name, filepath.Join(root, "usr/bin/crowdsec"), "-c", filepath.Join(cs, "config.yaml"), "-no-api")
	cmd.Dir = cs
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
			t.Logf("crowdsec output:\n%s\nagent log:\n%s", out, r.logs)
		}
	})
	alive := func() {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("crowdsec exited: %v", err)
		default:
		}
	}
	// The agent logs in once it has loaded its parsers and scenarios, and
	// tails the log from its end: the lines go in after that.
	waitFor(t, "crowdsec's login to herd", 60*time.Second, func() bool {
		alive()
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(r.logs.String(), "lapi: machine logged in")
	})
	time.Sleep(2 * time.Second)
	attacker := netip.MustParseAddr("192.0.2.201")
	for i := range 8 {
		appendLine(t, authLog, sshdLine(attacker, 41000+i))
		appendLine(t, authLog, sshdLine(allowed.Addr(), 42000+i))
	}
	banned := netip.PrefixFrom(attacker, 32)
	waitFor(t, "crowdsec's alert banned in herd's nftables set", 60*time.Second, func() bool {
		alive()
		time.Sleep(100 * time.Millisecond)
		return holds(t, view, banned)
	})
	st, err := store.Open(context.Background(), store.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range live {
		if d.Scope == banned {
			found = true
			if d.Scenario != "crowdsecurity/ssh-bf" || d.Duration != 4*time.Hour || d.Origin != "herd" {
				t.Errorf("decision %+v, want crowdsecurity/ssh-bf 4h by herd's default profile", d)
			}
		}
		if d.Scope.Overlaps(allowed) {
			t.Errorf("the allowlisted address is banned: %+v", d)
		}
	}
	if !found {
		t.Errorf("no live decision on %s in the store: %+v", banned, live)
	}
	als, err := st.Alerts(context.Background(), store.AlertFilter{Source: allowed.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	if len(als) == 0 {
		t.Errorf("crowdsec's alert on the allowlisted %s was not stored", allowed.Addr())
	}
	if holds(t, view, allowed) {
		t.Errorf("the allowlisted %s is in the firewall", allowed.Addr())
	}
	// The agent's heartbeat comes once a minute: answered 200 (CrowdSec
	// logs "heartbeat unexpected return code" otherwise).
	if testing.Short() {
		return
	}
	waitFor(t, "crowdsec's heartbeat", 90*time.Second, func() bool {
		alive()
		time.Sleep(200 * time.Millisecond)
		return strings.Contains(r.logs.String(), "lapi: machine heartbeat")
	})
	time.Sleep(time.Second)
	if o := out.String(); strings.Contains(o, "heartbeat") && strings.Contains(o, "level=error") {
		t.Errorf("crowdsec complains about its heartbeat:\n%s", o)
	}
}
