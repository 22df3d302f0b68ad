package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

var pgSchemas atomic.Int64

// centralDatabase returns the central agent's database: SQLite in dir, or
// a fresh schema on the PostgreSQL server HERD_TEST_POSTGRES names (the
// subtest skips without it).
func centralDatabase(t *testing.T, backend, dir string) config.Database {
	t.Helper()
	if backend == "sqlite" {
		return config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "central.db")}
	}
	base := os.Getenv("HERD_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL not tested: set HERD_TEST_POSTGRES to a server URL")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("herd_app_report_%d_%d", os.Getpid(), pgSchemas.Add(1))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if admin, err := sql.Open("pgx", base); err == nil {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return config.Database{Driver: "postgres", DSN: u.String()}
}

func openDatabase(t *testing.T, db config.Database) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Driver: db.Driver, DSN: db.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestAgentReportsToCentral runs two agents: a central one serving the
// local API (SQLite or PostgreSQL) and a reporting one with its own SQLite
// store that follows a log file. A ban detected by the reporter reaches the
// central's bouncers; an allowlisted source on the central side gives an
// alert but no decision; alerts taken while the central is down arrive
// when it is back; a restart of the reporter loses nothing and sends
// nothing twice.
func TestAgentReportsToCentral(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testAgentReports(t, backend) })
	}
}

func testAgentReports(t *testing.T, backend string) {
	ctx := context.Background()
	cdir, rdir := t.TempDir(), t.TempDir()
	clog, rlog := filepath.Join(cdir, "auth.log"), filepath.Join(rdir, "auth.log")
	appendLine(t, clog, "")
	appendLine(t, rlog, "")

	ccfg := testConfig(cdir, clog)
	ccfg.Database = centralDatabase(t, backend, cdir)
	ccfg.Allow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	password, err := query.AddMachine(ctx, ccfg, "web1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := lapi.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cst := openDatabase(t, ccfg.Database)
	if err := cst.AddBouncer(ctx, "fw", lapi.HashKey(key)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	central := startAgent(t, app.AgentOptions{Config: ccfg, DryRun: true, APIListener: ln})

	pwFile := filepath.Join(rdir, "machine.password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rcfg := testConfig(rdir, rlog)
	rcfg.Report = config.Report{URL: "http://" + addr + "/", Machine: "web1", PasswordFile: pwFile}
	// A password file every user may read is refused.
	if err := app.RunAgent(ctx, app.AgentOptions{Config: rcfg, DryRun: true}); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("agent with a world-readable password file: %v", err)
	}
	if err := os.Chmod(pwFile, 0o600); err != nil {
		t.Fatal(err)
	}
	reporter := startAgent(t, app.AgentOptions{Config: rcfg, DryRun: true, FromStart: true})

	attack := func(ip string, port int) {
		a := netip.MustParseAddr(ip)
		for i := range 6 {
			appendLine(t, rlog, sshdLine(a, port+i))
		}
	}
	served := func(ip string) bool {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/decisions?ip="+ip, nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ds []struct{ Value, Origin string }
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ds) != nil {
			return false
		}
		return len(ds) == 1 && ds[0].Value == ip && ds[0].Origin == "herd"
	}
	centralAlerts := func(ip string) []store.AlertRecord {
		as, err := cst.Alerts(ctx, store.AlertFilter{Source: netip.MustParseAddr(ip)})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}

	wait := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nreporter:\n%s\ncentral:\n%s", what, reporter.logs, central.logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// 1. A ban detected on the reporter is served by the central API, and
	//    the central's own agent enforces it too.
	attack("192.0.2.7", 40000)
	wait("the local ban", 10*time.Second, func() bool { return strings.Contains(reporter.out.String(), "ban 192.0.2.7/32 ") })
	wait("the ban on the central API", 20*time.Second, func() bool { return served("192.0.2.7") })
	wait("the central agent's ban", 10*time.Second, func() bool { return strings.Contains(central.out.String(), "ban 192.0.2.7/32 ") })
	if as := centralAlerts("192.0.2.7"); len(as) != 1 || as[0].Machine != "web1" {
		t.Errorf("central alerts for 192.0.2.7 = %+v", as)
	}

	// 2. An address allowlisted on the central: the reporter bans it (its
	//    own allowlist is empty), the central keeps the alert, bans nothing.
	attack("203.0.113.5", 41000)
	wait("the allowlisted source's alert on the central", 20*time.Second, func() bool { return len(centralAlerts("203.0.113.5")) > 0 })
	if served("203.0.113.5") || len(centralAlerts("203.0.113.5")) != 1 || centralAlerts("203.0.113.5")[0].Remedy {
		t.Errorf("allowlisted 203.0.113.5 got a decision on the central: %+v", centralAlerts("203.0.113.5"))
	}

	// 3. The central is down while an attack is detected; the alert
	//    arrives once it is back on the same address.
	central.stop(t)
	attack("192.0.2.8", 42000)
	wait("the local ban while the central is down", 10*time.Second, func() bool { return strings.Contains(reporter.out.String(), "ban 192.0.2.8/32 ") })
	wait("a failed attempt to report", 10*time.Second, func() bool {
		return strings.Contains(reporter.logs.String(), "central API unreachable")
	})
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	central = startAgent(t, app.AgentOptions{Config: ccfg, DryRun: true, APIListener: ln2})
	wait("the queued ban on the central API", 90*time.Second, func() bool { return served("192.0.2.8") })

	// 4. The reporter restarts: what it sent is not sent again, and what
	//    it detects afterwards arrives.
	reporter.stop(t)
	reporter = startAgent(t, app.AgentOptions{Config: rcfg, DryRun: true, FromStart: true})
	attack("192.0.2.9", 43000)
	wait("the ban after the reporter's restart", 20*time.Second, func() bool { return served("192.0.2.9") })
	reporter.stop(t)

	rst := openDatabase(t, rcfg.Database)
	local, err := rst.LocalAlertsAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := cst.Alerts(ctx, store.AlertFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range remote {
		if a.Machine != "web1" || seen[a.RemoteID] {
			t.Errorf("central alert %+v: not web1's or sent twice", a)
		}
		seen[a.RemoteID] = true
	}
	if len(remote) != len(local) || len(local) < 4 {
		t.Errorf("the reporter stored %d alerts, the central %d; want the same, at least 4", len(local), len(remote))
	}
	live, err := cst.LiveDecisions(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for _, d := range live {
		scopes = append(scopes, d.Scope.String())
	}
	if strings.Join(scopes, " ") != "192.0.2.7/32 192.0.2.8/32 192.0.2.9/32" {
		t.Errorf("central live decisions %v, want one each for 192.0.2.7, .8 and .9", scopes)
	}
}
