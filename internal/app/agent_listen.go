package app

import (
	"net"
	"net/netip"

	"github.com/herd-ips/herd/internal/connlimit"
	"github.com/herd-ips/herd/internal/metrics"
)

// Caps of the metrics listener: a scraper or two, and herd status.
var metricsLimits = connlimit.Limits{Total: 64, PerAddr: 16}

// apiLimits returns the caps of each of the local API's listeners:
// api.max_connections (and a sixteenth more for trusted proxies) and
// api.max_connections_per_address, or else what the process's file limit
// leaves for two listeners.
func (a *agent) apiLimits() connlimit.Limits {
	lim := connlimit.FromFileLimit(connlimit.FileLimit(), 2)
	if n := a.cfg.API.MaxConnections; n > 0 {
		lim.Total, lim.Reserve = n, n/16
	}
	if n := a.cfg.API.MaxConnectionsPerAddress; n > 0 {
		lim.PerAddr = n
	}
	return lim
}

// priorityClients are the clients that may use a listener's reserve once
// its cap is reached: api.trusted_proxies, loopback when unset (the proxy
// asking forward-auth, the bouncers on this host).
func (a *agent) priorityClients() []netip.Prefix {
	if p := a.cfg.API.TrustedProxies; p != nil {
		return p
	}
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// guard wraps ln, the listener called name, in its caps, and exports its
// counts in the agent's metrics. Every TCP server of the agent serves on a
// guarded listener, so that no client holds more than its share of the
// file descriptors and no accept error stops the agent.
func (a *agent) guard(name string, ln net.Listener, lim connlimit.Limits) net.Listener {
	g := connlimit.New(ln, connlimit.Options{Limits: lim, Name: name, Logger: a.log, Priority: a.priorityClients()})
	a.m.Metrics().Listener(name, metrics.CountsOf(g))
	a.log.Info("agent: listener guarded", "listener", name, "max_connections", lim.Total,
		"max_connections_per_address", lim.PerAddr, "reserve_for_trusted_proxies", lim.Reserve)
	return g
}
