package tlsfiles_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// peerName connects to srv trusting caFile and returns the common name of
// the certificate it presented.
func peerName(t *testing.T, url, caFile string) string {
	t.Helper()
	cc, err := tlsfiles.ClientConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cc, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s trusting %s: %v", url, filepath.Base(filepath.Dir(caFile)), err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

// TestServerReloads serves HTTPS with a certificate from files, replaces
// the files, and checks that the new certificate is served once Check has
// passed, not before; that a broken replacement keeps the old one; and
// that TLS 1.1 is refused.
func TestServerReloads(t *testing.T) {
	dir := t.TempDir()
	d1, d2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	os.Mkdir(d1, 0o700)
	os.Mkdir(d2, 0o700)
	ca1, _ := herdtest.Certificate(t, d1, "one")
	ca2, _ := herdtest.Certificate(t, d2, "two")
	live := filepath.Join(dir, "live")
	os.Mkdir(live, 0o700)
	certFile, keyFile := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem")
	install := func(from string) {
		for _, n := range []string{"cert.pem", "key.pem"} {
			b, err := os.ReadFile(filepath.Join(from, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(live, n), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(d1)

	clk := &testClock{t: time.Now()}
	s, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: certFile, KeyFile: keyFile, Time: clock.Func(clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	// Not StartTLS: it would add httptest's own certificate, which a
	// client without SNI (an IP address) would be given instead.
	srv.Listener = tls.NewListener(srv.Listener, s.Config())
	srv.Start()
	defer srv.Close()
	srv.URL = strings.Replace(srv.URL, "http://", "https://", 1)

	if got := peerName(t, srv.URL, ca1); got != "one" {
		t.Fatalf("served %q, want one", got)
	}
	// Make sure the replacement's mtime or size differs.
	install(d2)
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	if got := peerName(t, srv.URL, ca1); got != "one" {
		t.Errorf("served %q before Check passed, want one still", got)
	}
	clk.add(tlsfiles.DefaultCheck)
	if got := peerName(t, srv.URL, ca2); got != "two" {
		t.Errorf("served %q after the files changed, want two", got)
	}

	// A certificate whose key does not match: the old pair stays.
	b, _ := os.ReadFile(filepath.Join(d1, "cert.pem"))
	os.WriteFile(certFile, b, 0o600)
	future = future.Add(time.Minute)
	os.Chtimes(certFile, future, future)
	clk.add(tlsfiles.DefaultCheck)
	if got := peerName(t, srv.URL, ca2); got != "two" {
		t.Errorf("served %q after a mismatched replacement, want two kept", got)
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}

	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}}}
	if resp, err := old.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := herdtest.Certificate(t, dir, "x")
	if _, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: cert, KeyFile: filepath.Join(dir, "missing.pem")}); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: key, KeyFile: key}); err == nil {
		t.Error("a key as certificate loaded")
	}
	if _, err := tlsfiles.CAPool(key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a key as CA bundle: %v", err)
	}
	if _, err := tlsfiles.ClientConfig(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing CA bundle was accepted")
	}
}

// TestPinned: a pinned client accepts the server's own certificate file,
// names aside, and refuses another.
func TestPinned(t *testing.T) {
	dir := t.TempDir()
	d1, d2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	os.Mkdir(d1, 0o700)
	os.Mkdir(d2, 0o700)
	cert1, key1 := herdtest.Certificate(t, d1, "one")
	cert2, _ := herdtest.Certificate(t, d2, "two")
	s, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: cert1, KeyFile: key1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener = tls.NewListener(srv.Listener, s.Config())
	srv.Start()
	defer srv.Close()
	// "localhost" resolves, but the point is that names are not checked:
	// the URL names the listener by an address the certificate also has.
	url := strings.Replace(srv.URL, "http://", "https://", 1)
	for _, tc := range []struct {
		file string
		ok   bool
	}{{cert1, true}, {cert2, false}} {
		pc, err := tlsfiles.PinnedConfig(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: pc}}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("pinned to %s: %v, want ok=%v", filepath.Base(filepath.Dir(tc.file)), err, tc.ok)
		}
	}
	if _, err := tlsfiles.PinnedConfig(key1); err == nil {
		t.Error("a key file pinned")
	}
}
