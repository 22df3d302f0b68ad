package node

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/metrics"
)

// The hub's metric names (docs/hub.md, "Metrics").
const (
	HubEnrollments        = "herd_hub_enrollments_total"
	HubSignalBatches      = "herd_hub_signal_batches_total"
	HubSignalsAccepted    = "herd_hub_signals_accepted_total"
	HubSignalsRefused     = "herd_hub_signals_refused_total"
	HubRequestsRefused    = "herd_hub_requests_refused_total"
	HubRecomputes         = "herd_hub_recomputes_total"
	HubRecomputeSeconds   = "herd_hub_recompute_seconds"
	HubListed             = "herd_hub_listed_addresses"
	HubVersion            = "herd_hub_changelog_version"
	HubSubscribers        = "herd_hub_blocklist_subscribers"
	HubSubscribersDropped = "herd_hub_blocklist_subscribers_dropped_total"
	HubBlocklistBytes     = "herd_hub_blocklist_bytes_total"
	HubReplayCache        = "herd_hub_replay_cache_entries"
	HubPredicted          = "herd_hub_predicted_entries"
	HubGroupBlobs         = "herd_hub_group_blobs_total"
	HubGroupBlobBytes     = "herd_hub_group_blob_bytes_total"
)

// hubMetrics is a hub node's metric set in a registry of its own: the
// counters are read from the hub's and the blocklist server's Stats at
// each scrape (hubCollector); only the recomputation histogram is fed as
// it happens.
type hubMetrics struct {
	reg       *prometheus.Registry
	recompute prometheus.Histogram
}

func newHubMetrics() *hubMetrics {
	m := &hubMetrics{reg: prometheus.NewRegistry()}
	m.recompute = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    HubRecomputeSeconds,
		Help:    "Seconds one recomputation of the listing took, database lock and change log included.",
		Buckets: metrics.LatencyBuckets,
	})
	m.reg.MustRegister(m.recompute, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *hubMetrics) observe(d time.Duration) { m.recompute.Observe(d.Seconds()) }

// hubCollector reads the counters of a hub node and its blocklist server
// at each scrape: nothing is added on the request paths.
type hubCollector struct {
	srv *hub.Server
	bl  *blocklist.Server

	enrolled, batches, accepted, recomputes *prometheus.Desc
	sigRefused, reqRefused                  *prometheus.Desc
	listed, version                         *prometheus.Desc
	subs, dropped, bytes                    *prometheus.Desc
	nonces, predicted                       *prometheus.Desc
	blobs, blobBytes                        *prometheus.Desc
}

func newHubCollector(srv *hub.Server, bl *blocklist.Server) *hubCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &hubCollector{srv: srv, bl: bl,
		enrolled:   d(HubEnrollments, "Enrollments this node accepted (a key enrolled again counts again)."),
		batches:    d(HubSignalBatches, "Signal batches this node committed."),
		accepted:   d(HubSignalsAccepted, "Signals this node accepted and committed."),
		recomputes: d(HubRecomputes, "Recomputations of the listing this node ran."),
		sigRefused: d(HubSignalsRefused, "Signals refused in accepted batches, per reason (the source's range, or time: a minute outside the window).", "reason"),
		reqRefused: d(HubRequestsRefused, "Requests refused before their content was taken, per reason.", "reason"),
		listed:     d(HubListed, "Addresses listed after this node's last recomputation."),
		version:    d(HubVersion, "The change log's version after this node's last recomputation."),
		subs:       d(HubSubscribers, "Blocklist push streams connected to this node."),
		dropped:    d(HubSubscribersDropped, "Blocklist stream subscribers dropped for falling behind (they reconnect)."),
		bytes:      d(HubBlocklistBytes, "Blocklist bytes written to agents, per kind (snapshot, delta, stream).", "kind"),
		predicted:  d(HubPredicted, "Predicted entries this node holds after its last recomputation."),
		blobs:      d(HubGroupBlobs, "Private groups' blobs this node stored (it cannot read them)."),
		blobBytes:  d(HubGroupBlobBytes, "Bytes of the private groups' blobs this node stored."),
		nonces:     d(HubReplayCache, "(Reporter, nonce) pairs this node's replay cache holds: one per accepted signal request of the last 4 to 8 minutes."),
	}
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.enrolled, c.batches, c.accepted, c.recomputes, c.sigRefused, c.reqRefused, c.listed, c.version, c.subs, c.dropped, c.bytes, c.nonces, c.predicted, c.blobs, c.blobBytes} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(c.enrolled, st.Enrolled)
	counter(c.batches, st.Batches)
	counter(c.accepted, st.Signals)
	counter(c.recomputes, st.Recomputes)
	for i, n := range st.Refused {
		if hub.Refusal(i) != hub.Accepted {
			counter(c.sigRefused, n, hub.Refusal(i).String())
		}
	}
	for _, r := range []struct {
		reason string
		n      uint64
	}{
		{"malformed", st.BadRequests},
		{"bad_signature", st.BadSignatures},
		{"stale_timestamp", st.StaleTimestamps},
		{"replay", st.Replays},
		{"rate_limited", st.RateLimited},
		{"unknown_key", st.UnknownKeys},
		{"replay_cache_full", st.NoncesFull},
	} {
		counter(c.reqRefused, r.n, r.reason)
	}
	gauge(c.listed, st.Listed)
	gauge(c.version, st.Version)
	gauge(c.nonces, st.Nonces)
	gauge(c.predicted, st.Predicted)
	counter(c.blobs, st.Blobs)
	counter(c.blobBytes, st.BlobBytes)
	bs := c.bl.Stats()
	gauge(c.subs, uint64(bs.Subscribers))
	counter(c.dropped, bs.Dropped)
	counter(c.bytes, bs.SnapshotBytes, "snapshot")
	counter(c.bytes, bs.DeltaBytes, "delta")
	counter(c.bytes, bs.StreamBytes, "stream")
}

// MetricsHandler serves the hub node's metrics in the Prometheus text or
// protobuf format (docs/hub.md, "Metrics").
func (h *Hub) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(h.m.reg, promhttp.HandlerOpts{Registry: h.m.reg})
}
