package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric names of the XDP filter (internal/enforce/xdp).
const (
	XDPDropped  = "herd_xdp_dropped_packets_total"
	XDPPrefixes = "herd_xdp_prefixes"
)

// XDPCounts are what the XDP filter has counted and holds.
type XDPCounts struct {
	Dropped4, Dropped6   uint64 // packets dropped, per family
	Prefixes4, Prefixes6 int    // prefixes in each trie
}

// XDP exports the XDP filter's counts, read from counts at each scrape
// (one bpf(2) call). A counts that fails returns ok false and nothing is
// exported for that scrape.
func (m *Metrics) XDP(counts func() (XDPCounts, bool)) {
	m.reg.MustRegister(&xdpCollector{
		counts:   counts,
		dropped:  prometheus.NewDesc(XDPDropped, "Packets the XDP filter dropped at the driver, per address family.", []string{"family"}, nil),
		prefixes: prometheus.NewDesc(XDPPrefixes, "Banned prefixes in the XDP filter's tries, per address family.", []string{"family"}, nil),
	})
}

type xdpCollector struct {
	counts            func() (XDPCounts, bool)
	dropped, prefixes *prometheus.Desc
}

func (c *xdpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dropped
	ch <- c.prefixes
}

func (c *xdpCollector) Collect(ch chan<- prometheus.Metric) {
	n, ok := c.counts()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n.Dropped4), "ipv4")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n.Dropped6), "ipv6")
	ch <- prometheus.MustNewConstMetric(c.prefixes, prometheus.GaugeValue, float64(n.Prefixes4), "ipv4")
	ch <- prometheus.MustNewConstMetric(c.prefixes, prometheus.GaugeValue, float64(n.Prefixes6), "ipv6")
}
