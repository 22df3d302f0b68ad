package metrics

import (
	"testing"
	"time"
)

// TestSensorReachesTheScrape: the sensor's counts, read at the scrape, are
// exported under their names and labels.
func TestSensorReachesTheScrape(t *testing.T) {
	m := New(Options{Start: time.Unix(1700000000, 0)})
	packets := uint64(10)
	m.Sensor(func() SensorCounts {
		return SensorCounts{Received: packets, Dropped: 2, Flows: 5, Active: 3, Evicted: 1, Events: 7, Alerts: 1,
			Decode: []Count{{"short_tcp", 4}}, Protos: []Count{{"TLS", 2}, {"Unknown", 1}}}
	})
	s := scrape(t, m)
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{SensorPackets, nil, 10}, {SensorDropped, nil, 2}, {SensorFlows, nil, 5}, {SensorFlowsActive, nil, 3},
		{SensorFlowsEvicted, nil, 1}, {SensorEvents, nil, 7}, {SensorAlerts, nil, 1},
		{SensorDecodeErrors, []string{"reason", "short_tcp"}, 4}, {SensorProtocols, []string{"protocol", "TLS"}, 2},
	} {
		if got := s.Sum(c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	packets = 12
	if got := scrape(t, m).Sum(SensorPackets); got != 12 {
		t.Errorf("second scrape: %v packets, want 12", got)
	}
}
