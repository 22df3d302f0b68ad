// Package tlsfiles builds TLS configurations from PEM files: a server
// certificate read again when its files change, and a pool of certificate
// authorities to verify a server with.
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// DefaultCheck is how often, at most, a Server looks at its files' mtime.
const DefaultCheck = 5 * time.Second

// Options configures NewServer.
type Options struct {
	// CertFile holds the certificate and its chain, KeyFile its private
	// key, both PEM.
	CertFile, KeyFile string
	// Check is how often, at most, the files' modification times are
	// looked at during handshakes; 0 means DefaultCheck.
	Check  time.Duration
	Time   clock.Clock  // nil means clock.Real
	Logger *slog.Logger // nil discards
}

// Server serves a certificate from files, reading them again when their
// modification time or size changes. Its methods are safe for concurrent
// use.
type Server struct {
	o   Options
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp // of CertFile and KeyFile when cert was read
	checked time.Time
}

type stamp struct {
	mod  time.Time
	size int64
}

// NewServer reads the certificate and key; it fails when they do not load
// or do not match.
func NewServer(o Options) (*Server, error) {
	s := &Server{o: o, now: clock.Or(o.Time).Now, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.o.Check <= 0 {
		s.o.Check = DefaultCheck
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns a server configuration (TLS 1.2 at least) whose
// certificate is s's current one.
func (s *Server) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}

// Reload reads the files now. On failure the certificate in use stays.
func (s *Server) Reload() error {
	st, err := s.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(s.o.CertFile, s.o.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: %s and %s: %w", s.o.CertFile, s.o.KeyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tls: %s: %w", s.o.CertFile, err)
		}
	}
	s.mu.Lock()
	s.cert, s.stamp, s.checked = &cert, st, s.now()
	s.mu.Unlock()
	return nil
}

func (s *Server) stamps() ([2]stamp, error) {
	var st [2]stamp
	for i, p := range []string{s.o.CertFile, s.o.KeyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("tls: %w", err)
		}
		st[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// Leaf returns the certificate in use.
func (s *Server) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert.Leaf
}

// GetCertificate returns the certificate, first reading the files again
// when Check has passed since the last look and they changed. A change
// that does not load is logged and the old certificate kept: a
// half-written pair (the certificate renewed, its key not yet) is read
// again at a later look.
func (s *Server) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	now := s.now()
	if now.Sub(s.checked) < s.o.Check {
		c := s.cert
		s.mu.Unlock()
		return c, nil
	}
	s.checked = now
	old := s.stamp
	c := s.cert
	s.mu.Unlock()
	st, err := s.stamps()
	if err != nil || st == old {
		if err != nil {
			s.log.Warn("tls: certificate files unreadable; keeping the one in use", "err", err)
		}
		return c, nil
	}
	if err := s.Reload(); err != nil {
		s.log.Warn("tls: changed certificate files do not load; keeping the one in use", "err", err)
		return c, nil
	}
	s.mu.Lock()
	c = s.cert
	s.mu.Unlock()
	s.log.Info("tls: certificate reloaded", "file", s.o.CertFile, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
	return c, nil
}

// CAPool reads a PEM bundle of certificate authorities. A file holding no
// certificate is an error.
func CAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("tls: ca_file " + file + ": no PEM certificate in it")
	}
	return pool, nil
}

// ClientConfig returns a client configuration (TLS 1.2 at least) that
// verifies servers with the authorities of caFile, or with the system's
// when caFile is "".
func ClientConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := CAPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

// PinnedConfig returns a client configuration that accepts exactly the
// certificate of certFile (its first), whatever names it holds: for a
// probe of a server on this host whose certificate file it can read
// (herd status asking the agent's metrics over 127.0.0.1).
func PinnedConfig(certFile string) (*tls.Config, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	var leaf []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			leaf = blk.Bytes
			break
		}
	}
	if leaf == nil {
		return nil, errors.New("tls: " + certFile + ": no PEM certificate in it")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and names are not checked: the certificate is
		// compared byte for byte with the file's in VerifyPeerCertificate.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("tls: the server's certificate is not " + certFile + "'s")
			}
			return nil
		},
	}, nil
}
