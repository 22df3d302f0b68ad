package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/herd-ips/herd/internal/connlimit"
)

// Metric names of the guarded listeners (internal/connlimit).
const (
	ConnectionsOpen     = "herd_connections_open"
	ConnectionsAccepted = "herd_connections_accepted_total"
	ConnectionsRefused  = "herd_connections_refused_total"
	AcceptErrors        = "herd_accept_errors_total"
	// Reasons of ConnectionsRefused.
	RefusedTotal   = "total"       // the listener's cap of open connections
	RefusedPerAddr = "per_address" // the client's cap
)

// ListenerCounts are what a guarded listener has counted since it opened.
type ListenerCounts struct {
	Open                         int
	Accepted                     uint64
	RefusedTotal, RefusedPerAddr uint64
	AcceptErrors                 uint64
}

// Listener exports the counts of the listener called name ("api",
// "forward-auth", "metrics"), read from counts at each scrape. Call it
// once per name.
func (m *Metrics) Listener(name string, counts func() ListenerCounts) {
	RegisterListener(m.reg, name, counts)
}

// RegisterListener is Listener for another registry (the hub's).
func RegisterListener(reg prometheus.Registerer, name string, counts func() ListenerCounts) {
	l := prometheus.Labels{"listener": name}
	reg.MustRegister(&listenerCollector{
		counts:   counts,
		open:     prometheus.NewDesc(ConnectionsOpen, "Connections a listener holds open.", nil, l),
		accepted: prometheus.NewDesc(ConnectionsAccepted, "Connections a listener admitted.", nil, l),
		refused:  prometheus.NewDesc(ConnectionsRefused, "Connections closed as soon as accepted, per reason (total: the listener's cap; per_address: the client's).", []string{"reason"}, l),
		errors:   prometheus.NewDesc(AcceptErrors, "Errors accepting a connection (such as the file limit reached), each followed by a back-off.", nil, l),
	})
}

type listenerCollector struct {
	counts                          func() ListenerCounts
	open, accepted, refused, errors *prometheus.Desc
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.accepted
	ch <- c.refused
	ch <- c.errors
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.counts()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(n.Open))
	ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(n.Accepted))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n.RefusedTotal), RefusedTotal)
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n.RefusedPerAddr), RefusedPerAddr)
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(n.AcceptErrors))
}

// CountsOf reads a guarded listener's counts, for Listener and
// RegisterListener.
func CountsOf(l *connlimit.Listener) func() ListenerCounts {
	return func() ListenerCounts {
		s := l.Stats()
		return ListenerCounts{Open: s.Open, Accepted: s.Accepted, RefusedTotal: s.RefusedTotal,
			RefusedPerAddr: s.RefusedPerAddr, AcceptErrors: s.AcceptErrors}
	}
}
