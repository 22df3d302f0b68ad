package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
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
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// TestAgentsShareTheCentralsDecisions runs a central agent (SQLite or
// PostgreSQL) whose local API serves HTTPS (api.tls_cert, api.tls_key, a
// certificate made for the test) and two reporting agents, web1 and web2, each with its own SQLite
// store, that verify it with report.ca_file and receive its decisions. An
// attack seen on web1 is banned on web2 too; herd decisions delete on the
// central lifts it on web2; an address web2 allowlists is not banned
// there. Plain HTTP to the TLS port gets no answer, and an agent whose
// certificate does not load refuses to start.
func TestAgentsShareTheCentralsDecisions(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testAgentsShare(t, backend) })
	}
}

func testAgentsShare(t *testing.T, backend string) {
	ctx := context.Background()
	cdir, adir, bdir := t.TempDir(), t.TempDir(), t.TempDir()
	certFile, keyFile := herdtest.Certificate(t, cdir, "central")

	clog := filepath.Join(cdir, "auth.log")
	appendLine(t, clog, "")
	ccfg := testConfig(cdir, clog)
	ccfg.Database = centralDatabase(t, backend, cdir)
	ccfg.API.TLSCert, ccfg.API.TLSKey = certFile, keyFile

	// A certificate that does not load stops the agent before it starts.
	bad := *ccfg
	bad.File, bad.API.TLSCert, bad.API.TLSLine = "herd.yaml", keyFile, 7
	lnBad, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.RunAgent(ctx, app.AgentOptions{Config: &bad, DryRun: true, APIListener: lnBad}); err == nil ||
		!strings.Contains(err.Error(), "api.tls_cert at herd.yaml:7") {
		t.Errorf("agent with a key as certificate: %v", err)
	}
	lnBad.Close()

	key, err := lapi.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cst := openDatabase(t, ccfg.Database)
	if err := cst.AddBouncer(ctx, "members", lapi.HashKey(key)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	central := startAgent(t, app.AgentOptions{Config: ccfg, DryRun: true, APIListener: ln})

	// The bouncer endpoints answer over HTTPS, verified with the test's
	// certificate; plain HTTP to the same port gets no HTTP answer.
	cc, err := tlsfiles.ClientConfig(certFile)
	if err != nil {
		t.Fatal(err)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+addr+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := https.Do(req)
	if err != nil {
		t.Fatalf("bouncer request over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 ||
		!json.Valid(body) || !strings.Contains(string(body), `"new":[]`) {
		t.Errorf("bouncer request over HTTPS: %d, %+v, %s", resp.StatusCode, resp.TLS, body)
	}
	req, _ = http.NewRequest("GET", "http://"+addr+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", key)
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port was served: %d %s", resp.StatusCode, b)
		}
	}

	keyFileB := filepath.Join(bdir, "central.key")
	if err := os.WriteFile(keyFileB, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reporter := func(name, dir string, allow []netip.Prefix) (*agentRun, *config.Config, string) {
		pw, err := query.AddMachine(ctx, ccfg, name)
		if err != nil {
			t.Fatal(err)
		}
		pwFile := filepath.Join(dir, "machine.password")
		if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(dir, "auth.log")
		appendLine(t, log, "")
		cfg := testConfig(dir, log)
		cfg.Allow = allow
		cfg.Report = config.Report{URL: "https://" + addr + "/", Machine: name, PasswordFile: pwFile,
			CAFile: certFile, Receive: true, BouncerKeyFile: keyFileB}
		return startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true}), cfg, log
	}
	web1, _, log1 := reporter("web1", adir, nil)
	web2, cfg2, _ := reporter("web2", bdir, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nweb1:\n%s\nweb2:\n%s\ncentral:\n%s", what, web1.logs, web2.logs, central.logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("web2 following the central", func() bool { return strings.Contains(web2.logs.String(), "central decisions in step") })

	attack := func(ip string, port int) {
		a := netip.MustParseAddr(ip)
		for i := range 6 {
			appendLine(t, log1, sshdLine(a, port+i))
		}
	}
	attack("192.0.2.7", 40000)
	wait("web1's own ban", func() bool { return strings.Contains(web1.out.String(), "ban 192.0.2.7/32 ") })
	wait("the ban on web2", func() bool { return strings.Contains(web2.out.String(), "ban 192.0.2.7/32 ") })
	t1 := logTime(t, web1.logs.String(), "msg=decision ", "scope=192.0.2.7/32")
	t2 := logTime(t, web2.logs.String(), `msg="decision from the central API"`, "scope=192.0.2.7/32")
	t.Logf("web1's ban entered web2's decision set %v after web1's (report, central commit, push)", t2.Sub(t1))
	if !strings.Contains(web2.out.String(), "scenario=ssh-bruteforce origin=herd") {
		t.Errorf("web2's ban lost its scenario or origin:\n%s", web2.out)
	}

	// An address web2 allowlists: banned by web1 and the central, not web2.
	attack("198.51.100.5", 41000)
	wait("the central's ban of 198.51.100.5", func() bool { return strings.Contains(central.out.String(), "ban 198.51.100.5/32 ") })
	wait("web2 refusing it", func() bool { return strings.Contains(web2.logs.String(), "never banned here") })
	if strings.Contains(web2.out.String(), "ban 198.51.100.5/32") {
		t.Errorf("web2 banned an address of its allowlist:\n%s", web2.out)
	}

	// herd decisions delete on the central lifts the ban on web2.
	n, err := query.DeleteDecisions(ctx, ccfg, netip.MustParsePrefix("192.0.2.7/32"))
	if err != nil || n != 1 {
		t.Fatalf("decisions delete on the central: %d, %v", n, err)
	}
	wait("the unban on web2", func() bool { return strings.Contains(web2.out.String(), "unban 192.0.2.7/32") })
	if strings.Contains(web1.out.String(), "unban 192.0.2.7/32") {
		t.Errorf("the central lifted web1's own ban:\n%s", web1.out)
	}

	// web2's own 10-minute ban of .50 is outlasted by the central's hour;
	// deleting the central's gives web2 its own back.
	last := func(scope string) string {
		var l string
		for _, line := range strings.Split(web2.out.String(), "\n") {
			if strings.Contains(line, " "+scope+" ") || strings.HasSuffix(line, " "+scope) {
				l = line
			}
		}
		return l
	}
	if err := query.AddDecision(ctx, cfg2, nil, netip.MustParsePrefix("192.0.2.50/32"), 10*time.Minute, "web2-own"); err != nil {
		t.Fatal(err)
	}
	wait("web2's own ban", func() bool { return strings.Contains(last("192.0.2.50/32"), "scenario=web2-own") })
	if err := query.AddDecision(ctx, ccfg, nil, netip.MustParsePrefix("192.0.2.50/32"), time.Hour, "central"); err != nil {
		t.Fatal(err)
	}
	wait("the central's longer ban on web2", func() bool { return strings.Contains(last("192.0.2.50/32"), "scenario=central") })
	if _, err := query.DeleteDecisions(ctx, ccfg, netip.MustParsePrefix("192.0.2.50/32")); err != nil {
		t.Fatal(err)
	}
	wait("web2's own ban back", func() bool {
		return strings.Contains(web2.out.String(), "unban 192.0.2.50/32") && strings.Contains(last("192.0.2.50/32"), "scenario=web2-own")
	})

	// web2 sends nothing back: the central's alerts are web1's.
	as, err := cst.Alerts(ctx, store.AlertFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Machine != "web1" {
			t.Errorf("central alert from %q: %+v", a.Machine, a)
		}
	}
	if len(as) != 2 {
		t.Errorf("%d alerts on the central, want web1's 2", len(as))
	}
}

// logTime returns the time of the first slog text line holding both msg
// and attr.
func logTime(t *testing.T, logs, msg, attr string) time.Time {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, msg) || !strings.Contains(line, attr) {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "time=") {
			if tm, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				return tm
			}
		}
	}
	t.Fatalf("no log line with %s and %s in:\n%s", msg, attr, logs)
	return time.Time{}
}
