package metrics

import "github.com/prometheus/client_golang/prometheus"

// Notifications is the metric name of the notification channels' counts
// (internal/notify), labelled by channel and result: sent, failed,
// dropped, retried, digest.
const Notifications = "herd_notifications_total"

// NotifyCounts are one notification channel's totals.
type NotifyCounts struct {
	Sent, Failed, Dropped, Retried, Digests uint64
}

// Notifications exports the counts of the notification channels, read from
// counts (by channel name) at each scrape. Call it once.
func (m *Metrics) Notifications(counts func() map[string]NotifyCounts) {
	m.reg.MustRegister(&notifyCollector{counts: counts,
		desc: prometheus.NewDesc(Notifications, "Notification messages per channel and result (sent, failed: given up after the last retry or refused; dropped: the channel's queue was full; retried: attempts after a failure; digest: digests sent).",
			[]string{"channel", "result"}, nil)})
}

type notifyCollector struct {
	counts func() map[string]NotifyCounts
	desc   *prometheus.Desc
}

func (c *notifyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *notifyCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.counts() {
		for _, r := range []struct {
			result string
			v      uint64
		}{{"sent", n.Sent}, {"failed", n.Failed}, {"dropped", n.Dropped}, {"retried", n.Retried}, {"digest", n.Digests}} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(r.v), name, r.result)
		}
	}
}
