package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/geoip"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/rules"
)

// detectorFlags are the flags replay and explain share.
type detectorFlags struct {
	rulesDir string
	tz       string
	program  string
	format   string
	clients  []string
	simulate bool
	allow    []string
	json     bool
	evidence bool   // keep the lines behind each alert (replay --json --lines)
	geoip    string // database directory for GeoIP enrichment, "" for none
}

func (f *detectorFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.rulesDir, "rules", "", "directory of user rule files (*.yaml) added to the embedded defaults")
	c.Flags().BoolVar(&f.json, "json", false, "write JSON, one object per line")
	c.Flags().StringVar(&f.tz, "tz", "", "time zone of timestamps that carry none (default: local)")
	c.Flags().StringVar(&f.program, "program", "", "program name for lines without a syslog envelope (e.g. sshd for journal message bodies); implies --format message")
	c.Flags().StringVar(&f.format, "format", "", "read every FILE as this format ("+strings.Join(detect.FormatNames(), ", ")+"); default: detected per file from its first lines")
	c.Flags().StringSliceVar(&f.clients, "json-client-fields", nil, "fields of JSON access logs holding the client address, in order (KEY or request.KEY); default: remote_addr, request.remote_ip, request.remote_addr, ClientHost")
	c.Flags().BoolVar(&f.simulate, "simulate", false, "alert without deciding")
	c.Flags().StringVar(&f.geoip, "geoip", "", "enrich alerts with country and ASN from the databases in this directory (herd geoip update); default: none")
	c.Flags().StringSliceVar(&f.allow, "allow", nil, "addresses or prefixes never to ban (repeatable, comma-separated)")
}

func (f *detectorFlags) detector() (*detect.Detector, error) {
	if _, _, err := detect.ParseFormat(f.format); err != nil {
		return nil, usageError{fmt.Errorf("--format: %w", err)}
	}
	set, err := rules.Load(f.rulesDir)
	if err != nil {
		return nil, err
	}
	loc := time.Local
	if f.tz != "" {
		if loc, err = time.LoadLocation(f.tz); err != nil {
			return nil, usageError{fmt.Errorf("--tz: %w", err)}
		}
	}
	var allow []netip.Prefix
	for _, s := range f.allow {
		p, err := ipx.ParsePrefix(s)
		if err != nil {
			return nil, usageError{fmt.Errorf("--allow: %w", err)}
		}
		allow = append(allow, p)
	}
	host, _ := ipx.HostAddrs() // best effort: a host without interfaces still replays
	ev := 0
	if f.evidence {
		ev = detect.DefaultEvidence
	}
	var geo detect.Geo
	if f.geoip != "" {
		t, err := geoip.Load(f.geoip)
		if err != nil {
			return nil, err
		}
		geo = t
	}
	return detect.New(detect.Options{
		Geo:      geo,
		Rules:    set,
		Location: loc,
		Simulate: f.simulate,
		NeverBan: ipx.NewNeverBan(host, allow),
		Evidence: ev,
		// nil: the default fields
		JSONClientFields: f.clients,
	})
}

// open builds the detector and opens the inputs replay and explain read;
// done closes the files.
func (f *detectorFlags) open(args []string, stdin io.Reader) (d *detect.Detector, ins []query.Input, done func(), err error) {
	if d, err = f.detector(); err != nil {
		return nil, nil, nil, err
	}
	ins, closers, err := query.OpenInputs(args, stdin)
	if err != nil {
		return nil, nil, nil, err
	}
	return d, ins, func() {
		for _, c := range closers {
			c.Close()
		}
	}, nil
}

func (e *env) replayCmd() *cobra.Command {
	var f detectorFlags
	var cpuprofile string
	c := &cobra.Command{
		Use:   "replay [--rules DIR] [--json] [--format NAME] FILE...",
		Short: "Run log files through the detection engine as fast as possible and print alerts and decisions",
		Long: `replay reads each FILE ("-" for standard input) on the logs' own time, so a replayed
file gives what the live agent would have given, and prints every alert with its decision.
Each FILE is read as one log format, detected from its first lines (--format NAME forces
one); lines that do not start a record of that format are continuations, never parsed.
With --json it prints exactly one JSON object per alert on standard output; --lines adds
the log lines behind each alert to it, as herd alerts inspect shows them (at some cost in
speed). A summary goes to standard error.`,
		Args: argsAtLeast(1),
		RunE: func(c *cobra.Command, args []string) error {
			if f.evidence && !f.json {
				return usageError{errors.New("--lines goes with --json")}
			}
			d, ins, done, err := f.open(args, e.stdin)
			if err != nil {
				return err
			}
			defer done()
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
			_, err = query.Replay(c.Context(), query.ReplayOptions{
				Detector: d,
				Inputs:   ins,
				Hint:     f.program,
				Format:   f.format,
				JSON:     f.json,
				Out:      e.stdout,
				Summary:  e.stderr,
				Progress: e.progress(),
				Time:     e.time(),
			})
			return err
		},
	}
	f.register(c)
	c.Flags().BoolVar(&f.evidence, "lines", false, "with --json, add the log lines behind each alert (at most 32, oldest first)")
	c.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the replay to this file")
	_ = c.Flags().MarkHidden("cpuprofile")
	return c
}

func (e *env) explainCmd() *cobra.Command {
	var f detectorFlags
	c := &cobra.Command{
		Use:   "explain [--json] [--format NAME] FILE...",
		Short: "Show, for each log line, which parser took it, the event and the scenarios it fed",
		Args:  argsAtLeast(1),
		RunE: func(c *cobra.Command, args []string) error {
			d, ins, done, err := f.open(args, e.stdin)
			if err != nil {
				return err
			}
			defer done()
			return query.Explain(c.Context(), query.ExplainOptions{
				Detector: d, Inputs: ins, Hint: f.program, Format: f.format, JSON: f.json, Out: e.stdout, Time: e.time(),
			})
		},
	}
	f.register(c)
	return c
}
