package app

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/herd-ips/herd/internal/tlsfiles"
)

// serverTLS returns the TLS configuration of a listener whose certificate
// and key are the PEM files cert and key (read again when they change), or
// nil when both are "". what and line name the configuration key in
// errors: a pair that does not load stops the agent.
func (a *agent) serverTLS(what, cert, key string, line int) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	s, err := tlsfiles.NewServer(tlsfiles.Options{CertFile: cert, KeyFile: key, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: %s.tls_cert at %s:%d: %w", what, a.cfg.File, line, err)
	}
	a.tlsServers = append(a.tlsServers, s)
	leaf := s.Leaf()
	a.log.Info("agent: "+what+" serves HTTPS", "cert", cert, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	return s.Config(), nil
}

// tlsListener wraps ln in TLS when c is set.
func tlsListener(ln net.Listener, c *tls.Config) net.Listener {
	if c == nil || ln == nil {
		return ln
	}
	return tls.NewListener(ln, c)
}
