package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/store"
)

// An alert a machine reports without a decision (a CrowdSec agent's, under
// -no-api) is decided by the agent's own profiles, those of the rules
// directory included, and the allowlist wins. The real CrowdSec agent does
// this in TestCrowdsecAgentReportsToHerd where its package is at hand; this
// test needs nothing but the agent.
func TestAgentDecidesUndecidedReportedAlerts(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	cfg.RulesDir = filepath.Join(dir, "rules")
	if err := os.MkdirAll(cfg.RulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// CrowdSec's scenarios get 90 minutes, escalating; herd's default
	// profile is replaced in place.
	prof := "profiles:\n  - name: default-ban\n    scenarios: [\"crowdsecurity/*\"]\n    duration: 90m\n    escalate: true\n"
	if err := os.WriteFile(filepath.Join(cfg.RulesDir, "crowdsec.yaml"), []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	pw, err := query.AddMachine(context.Background(), cfg, "cs1")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, APIListener: ln})

	post := func(path, token string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
	code, b := post("/v1/watchers/login", "", map[string]any{"machine_id": "cs1", "password": pw})
	var tok struct{ Token string }
	if code != http.StatusOK || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("login = %d %s", code, b)
	}
	alert := func(uuid, scenario, ip string) map[string]any {
		now := time.Now().UTC().Format(time.RFC3339)
		return map[string]any{"uuid": uuid, "scenario": scenario, "remediation": true, "events_count": 6,
			"start_at": now, "stop_at": now, "decisions": nil, "events": []any{},
			"source": map[string]string{"scope": "Ip", "value": ip, "ip": ip}}
	}
	code, b = post("/v1/alerts", tok.Token, []any{
		alert("a1", "crowdsecurity/ssh-bf", "192.0.2.61"),
		alert("a2", "crowdsecurity/ssh-bf", "198.51.100.61"), // allowlisted
		alert("a3", "ssh-bruteforce", "192.0.2.62"),          // no profile matches it here
	})
	if code != http.StatusCreated {
		t.Fatalf("alerts = %d %s", code, b)
	}
	st, err := store.Open(context.Background(), store.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].Scope != netip.MustParsePrefix("192.0.2.61/32") || live[0].Duration != 90*time.Minute ||
		live[0].Origin != "herd" || live[0].Scenario != "crowdsecurity/ssh-bf" {
		t.Fatalf("live decisions %+v, want one 90m ban of 192.0.2.61\n%s", live, r.logs)
	}
	// The repeat-offender memory is the profiles': the same source,
	// reported again within its first ban's span (the ban deleted by
	// hand meanwhile), is already decided and not banned again.
	if _, err := query.DeleteDecisions(context.Background(), cfg, live[0].Scope); err != nil {
		t.Fatal(err)
	}
	post("/v1/alerts", tok.Token, []any{alert("a4", "crowdsecurity/ssh-bf", "192.0.2.61")})
	if live, _ := st.LiveDecisions(context.Background(), time.Now()); len(live) != 0 {
		t.Errorf("a second alert within the ban's span was banned again: %+v", live)
	}
	code, _ = post("/v1/usage-metrics", tok.Token, map[string]any{"log_processors": []any{}})
	if code != http.StatusCreated {
		t.Errorf("usage metrics = %d", code)
	}
}
