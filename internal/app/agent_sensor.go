package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/afpacket"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

// SensorSweep is how often the live sensor expires its flows and
// publishes its totals, also while no packet comes: the bound, beyond the
// flows' own timeouts, on how late a scan's probes reach the scenarios.
const SensorSweep = time.Second

// startSensor opens the live packet sensor on the configured interfaces
// and queues its run: its behaviour events go through the agent's line
// pipeline (detector, profiles, batch, decision set, firewall) like a log
// line's. A configuration fault (filter, fingerprint file) stops the
// agent; an interface that cannot be opened (not root, no such interface)
// is logged and the agent runs without the sensor.
func (a *agent) startSensor(context.Context) (func(), error) {
	sc := a.cfg.Sensor
	if !sc.Enabled || a.o.Stdin != nil {
		return nil, nil
	}
	if _, err := afpacket.Compile(sc.Filter, afpacket.DefaultSnapLen); err != nil {
		return nil, fmt.Errorf("agent: sensor.filter: %w", err)
	}
	var fps *sensor.Fingerprints
	if sc.Fingerprints != "" {
		var err error
		if fps, err = sensor.LoadFingerprints(sc.Fingerprints); err != nil {
			return nil, fmt.Errorf("agent: sensor.fingerprints: %w", err)
		}
	}
	srcs, err := a.openCapture(sc.Interfaces, sc.Filter, max(sc.Workers, 1))
	if err != nil {
		a.log.Warn("agent: packet sensor not started; the agent runs on its logs alone", "interfaces", sc.Interfaces, "err", err)
		return nil, nil
	}
	closeAll := func() {
		for _, s := range srcs {
			_ = s.Close()
		}
	}
	meter := new(sensor.Meter)
	a.m.Metrics().Sensor(func() metrics.SensorCounts { return sensorCounts(meter.Stats()) })
	a.run(func(ctx context.Context) error { return a.runSensor(ctx, srcs, fps, sc.Flows, meter) })
	a.log.Info("agent: packet sensor capturing", "interfaces", sc.Interfaces, "workers", len(srcs), "filter", sc.Filter)
	return closeAll, nil
}

// openCapture opens workers capture sockets on each interface, in one
// fan-out group per interface when more than one.
func (a *agent) openCapture(ifaces []string, expr string, workers int) ([]capture.Source, error) {
	var srcs []capture.Source
	fail := func(err error) ([]capture.Source, error) {
		for _, s := range srcs {
			_ = s.Close()
		}
		return nil, err
	}
	for i, name := range ifaces {
		o := afpacket.Options{Interface: name, Expr: expr, Idle: SensorSweep, NetNS: a.o.NetNS}
		if workers == 1 {
			s, err := afpacket.Open(o)
			if err != nil {
				return fail(err)
			}
			srcs = append(srcs, s)
			continue
		}
		// Fan-out group ids are shared by the whole network namespace:
		// the process id keeps two agents' groups apart.
		o.FanoutGroup = uint16(os.Getpid()<<4+i)&0x7fff | 1<<15
		g, err := afpacket.OpenGroup(o, workers)
		if err != nil {
			return fail(err)
		}
		srcs = append(srcs, g...)
	}
	return srcs, nil
}

// runSensor runs the sensor until ctx ends or a batch its events gave
// cannot be committed.
func (a *agent) runSensor(ctx context.Context, srcs []capture.Source, fps *sensor.Fingerprints, flows int, meter *sensor.Meter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		for _, s := range srcs {
			_ = s.Close()
		}
	})
	defer stop()
	var commitErr error
	st, err := sensor.Run(ctx, srcs, sensor.Options{
		Fingerprints: fps,
		FlowCapacity: flows,
		Clock:        a.clk,
		Sweep:        SensorSweep,
		Meter:        meter,
		Emit: func(ev *event.Event) int {
			n, err := a.pipe.Event(ctx, ev)
			if err != nil && commitErr == nil {
				commitErr = err
				cancel()
			}
			return n
		},
	})
	a.log.Info("agent: packet sensor stopped", "packets", st.Packets, "dropped", st.Dropped, "flows", st.Flows, "events", st.Events, "alerts", st.Alerts)
	if err = errors.Join(commitErr, err); err != nil {
		return fmt.Errorf("agent: sensor: %w", err)
	}
	return nil
}

// sensorCounts turns the sensor's totals into the metrics' counts.
func sensorCounts(s sensor.Stats) metrics.SensorCounts {
	c := metrics.SensorCounts{Received: s.Received, Dropped: s.Dropped, Flows: s.Flows, Active: s.Active, Evicted: s.Evicted, Events: s.Events, Alerts: s.Alerts}
	for r, n := range s.Decode.Bad {
		if r != int(packet.OK) && r != int(packet.OtherTransport) && n > 0 {
			c.Decode = append(c.Decode, metrics.Count{Label: sensor.DecodeReason(r), N: n})
		}
	}
	for p, n := range s.Protos {
		if n > 0 {
			c.Protos = append(c.Protos, metrics.Count{Label: protoid.Proto(p).String(), N: n})
		}
	}
	return c
}
