package cli

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

func (e *env) sensorCmd() *cobra.Command {
	var (
		read, rulesDir, fpFile string
		asJSON, simulate, all  bool
		workers, flows         int
		cpuprofile             string
		allow                  []string
	)
	c := &cobra.Command{
		Use:   "sensor --read FILE [--json]",
		Short: "Read a packet capture (pcap, pcapng) into flows, protocols and alerts",
		Long: `sensor reads a capture file into bidirectional flows, names each flow's protocol from
its first payload bytes (metadata only: server names, fingerprints, banners, never content),
and runs the flows' behaviour (port scans, floods, reflection, connection-rate brute force)
through the scenario engine, on the capture's own time (docs/sensor.md).

With --json it prints one JSON object per flow as the flow ends and one per alert, in the
shape of herd replay --json; flows that carried no payload and never completed a TCP
handshake (scan probes, flood packets, refused connections) are left out unless --all-flows.
Without --json it prints a summary and the alerts.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if read == "" {
				return usageError{errors.New("sensor: --read FILE is required (live capture runs in herd agent)")}
			}
			if flows < 16 || flows > 1<<26 {
				return usageError{fmt.Errorf("--flows %d: want 16..%d", flows, 1<<26)}
			}
			if workers < 1 || workers > 256 {
				return usageError{fmt.Errorf("--workers %d: want 1..256", workers)}
			}
			set, err := rules.Load(rulesDir)
			if err != nil {
				return err
			}
			var allowed []netip.Prefix
			for _, s := range allow {
				p, err := ipx.ParsePrefix(s)
				if err != nil {
					return usageError{fmt.Errorf("--allow: %w", err)}
				}
				allowed = append(allowed, p)
			}
			host, _ := ipx.HostAddrs()
			// The sensor's events are of service "net": only the
			// scenarios that can take them are compiled, and no parser.
			sset := &rules.Set{Profiles: set.Profiles}
			for _, sc := range set.Scenarios {
				if len(sc.Filter.Services) == 0 || slices.Contains(sc.Filter.Services, "net") {
					sset.Scenarios = append(sset.Scenarios, sc)
				}
			}
			d, err := detect.New(detect.Options{Rules: sset, Simulate: simulate, NeverBan: ipx.NewNeverBan(host, allowed), Clock: e.time()})
			if err != nil {
				return err
			}
			var fps *sensor.Fingerprints
			if fpFile != "" {
				if fps, err = sensor.LoadFingerprints(fpFile); err != nil {
					return err
				}
			}
			r, err := capture.Open(read)
			if err != nil {
				return err
			}
			defer r.Close()
			if cpuprofile != "" {
				pf, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			srcs := sensor.Fanout(r, workers)
			out := bufio.NewWriterSize(e.stdout, 1<<16)
			defer out.Flush()
			var buf []byte
			var alerts []detect.Outcome
			opts := sensor.Options{
				Detector:      d,
				Fingerprints:  fps,
				SkipProbes:    !all,
				FlowCapacity:  flows,
				Deterministic: true,
				Clock:         e.time(),
				OnAlert: func(o *detect.Outcome) {
					if asJSON {
						buf = query.AppendOutcome(buf[:0], o, true)
						out.Write(buf)
						return
					}
					alerts = append(alerts, *o)
				},
			}
			if asJSON {
				opts.OnFlow = func(f *sensor.Flow) {
					buf = f.AppendJSON(buf[:0])
					out.Write(buf)
				}
			}
			st, err := sensor.Run(c.Context(), srcs, opts)
			for _, s := range srcs[1:] {
				s.Close()
			}
			if err != nil {
				return err
			}
			if asJSON {
				writeSensorSummary(e.stderr, read, st)
				return nil
			}
			writeSensorSummary(out, read, st)
			for i := range alerts {
				buf = query.AppendOutcome(buf[:0], &alerts[i], false)
				out.Write(buf)
			}
			return nil
		},
	}
	c.Flags().StringVar(&read, "read", "", "capture file to read (pcap or pcapng)")
	c.Flags().BoolVar(&asJSON, "json", false, "write one JSON object per flow and per alert")
	c.Flags().BoolVar(&all, "all-flows", false, "with --json, also print the flows of no payload that never completed a handshake (probes)")
	c.Flags().StringVar(&rulesDir, "rules", "", "directory of user rule files (*.yaml) added to the embedded defaults")
	c.Flags().StringVar(&fpFile, "fingerprints", "", "file of known-bad client fingerprints (ja3|ja4|hassh FINGERPRINT [label])")
	c.Flags().BoolVar(&simulate, "simulate", false, "alert without deciding")
	c.Flags().StringSliceVar(&allow, "allow", nil, "addresses or prefixes never to ban (repeatable, comma-separated)")
	c.Flags().IntVar(&workers, "workers", 1, "flow workers the capture is spread over by flow hash")
	c.Flags().IntVar(&flows, "flows", 65536, "flows each worker holds at most (beyond, the least useful are evicted and counted)")
	c.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = c.Flags().MarkHidden("cpuprofile")
	return c
}

// writeSensorSummary writes a run's totals: packets, flows, protocols,
// undecodable frames by reason, alerts.
func writeSensorSummary(w interface{ Write([]byte) (int, error) }, name string, st sensor.Stats) {
	secs := st.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(st.Packets) / secs
	}
	fmt.Fprintf(w, "%s: %d packets, %d bytes, %d flows (%d evicted), %d events, %d alerts in %v (%.0f packets/s)\n",
		name, st.Packets, st.Bytes, st.Flows, st.Evicted, st.Events, st.Alerts, st.Elapsed.Round(time.Millisecond), rate)
	type pc struct {
		name string
		n    uint64
	}
	var ps []pc
	for i, n := range st.Protos {
		if n > 0 {
			ps = append(ps, pc{protoid.Proto(i).String(), n})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].n > ps[j].n || ps[i].n == ps[j].n && ps[i].name < ps[j].name })
	fmt.Fprint(w, "flows by protocol:")
	for _, p := range ps {
		fmt.Fprintf(w, " %s=%d", p.name, p.n)
	}
	fmt.Fprintln(w)
	var bad []string
	for r, n := range st.Decode.Bad {
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%s=%d", sensor.DecodeReason(r), n))
		}
	}
	if len(bad) > 0 || st.FragOrphan > 0 {
		fmt.Fprintf(w, "frames not decoded: %v; fragments without their first: %d\n", bad, st.FragOrphan)
	}
}
