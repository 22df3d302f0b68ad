package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/predict"
	"github.com/herd-ips/herd/internal/hub/simulate"
	"github.com/herd-ips/herd/internal/ipx"
)

func (e *env) hubSimulateCmd() *cobra.Command {
	var (
		reportersFile, innocentsFile, measureFrom string
		asJSON, noPredict                         bool
		delay, recompute, localBan, ttl           time.Duration
		memory, sweep                             time.Duration
		trustAnyone, sweepNetworks                int
		protect, explain                          []string
	)
	c := &cobra.Command{
		Use:   "simulate [--json] LOG.csv[.gz]",
		Short: "Replay a multi-member event log through the hub's reputation and prediction rules on a simulated clock",
		Long: `Replay a CSV log time,reporter,source,class (RFC 3339 times, hub class names, sorted by time,
plain or gzip; "-" reads standard input) as the hub would have seen it: every row is an alert at its
reporter, which bans the source locally and signals the hub; the community listing and the predictions
reach every agent after --delay. With --json, one object per row (what blocked it at that moment,
before its own effect) and one per change of what agents block; a summary goes to standard error.`,
		Args: argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o := simulate.Options{
				NoPredictions: noPredict, Delay: delay, Recompute: recompute, LocalBan: localBan,
				Predict: predict.Rules{TTL: ttl, Memory: memory, Sweep: sweep, SweepNetworks: sweepNetworks, TrustAnyone: trustAnyone},
			}
			var prot []netip.Prefix
			for _, p := range protect {
				pp, err := ipx.ParsePrefix(p)
				if err != nil {
					return usageError{fmt.Errorf("--protect %q: %w", p, err)}
				}
				prot = append(prot, pp)
			}
			o.Protected = ipx.NewNeverBan(nil, append(hub.ProtectedRanges(), prot...))
			o.Noise = ipx.NewNeverBan(nil, hub.NoiseRanges())
			if measureFrom != "" {
				t, err := time.Parse(time.RFC3339, measureFrom)
				if err != nil {
					if t, err = time.Parse("2006-01-02", measureFrom); err != nil {
						return usageError{fmt.Errorf("--measure-from %q: want RFC 3339 or 2006-01-02", measureFrom)}
					}
				}
				o.MeasureFrom = t
			}
			if reportersFile != "" {
				f, err := os.Open(reportersFile)
				if err != nil {
					return err
				}
				o.Reporters, err = simulate.ReadReporters(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", reportersFile, err)
				}
			}
			if innocentsFile != "" {
				set, err := readAddrSet(innocentsFile)
				if err != nil {
					return err
				}
				o.Innocent = func(a netip.Addr) bool { _, ok := set[a]; return ok }
			}
			var exp []netip.Addr
			for _, s := range explain {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return usageError{fmt.Errorf("--explain %q is not an IP address", s)}
				}
				exp = append(exp, a.Unmap())
			}
			out := bufio.NewWriterSize(e.stdout, 1<<16)
			if asJSON {
				var b []byte
				o.OnRow = func(r simulate.RowResult) error {
					b = append(b[:0], `{"time":"`...)
					b = r.Time.AppendFormat(b, time.RFC3339)
					b = append(b, `","reporter":`...)
					b = appendJSONString(b, r.Reporter)
					b = append(b, `,"source":"`...)
					b = r.Source.AppendTo(b)
					b = append(b, `","blocked":`...)
					if r.Blocked == simulate.NotBlocked {
						b = append(b, "null"...)
					} else {
						b = strconv.AppendQuote(b, r.Blocked.String())
					}
					b = append(b, "}\n"...)
					_, err := out.Write(b)
					return err
				}
				o.OnChange = func(ch simulate.Change) error {
					b = append(b[:0], `{"time":"`...)
					b = ch.Time.AppendFormat(b, time.RFC3339)
					b = append(b, `","prefix":"`...)
					b = ch.Prefix.AppendTo(b)
					b = append(b, `","list":`...)
					b = strconv.AppendQuote(b, ch.List.String())
					b = append(b, `,"action":`...)
					if ch.Add {
						b = append(b, `"add"`...)
					} else {
						b = append(b, `"remove"`...)
					}
					if ch.Reason != "" {
						b = append(b, `,"reason":`...)
						b = appendJSONString(b, ch.Reason)
					}
					b = append(b, "}\n"...)
					_, err := out.Write(b)
					return err
				}
			}
			var in io.Reader = e.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			sim := simulate.New(o)
			if err := simulate.Read(in, sim.Row); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			sum, err := sim.Finish()
			if err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
			writeSummary(e.stderr, sum, o.Innocent != nil)
			for _, a := range exp {
				x := sim.Explain(a)
				fmt.Fprintf(e.stderr, "explain %s: %s\n", a, x.Reason)
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object per row and per change of what agents block")
	f.StringVar(&reportersFile, "reporters", "", "CSV reporter,address,enrolled: networks and enrollment dates (default: each reporter its own network, enrolled 30 days before its first row)")
	f.StringVar(&innocentsFile, "innocents", "", "file of innocent addresses, one a line: the summary counts those any entry covered")
	f.StringVar(&measureFrom, "measure-from", "", "rows before this time (RFC 3339 or 2006-01-02) only warm the rules up")
	f.BoolVar(&noPredict, "no-predict", false, "turn the predictor off")
	f.DurationVar(&delay, "delay", simulate.DefaultDelay, "propagation delay of listings and predictions to agents")
	f.DurationVar(&recompute, "recompute", simulate.DefaultRecompute, "period of the hub's recomputation on the simulated clock")
	f.DurationVar(&localBan, "local-ban", simulate.DefaultLocalBan, "how long a reporter bans a source it alerted on")
	f.DurationVar(&ttl, "ttl", predict.DefaultTTL, "lifetime of a prediction after its last renewal")
	f.DurationVar(&memory, "memory", predict.DefaultMemory, "how long a listing vouches for its address and block")
	f.DurationVar(&sweep, "sweep", predict.DefaultSweep, "window in which reports of several networks make a sweep")
	f.IntVar(&sweepNetworks, "sweep-networks", predict.DefaultSweepNetworks, "distinct trusted networks a sweep needs")
	f.IntVar(&trustAnyone, "trust-anyone", 0, "also predict any source this many trusted networks report within the sweep window (poisonable; for comparison)")
	f.StringArrayVar(&protect, "protect", nil, "protected ranges beside the shipped ones (repeatable)")
	f.StringArrayVar(&explain, "explain", nil, "after the replay, say why ADDRESS is predicted or not (repeatable)")
	return c
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func readAddrSet(path string) (map[netip.Addr]struct{}, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	set := map[netip.Addr]struct{}{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an IP address", path, n)
		}
		set[a.Unmap()] = struct{}{}
	}
	return set, sc.Err()
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

func writeSummary(w io.Writer, s simulate.Summary, innocents bool) {
	fmt.Fprintf(w, "rows %d, measured %d over %.1f days (replayed in %s)\n", s.Rows, s.Measured, s.Days, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "rows blocked: local %.1f%%, community %.1f%%, predicted %.1f%%, any %.1f%%\n",
		pct(s.ByLocal, s.Measured), pct(s.ByCommunity, s.Measured), pct(s.ByPredicted, s.Measured), pct(s.ByLocal+s.ByCommunity+s.ByPredicted, s.Measured))
	fmt.Fprintf(w, "first hits (source, reporter): %d, pre-blocked %.1f%% (community %.1f%%, predicted only %.1f%%)\n",
		s.FirstHits, pct(s.PreBlocked, s.FirstHits), pct(s.PreBlocked-s.PreBlockedPredicted, s.FirstHits), pct(s.PreBlockedPredicted, s.FirstHits))
	fmt.Fprintf(w, "community list: max %d, mean %.0f entries; %d adds, %d removes\n", s.MaxCommunity, s.MeanCommunity, s.CommunityAdds, s.CommunityRemoves)
	fmt.Fprintf(w, "predicted: max %d, mean %.0f entries; %d adds, %d removes; %d of %d predictions (%.1f%%) blocked a first hit before expiring\n",
		s.MaxPredicted, s.MeanPredicted, s.PredictedAdds, s.PredictedRemoves, s.PredictionsHit, s.Predictions, pct(s.PredictionsHit, s.Predictions))
	for k := predict.Recidivist; k <= predict.TrustAnyone; k++ {
		if b := s.ByKind[k]; b.Predictions > 0 {
			fmt.Fprintf(w, "  %s: %d predictions, %d first hits pre-blocked (%.1f%%)\n", k, b.Predictions, b.PreBlocked, pct(b.PreBlocked, s.FirstHits))
		}
	}
	if innocents {
		fmt.Fprintf(w, "innocent addresses covered: %d (community %d, predicted %d)\n", s.InnocentsCovered, s.InnocentsCommunity, s.InnocentsPredic)
	}
}

// predictionJSON is the "prediction" member of herd hub explain --json.
func predictionJSON(x predict.Explanation, on bool) any {
	type pj struct {
		Enabled    bool       `json:"enabled"`
		Predicted  bool       `json:"predicted"`
		Prefix     string     `json:"prefix,omitempty"`
		Kind       string     `json:"kind,omitempty"`
		Until      *time.Time `json:"until,omitempty"`
		Reason     string     `json:"reason"`
		Networks   int        `json:"networks"`
		Support    float64    `json:"support"`
		Listed     int        `json:"listed_in_network"`
		LastListed *time.Time `json:"last_listed,omitempty"`
	}
	out := pj{Enabled: on, Predicted: x.Predicted, Reason: x.Reason, Networks: x.Networks, Support: x.Support, Listed: x.Listed}
	if x.Predicted {
		u := x.Prediction.Until
		out.Prefix, out.Kind, out.Until = x.Prediction.Prefix.String(), x.Prediction.Kind.String(), &u
	}
	if !x.LastListed.IsZero() {
		l := x.LastListed
		out.LastListed = &l
	}
	return out
}

// writePrediction prints the prediction part of herd hub explain.
func writePrediction(w io.Writer, x predict.Explanation, on bool) {
	switch {
	case !on:
		fmt.Fprintln(w, "prediction: predictions are off")
	case x.Predicted:
		fmt.Fprintf(w, "prediction: PREDICTED %s (%s) until %s\n  reason: %s\n", x.Prediction.Prefix, x.Prediction.Kind, x.Prediction.Until.UTC().Format(time.RFC3339), x.Reason)
	default:
		fmt.Fprintf(w, "prediction: not predicted: %s\n", x.Reason)
	}
}
