package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// TestAgentConsoleOverTLS serves the console with console.tls_cert and
// tls_key: a client verifying the certificate reaches the login page with
// the console's security headers, and plain HTTP is not served.
func TestAgentConsoleOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := herdtest.Certificate(t, dir, "agent")
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Console = config.Console{Enabled: true, PasswordFile: filepath.Join(dir, "console.password"), TLSCert: certFile, TLSKey: keyFile}
	if err := app.SetConsolePassword(cfg, "a long console password"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, ConsoleListener: ln})
	// The agent is ready (it reads lines) before its listeners start: wait
	// for the console's line.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(r.logs.String(), "console listening") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.logs.String(), "console listening") || !strings.Contains(r.logs.String(), "https://") {
		t.Errorf("the agent does not say where the console is:\n%s", r.logs)
	}
	cc, err := tlsfiles.ClientConfig(certFile)
	if err != nil {
		t.Fatal(err)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}, Timeout: 10 * time.Second}
	resp, err := https.Get("https://" + ln.Addr().String() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="login-form"`) {
		t.Fatalf("login page over HTTPS: %s\n%s", resp.Status, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	var secure bool
	for _, c := range resp.Cookies() {
		secure = c.Secure && c.HttpOnly && c.SameSite == http.SameSiteStrictMode
	}
	if !secure {
		t.Errorf("the login cookie is not Secure, HttpOnly and SameSite=Strict: %v", resp.Cookies())
	}
	// Go's TLS server answers a plain request with a 400 of its own.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/login"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the console's TLS port")
		}
	}
}

// An enabled console without a password stops the agent at start, saying
// what to do.
func TestAgentConsoleNeedsPassword(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.Console = config.Console{Enabled: true, Listen: "127.0.0.1:0", PasswordFile: filepath.Join(dir, "none")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := app.RunAgent(ctx, app.AgentOptions{Config: cfg, DryRun: true, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "herd console passwd") {
		t.Fatalf("RunAgent = %v, want a refusal naming herd console passwd", err)
	}
}
