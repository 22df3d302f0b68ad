package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/query"
)

// A bouncer polling the agent's local API learns of a ban the agent took
// from a log line, and forward-auth refuses the banned source while letting
// others through.
func TestAgentServesDecisionsToBouncers(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.API.OpenForwardAuth = true

	key, err := lapi.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, cfg)
	if err := st.AddBouncer(context.Background(), "test-bouncer", lapi.HashKey(key)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	faLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	faBase := "http://" + faLn.Addr().String()
	startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, APIListener: ln, ForwardAuthListener: faLn})

	get := func(path string, withKey bool, hdr map[string]string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if withKey {
			req.Header.Set("X-Api-Key", key)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := get("/v1/decisions/stream?startup=true", false, nil); code != http.StatusForbidden {
		t.Fatalf("no key: %d, want 403", code)
	}
	if code, body := get("/v1/decisions/stream?startup=true", true, nil); code != http.StatusOK {
		t.Fatalf("startup: %d %s", code, body)
	}

	attacker := netip.MustParseAddr("192.0.2.7")
	for i := range 6 {
		appendLine(t, logPath, sshdLine(attacker, 40000+i))
	}
	var stream struct {
		New []struct {
			Value    string `json:"value"`
			Scope    string `json:"scope"`
			Type     string `json:"type"`
			Scenario string `json:"scenario"`
		} `json:"new"`
	}
	waitFor(t, "the ban in the bouncer stream", 10*time.Second, func() bool {
		code, body := get("/v1/decisions/stream", true, nil)
		if code != http.StatusOK {
			t.Fatalf("stream: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &stream); err != nil {
			t.Fatalf("stream body %s: %v", body, err)
		}
		for _, d := range stream.New {
			if d.Value == "192.0.2.7" && d.Type == "ban" && d.Scope == "Ip" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
	if code, _ := get("/v1/forward-auth", false, map[string]string{"X-Forwarded-For": "192.0.2.7"}); code != http.StatusForbidden {
		t.Errorf("forward-auth for the banned source: %d, want 403", code)
	}
	if code, _ := get("/v1/forward-auth", false, map[string]string{"X-Forwarded-For": "198.51.100.20"}); code != http.StatusOK {
		t.Errorf("forward-auth for a bystander: %d, want 200", code)
	}
	// The dedicated forward-auth listener gives the same answers.
	base = faBase
	if code, _ := get("/v1/forward-auth", false, map[string]string{"X-Forwarded-For": "192.0.2.7"}); code != http.StatusForbidden {
		t.Errorf("dedicated listener, banned source: %d, want 403", code)
	}
	if code, _ := get("/v1/forward-auth", false, map[string]string{"X-Forwarded-For": "198.51.100.20"}); code != http.StatusOK {
		t.Errorf("dedicated listener, bystander: %d, want 200", code)
	}
	if code, _ := get("/v1/decisions", true, nil); code != http.StatusBadRequest {
		t.Errorf("dedicated listener, another path: %d, want 400", code)
	}
}

// `herd bouncers delete` (query.DeleteBouncer, another process's path: the
// store only) ends the deleted bouncer's open push stream on a running
// agent within a second; a real HTTP client holds the stream.
func TestAgentRevokesDeletedBouncerStream(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	key, err := query.AddBouncer(context.Background(), cfg, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, FromStart: true, APIListener: ln})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/v1/herd/stream", nil)
	req.Header.Set("X-Api-Key", key)
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err = http.DefaultClient.Do(req); err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("push stream not open within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer resp.Body.Close()
	ended := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		ended <- time.Now()
	}()
	time.Sleep(100 * time.Millisecond) // the stream is being served
	deleted := time.Now()
	if err := query.DeleteBouncer(context.Background(), cfg, "revoked"); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-ended:
		if at.Before(deleted) {
			t.Fatal("the stream ended before the deletion")
		}
		if d := at.Sub(deleted); d > time.Second {
			t.Fatalf("stream ended %v after the deletion, want within 1s", d)
		} else {
			t.Logf("stream ended %v after herd bouncers delete", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the deleted bouncer's stream is still open 3s after the deletion")
	}
}
