package node

import (
	"github.com/herd-ips/herd/internal/connlimit"
	"github.com/herd-ips/herd/internal/metrics"
)

// WatchListener exports the counts of the hub's guarded listener called
// name ("hub", "hub-metrics") with its metrics (herd_connections_open,
// herd_connections_refused_total, herd_accept_errors_total, ...), read at
// each scrape. Call it once per name.
func (h *Hub) WatchListener(name string, l *connlimit.Listener) {
	metrics.RegisterListener(h.m.reg, name, metrics.CountsOf(l))
}
