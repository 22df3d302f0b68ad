package lapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// undecidedBody is an alert as a CrowdSec agent run with -no-api sends
// it: no decisions, the remediation flag as given (omitted when "").
func undecidedBody(uuid, ip, extra string) []byte {
	return fmt.Appendf(nil, `[{"uuid":%q,"scenario":"crowdsecurity/ssh-bf","scenario_hash":"x","scenario_version":"0.1",
"message":"Ip %s performed 'crowdsecurity/ssh-bf' (6 events over 1s)","capacity":5,"leakspeed":"10s",
"source":{"scope":"Ip","value":%q,"ip":%q},"events_count":6,"start_at":"2026-11-23T07:59:00Z","stop_at":"2026-11-23T07:59:30Z",
"events":[],"decisions":null%s}]`, uuid, ip, ip, ip, extra)
}

// recordingDecider stands for the agent's profiles: a 4h ban of the
// source, whatever the never-ban set says (the server must still drop
// those), remembering the alerts it saw.
type recordingDecider struct {
	mu   sync.Mutex
	seen []event.Alert
}

func (r *recordingDecider) decide(a *event.Alert) (event.Decision, string, bool) {
	r.mu.Lock()
	r.seen = append(r.seen, *a)
	r.mu.Unlock()
	return event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(a.Source, a.Source.BitLen()), Duration: 4 * time.Hour,
		Scenario: a.Scenario, Origin: "herd", Until: a.Last.Add(4 * time.Hour)}, "decided", true
}

func (r *recordingDecider) calls() []event.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Alert(nil), r.seen...)
}

func TestWatcherUndecidedAlertsGoThroughProfiles(t *testing.T) {
	rd := &recordingDecider{}
	f, base := newWatcherFixture(t, Options{Decide: rd.decide})
	_, a := login(t, base, testMachine, testPassword)

	code, b := post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:1", "192.0.2.9", `,"remediation":true`))
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/alerts = %d %s", code, b)
	}
	calls := rd.calls()
	if len(calls) != 1 || !calls[0].Remedy || !calls[0].Last.Equal(t0) || calls[0].Scenario != "crowdsecurity/ssh-bf" ||
		calls[0].Source != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("profiles saw %+v, want one remedy alert of 192.0.2.9 at the server's time", calls)
	}
	live, err := f.st.LiveDecisions(f.ctx, t0)
	if err != nil || len(live) != 1 {
		t.Fatalf("live decisions = %+v, %v; want the profile's ban", live, err)
	}
	d := live[0]
	if d.Scope != mustPrefix("192.0.2.9/32") || d.Origin != RemoteDecisionOrigin || d.Duration != 4*time.Hour ||
		!d.Until.Equal(t0.Add(4*time.Hour)) || d.Scenario != "crowdsecurity/ssh-bf" {
		t.Errorf("decision = %+v", d)
	}
	var id int64
	fmt.Sscan(decode[[]string](t, b)[0], &id)
	if al, err := f.st.Alert(f.ctx, id); err != nil || !al.Remedy || al.Machine != testMachine {
		t.Errorf("stored alert = %+v, %v; want Remedy for the decided alert", al, err)
	}

	// No remediation flag at all (older agents): decided too.
	post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:2", "192.0.2.10", ""))
	// "remediation": false, a simulated alert, an allowlisted source:
	// stored, never banned.
	post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:3", "192.0.2.11", `,"remediation":false`))
	post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:4", "192.0.2.12", `,"simulated":true`))
	code, b = post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:5", "203.0.113.5", ""))
	if code != http.StatusCreated {
		t.Fatalf("allowlisted alert = %d %s", code, b)
	}
	live, _ = f.st.LiveDecisions(f.ctx, t0)
	var got []string
	for _, d := range live {
		got = append(got, d.Scope.String())
	}
	if strings.Join(got, " ") != "192.0.2.9/32 192.0.2.10/32" {
		t.Errorf("live decisions %v, want only 192.0.2.9 and 192.0.2.10", got)
	}
	if n := len(rd.calls()); n != 3 {
		t.Errorf("profiles consulted %d times, want 3 (not for remediation false or simulated)", n)
	}
	// An alert that carries its own decision is not decided again.
	post(t, base+"/v1/alerts", a.Token, alertBody("cs:6", "Ip", "192.0.2.13", "1h"))
	if n := len(rd.calls()); n != 3 {
		t.Errorf("profiles consulted for an alert with a decision")
	}
}

func TestWatcherUndecidedWithoutProfiles(t *testing.T) {
	f, base := newWatcherFixture(t, Options{})
	_, a := login(t, base, testMachine, testPassword)
	if code, b := post(t, base+"/v1/alerts", a.Token, undecidedBody("cs:1", "192.0.2.9", "")); code != http.StatusCreated {
		t.Fatalf("POST /v1/alerts = %d %s", code, b)
	}
	if live, _ := f.st.LiveDecisions(f.ctx, t0); len(live) != 0 {
		t.Errorf("decisions %+v without Options.Decide", live)
	}
}

func TestWatcherHeartbeatAndUsageMetrics(t *testing.T) {
	_, base := newWatcherFixture(t, Options{})
	_, a := login(t, base, testMachine, testPassword)
	hb := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/heartbeat", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := hb(a.Token); c != http.StatusOK {
		t.Errorf("heartbeat with a token = %d, want 200", c)
	}
	if c := hb(""); c != http.StatusUnauthorized {
		t.Errorf("heartbeat without a token = %d, want 401", c)
	}
	metrics := []byte(`{"log_processors":[{"version":"v1.6.4","os":{"name":"debian","version":"12"},"metrics":[]}]}`)
	if c, b := post(t, base+"/v1/usage-metrics", a.Token, metrics); c != http.StatusCreated {
		t.Errorf("usage metrics from a machine = %d %s, want 201", c, b)
	}
	if c, _ := post(t, base+"/v1/usage-metrics", "", metrics); c != http.StatusUnauthorized {
		t.Errorf("usage metrics without credentials = %d, want 401", c)
	}
	if c, _ := post(t, base+"/v1/usage-metrics", a.Token, []byte(`[1,2`)); c != http.StatusBadRequest {
		t.Errorf("usage metrics, bad JSON = %d, want 400", c)
	}
	big := append([]byte(`{"x":"`), append([]byte(strings.Repeat("a", maxUsageMetricsBody)), `"}`...)...)
	if c, _ := post(t, base+"/v1/usage-metrics", a.Token, big); c != http.StatusRequestEntityTooLarge {
		t.Errorf("usage metrics, %d bytes = %d, want 413", len(big), c)
	}
	// A bouncer reports with its API key.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/usage-metrics", strings.NewReader(`{"remediation_components":[]}`))
	req.Header.Set("X-Api-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("usage metrics from a bouncer = %d, want 201", resp.StatusCode)
	}
}
