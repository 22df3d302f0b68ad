package app_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// TestAgentMetricsOverTLS serves /metrics with metrics.tls_cert and
// tls_key: a client verifying the certificate scrapes it, plain HTTP is
// not served, and herd status probes the agent over HTTPS.
func TestAgentMetricsOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := herdtest.Certificate(t, dir, "agent")
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = ln.Addr().String()
	cfg.Metrics.TLSCert, cfg.Metrics.TLSKey = certFile, keyFile
	startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, MetricsListener: ln})

	cc, err := tlsfiles.ClientConfig(certFile)
	if err != nil {
		t.Fatal(err)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}, Timeout: 10 * time.Second}
	s, err := metrics.Fetch(t.Context(), https, "https://"+ln.Addr().String()+"/metrics")
	if err != nil || !s.Has(metrics.StartTime) {
		t.Fatalf("scrape over HTTPS: %v", err)
	}
	if _, err := metrics.Fetch(t.Context(), &http.Client{Timeout: 10 * time.Second}, "http://"+ln.Addr().String()+"/metrics"); err == nil {
		t.Error("plain HTTP scrape of the TLS port succeeded")
	}
	st := query.GetStatus(t.Context(), cfg, query.StatusOptions{})
	if !st.Agent.Running || st.Agent.Metrics != "https://"+ln.Addr().String()+"/metrics" {
		t.Errorf("status over TLS: %+v", st.Agent)
	}
}

// TestAgentReloadsCertificateOnSIGHUP replaces the API's certificate files
// and signals the agent: the next connection gets the new certificate.
func TestAgentReloadsCertificateOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := herdtest.Certificate(t, dir, "first")
	logPath := filepath.Join(dir, "auth.log")
	appendLine(t, logPath, "")
	cfg := testConfig(dir, logPath)
	cfg.API.TLSCert, cfg.API.TLSKey = certFile, keyFile
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true, APIListener: ln, Reload: hup})
	name := func() string {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if n := name(); n != "first" {
		t.Fatalf("served %q, want first", n)
	}
	herdtest.Certificate(t, dir, "second") // the same files, renewed
	hup <- syscall.SIGHUP
	waitFor(t, "the reload", 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "SIGHUP: certificate reloaded") })
	if n := name(); n != "second" {
		t.Errorf("served %q after SIGHUP, want second", n)
	}
}
