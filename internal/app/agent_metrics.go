package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// The metrics endpoint's bounds: a scraper's request headers, the whole
// request, the answer; an idle connection closes after the last.
const (
	metricsReadHeaderTimeout = 5 * time.Second
	metricsReadTimeout       = 10 * time.Second
	metricsWriteTimeout      = 30 * time.Second
	metricsIdleTimeout       = time.Minute
)

// listenMetrics returns the listener of the metrics endpoint, or nil when
// the configuration turns it off. An address beyond loopback needs
// metrics.allow_remote.
func (a *agent) listenMetrics() (net.Listener, error) {
	mc := a.cfg.Metrics
	tc, err := a.serverTLS("metrics", mc.TLSCert, mc.TLSKey, mc.TLSLine)
	if err != nil {
		return nil, err
	}
	if a.o.MetricsListener != nil {
		return tlsListener(a.guard("metrics", a.o.MetricsListener, metricsLimits), tc), nil
	}
	if mc.Listen == "" {
		return nil, nil
	}
	ap, err := netip.ParseAddrPort(mc.Listen)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics: %w", err)
	}
	if !ap.Addr().IsLoopback() && !mc.AllowRemote {
		return nil, fmt.Errorf("agent: metrics: %s is not loopback and metrics.allow_remote is off", ap)
	}
	ln, err := net.Listen("tcp", mc.Listen)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics: %w", err)
	}
	return tlsListener(a.guard("metrics", ln, metricsLimits), tc), nil
}

// serveMetrics serves /metrics on ln until ctx ends.
func (a *agent) serveMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.m.Metrics().Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadHeaderTimeout, ReadTimeout: metricsReadTimeout,
		WriteTimeout: metricsWriteTimeout, IdleTimeout: metricsIdleTimeout, MaxHeaderBytes: 8 << 10}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	a.log.Info("agent: metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("agent: metrics: %w", err)
	}
	return nil
}

// sourceGlobs returns the globs of each configured file source, in order.
func (a *agent) sourceGlobs() [][]string {
	gs := make([][]string, len(a.cfg.Sources))
	for i, s := range a.cfg.Sources {
		gs[i] = s.Files
	}
	return gs
}
