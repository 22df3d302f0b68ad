// Package metrics holds the live agent's Prometheus metric set, in a private
// registry, the HTTP handler that serves it as /metrics, and the reader of
// such a page (herd status, tests).
//
// The per-line counters are resolved once per source (Source), so counting a
// line is two atomic adds: no label lookup, no allocation.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, for readers of the scrape (herd status, tests, docs).
const (
	LinesRead        = "herd_lines_read_total"
	LinesParsed      = "herd_lines_parsed_total"
	LinesUnparsed    = "herd_lines_unparsed_total"
	LinesDropped     = "herd_lines_dropped_total"
	Events           = "herd_events_total"
	Alerts           = "herd_alerts_total"
	Decisions        = "herd_decisions_total"
	DetectToEnforce  = "herd_detection_to_enforcement_seconds"
	LiveBuckets      = "herd_live_buckets"
	LiveDecisions    = "herd_live_decisions"
	BucketEvictions  = "herd_bucket_evictions_total"
	FirewallErrors   = "herd_firewall_apply_errors_total"
	StoreCommit      = "herd_store_commit_seconds"
	StartTime        = "herd_agent_start_time_seconds"
	DroppedTruncated = "truncated" // a reason of LinesDropped: the tail of an over-long line
)

// LatencyBuckets are the bounds of DetectToEnforce and StoreCommit: 26
// buckets from 100 µs to 10 s, each about 1.58 times the last (five per
// decade).
var LatencyBuckets = prometheus.ExponentialBucketsRange(100e-6, 10, 26)

// Options configures New.
type Options struct {
	// EventKinds are the names of the event kinds, indexed by kind number;
	// Event counts by index into it.
	EventKinds []string
	// LiveDecisions and LiveBuckets, when set, are read at each scrape.
	LiveDecisions func() float64
	LiveBuckets   func() float64
	// Start is when the agent started (exported as StartTime).
	Start time.Time
}

// Metrics is the agent's metric set. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry

	read, parsed, unparsed *prometheus.CounterVec
	dropped                *prometheus.CounterVec
	events                 []prometheus.Counter
	alerts                 *prometheus.CounterVec
	decisions              *prometheus.CounterVec
	latency                prometheus.Histogram
	evictions              prometheus.Counter
	fwErrors               prometheus.Counter
	commit                 prometheus.Histogram
}

// New builds the metric set in a registry of its own, with the Go runtime
// and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.read = counterVec(LinesRead, "Lines read, per source (a file path, journald, syslog, stdin).", "source")
	m.parsed = counterVec(LinesParsed, "Lines a parser rule took, per source.", "source")
	m.unparsed = counterVec(LinesUnparsed, "Lines no parser rule took (or with an invalid timestamp), per source.", "source")
	m.dropped = counterVec(LinesDropped, "Lines or parts of lines not examined, per source and reason.", "source", "reason")
	ev := counterVec(Events, "Events (lines that say something about an address), per kind.", "kind")
	for _, k := range o.EventKinds {
		m.events = append(m.events, ev.WithLabelValues(k))
	}
	m.alerts = counterVec(Alerts, "Alerts raised (scenario buckets that overflowed), per scenario.", "scenario")
	m.decisions = counterVec(Decisions, "Decisions taken by the profiles, per scenario and origin.", "scenario", "origin")
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    DetectToEnforce,
		Help:    "Seconds from reading the line that led to a ban to the commit of the nftables batch carrying it (to its print when dry).",
		Buckets: LatencyBuckets,
	})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    StoreCommit,
		Help:    "Seconds to commit one batch (alerts, decisions and offsets) to the store.",
		Buckets: LatencyBuckets,
	})
	m.evictions = prometheus.NewCounter(prometheus.CounterOpts{Name: BucketEvictions, Help: "Scenario buckets dropped before they expired because the bucket bound was reached."})
	m.fwErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: FirewallErrors, Help: "nftables batches that failed to apply (the agent then reconciles)."})
	m.reg.MustRegister(m.latency, m.commit, m.evictions, m.fwErrors)
	gauge := func(name, help string, f func() float64) {
		if f != nil {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	gauge(LiveDecisions, "Decisions live in the agent's set (enforced, or printed when dry).", o.LiveDecisions)
	gauge(LiveBuckets, "Scenario buckets held in memory.", o.LiveBuckets)
	if !o.Start.IsZero() {
		start := float64(o.Start.UnixNano()) / 1e9
		gauge(StartTime, "Unix time the agent started.", func() float64 { return start })
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text or protobuf format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Source is the per-line counters of one source, resolved once.
type Source struct {
	read, parsed, unparsed prometheus.Counter
}

// Source resolves the counters of the source named name (a file path,
// "journald", ...). Call it once per source, not per line.
func (m *Metrics) Source(name string) *Source {
	return &Source{
		read:     m.read.WithLabelValues(name),
		parsed:   m.parsed.WithLabelValues(name),
		unparsed: m.unparsed.WithLabelValues(name),
	}
}

// Line counts one line read from s, parsed or not. It does not allocate.
// A nil Source counts nothing.
func (s *Source) Line(parsed bool) {
	if s == nil {
		return
	}
	s.read.Inc()
	if parsed {
		s.parsed.Inc()
	} else {
		s.unparsed.Inc()
	}
}

// Dropped returns the counter of lines of source dropped for reason; resolve
// it once and Add to it.
func (m *Metrics) Dropped(source, reason string) prometheus.Counter {
	return m.dropped.WithLabelValues(source, reason)
}

// Event counts one event of kind number k (an index of Options.EventKinds;
// others are ignored). It does not allocate.
func (m *Metrics) Event(k int) {
	if k >= 0 && k < len(m.events) {
		m.events[k].Inc()
	}
}

// Alert counts one alert of scenario.
func (m *Metrics) Alert(scenario string) { m.alerts.WithLabelValues(scenario).Inc() }

// Decision counts one decision of scenario and origin.
func (m *Metrics) Decision(scenario, origin string) {
	m.decisions.WithLabelValues(scenario, origin).Inc()
}

// DetectToEnforce records the time from a line's read to its ban's
// enforcement.
func (m *Metrics) DetectToEnforce(d time.Duration) { m.latency.Observe(d.Seconds()) }

// StoreCommit records the time of one batch commit.
func (m *Metrics) StoreCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// Evicted adds n bucket evictions.
func (m *Metrics) Evicted(n uint64) { m.evictions.Add(float64(n)) }

// FirewallError counts one failed nftables batch.
func (m *Metrics) FirewallError() { m.fwErrors.Inc() }
