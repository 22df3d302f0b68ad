package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(priv)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key
}

// TestHubServeTLS runs `herd hub serve` with TLS; an agent-side client
// trusting the certificate (hub.ca_file) enrolls and sends a signal, which
// is in the database after the hub stops.
func TestHubServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert, tlsKey := selfSigned(t, dir)
	db := filepath.Join(dir, "hub.db")
	keyPath := filepath.Join(dir, "sign.key")
	var out, errb syncWriter
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	root := e.rootCmd()
	root.SetArgs([]string{"hub", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + db, "--key", keyPath,
		"--tls-cert", cert, "--tls-key", tlsKey, "--allow-documentation-ranges"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var addr, pub string
	re := regexp.MustCompile(`listening on (\S+) \(TLS\)\npublic key \(hub.public_key\): (\S+)\n`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr, pub = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no listening line: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if k, err := base64.StdEncoding.DecodeString(pub); err != nil || len(k) != ed25519.PublicKeySize {
		t.Fatalf("public key %q", pub)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v", err)
	}

	hc, err := client.NewHTTPClient(cert)
	if err != nil {
		t.Fatal(err)
	}
	_, agentKey, _ := ed25519.GenerateKey(rand.Reader)
	c, err := client.New(client.Options{URL: "https://" + addr, Key: agentKey, HTTP: hc, FlushEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan error, 1)
	go func() { cdone <- c.Run(cctx) }()
	c.Report(wire.Signal{Source: mustAddr("203.0.113.50"), Class: wire.HTTPProbing, Minute: uint32(time.Now().Unix() / 60)})
	for deadline := time.Now().Add(20 * time.Second); c.Stats().Sent < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("not sent: %+v\n%s", c.Stats(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ccancel()
	<-cdone
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	st, err := hubstore.Open(context.Background(), hubstore.Options{DSN: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Reporter(context.Background(), wire.IDOf(agentKey.Public().(ed25519.PublicKey))); err != nil {
		t.Fatalf("reporter not enrolled: %v", err)
	}
	n := 0
	st.Signals(context.Background(), 0, 1<<62, 0, func(hubstore.StoredSignal) { n++ })
	if n != 1 {
		t.Fatalf("%d signals stored", n)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
