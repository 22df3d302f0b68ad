package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric names of the live packet sensor (internal/sensor).
const (
	SensorPackets      = "herd_sensor_packets_total"
	SensorDropped      = "herd_sensor_dropped_packets_total"
	SensorDecodeErrors = "herd_sensor_decode_errors_total"
	SensorFlows        = "herd_sensor_flows_total"
	SensorFlowsActive  = "herd_sensor_flows_active"
	SensorFlowsEvicted = "herd_sensor_flows_evicted_total"
	SensorProtocols    = "herd_sensor_protocol_flows_total"
	SensorEvents       = "herd_sensor_events_total"
	SensorAlerts       = "herd_sensor_alerts_total"
)

// Count is one labelled count.
type Count struct {
	Label string
	N     uint64
}

// SensorCounts are the live sensor's totals.
type SensorCounts struct {
	Received uint64  // packets the kernel put in the capture rings
	Dropped  uint64  // packets the kernel dropped (rings full)
	Decode   []Count // frames not decoded, by reason
	Flows    uint64  // flows created
	Active   int     // flows in the tables now
	Evicted  uint64  // flows pushed out of a full table
	Protos   []Count // flows ended, by the protocol identified
	Events   uint64  // behaviour events given to the detector
	Alerts   uint64  // alerts those events raised
}

// Sensor exports the live sensor's totals, read from counts at each
// scrape.
func (m *Metrics) Sensor(counts func() SensorCounts) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.reg.MustRegister(&sensorCollector{
		counts:  counts,
		packets: d(SensorPackets, "Packets the kernel put in the sensor's capture rings."),
		dropped: d(SensorDropped, "Packets the kernel dropped because the sensor's rings were full."),
		decode:  d(SensorDecodeErrors, "Captured frames the sensor could not decode, by reason.", "reason"),
		flows:   d(SensorFlows, "Flows the sensor created."),
		active:  d(SensorFlowsActive, "Flows in the sensor's tables."),
		evicted: d(SensorFlowsEvicted, "Flows pushed out of a full flow table by new ones."),
		protos:  d(SensorProtocols, "Flows ended, by the protocol the sensor identified (unknown when none).", "protocol"),
		events:  d(SensorEvents, "Behaviour events the sensor gave the detector."),
		alerts:  d(SensorAlerts, "Alerts raised by the sensor's events."),
	})
}

type sensorCollector struct {
	counts                                                                   func() SensorCounts
	packets, dropped, decode, flows, active, evicted, protos, events, alerts *prometheus.Desc
}

func (c *sensorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.dropped, c.decode, c.flows, c.active, c.evicted, c.protos, c.events, c.alerts} {
		ch <- d
	}
}

func (c *sensorCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.counts()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.packets, n.Received)
	counter(c.dropped, n.Dropped)
	for _, b := range n.Decode {
		counter(c.decode, b.N, b.Label)
	}
	counter(c.flows, n.Flows)
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n.Active))
	counter(c.evicted, n.Evicted)
	for _, p := range n.Protos {
		counter(c.protos, p.N, p.Label)
	}
	counter(c.events, n.Events)
	counter(c.alerts, n.Alerts)
}
