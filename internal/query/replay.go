package query

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/source/lines"
	"github.com/herd-ips/herd/internal/termtext"
)

// Input is one log to replay: a named reader and the time its last line was
// written (for year inference; zero = now).
type Input struct {
	Name    string
	R       io.Reader
	ModTime time.Time
	Size    int64 // -1 when unknown (standard input from a pipe)
}

// OpenInputs opens the named files; "-" is standard input. The caller closes
// the returned closers.
func OpenInputs(names []string, stdin io.Reader) ([]Input, []io.Closer, error) {
	var ins []Input
	var cs []io.Closer
	for _, n := range names {
		if n == "-" {
			in := Input{Name: "-", R: stdin, Size: -1}
			// A file redirected to standard input has a size (for the
			// progress bar); its modification time is not taken: the
			// input is named "-", not that file.
			if f, ok := stdin.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
					in.Size = st.Size()
				}
			}
			ins = append(ins, in)
			continue
		}
		f, err := os.Open(n)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, nil, fmt.Errorf("replay: %w", err)
		}
		cs = append(cs, f)
		in := Input{Name: n, R: f, Size: -1}
		if st, err := f.Stat(); err == nil {
			in.ModTime, in.Size = st.ModTime(), st.Size()
		}
		ins = append(ins, in)
	}
	return ins, cs, nil
}

// ReplayOptions configures Replay.
type ReplayOptions struct {
	Detector *detect.Detector
	Inputs   []Input
	Hint     string // program of envelope-less lines, "" for none; implies format message unless Format is set
	// Format is the format family of every input (ParseFormat); "" detects
	// each input's from its first lines and locks it for that input.
	Format  string
	JSON    bool      // one JSON object per alert on Out
	Out     io.Writer // alerts and decisions
	Summary io.Writer // the closing summary; nil for none
	// Progress, when non-nil, wraps each input for a progress display.
	Progress func(in Input) io.Reader
	Time     clock.Clock // wall clock for the elapsed time; nil = clock.Real
	MaxLine  int         // longest line kept whole; 0 = lines.DefaultMax
}

// ReplayStats is what a replay counted.
type ReplayStats struct {
	detect.Counters
	Truncated uint64
	Elapsed   time.Duration
	Formats   []InputFormat // per input, in order
}

// InputFormat is the format an input was read as.
type InputFormat struct {
	Name    string
	Binding detect.Binding
}

// inputBinding returns the binding of an input read through r, and the
// reader to read it from: the configured format, message when hint names
// a program, else the format detected from the input's first lines.
func inputBinding(d *detect.Detector, format, hint string, r io.Reader) (detect.Binding, io.Reader, error) {
	b, err := detect.SourceBinding(format, hint)
	if err != nil {
		return detect.Binding{}, r, err
	}
	if b.Locked {
		return b, r, nil
	}
	head, r := detect.PeekHead(r)
	b.Lock(d, head)
	return b, r, nil
}

// Replay runs every input through the detector as fast as it can, on the
// logs' own time, and writes each alert with its decision to Out.
func Replay(ctx context.Context, o ReplayOptions) (ReplayStats, error) {
	now := clock.Or(o.Time).Now
	start := now()
	w := bufio.NewWriterSize(o.Out, 64<<10)
	var st ReplayStats
	var buf []byte
	for _, in := range o.Inputs {
		if !in.ModTime.IsZero() {
			o.Detector.SetReference(in.ModTime)
		} else {
			o.Detector.SetReference(start)
		}
		r := in.R
		if o.Progress != nil {
			r = o.Progress(in)
		}
		b, r, err := inputBinding(o.Detector, o.Format, o.Hint, r)
		if err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
		lr := lines.NewReader(r, o.MaxLine)
		for n := 0; ; n++ {
			if n&0xffff == 0 && ctx.Err() != nil {
				return st, ctx.Err()
			}
			line, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return st, fmt.Errorf("replay %s: %w", in.Name, err)
			}
			if !b.Lock(o.Detector, line) || b.Unknown {
				o.Detector.Undetected()
				continue
			}
			res := o.Detector.LineAs(line, b.Family, o.Hint)
			for i := range res.Outcomes {
				buf = AppendOutcome(buf[:0], &res.Outcomes[i], o.JSON)
				if _, err := w.Write(buf); err != nil {
					return st, fmt.Errorf("replay: writing output: %w", err)
				}
			}
		}
		st.Truncated += lr.Truncated
		st.Formats = append(st.Formats, InputFormat{Name: in.Name, Binding: b})
	}
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("replay: writing output: %w", err)
	}
	st.Counters = o.Detector.Counters()
	st.Elapsed = now().Sub(start)
	if o.Summary != nil {
		WriteSummary(o.Summary, st)
	}
	return st, nil
}

// AppendOutcome appends one alert and its decision as a line of text or, with
// asJSON, as one JSON object:
//
//	{"scenario":"ssh-bruteforce","source":"192.0.2.7","first":"…","last":"…","events":6,
//	 "decision":{"type":"ban","duration":"4h0m0s"},"verdict":"decided"}
//
// "country", "asn" and "as_org" follow "events" when GeoIP enrichment knows
// them. "decision" is null when no decision was taken; "verdict" says why
// (decided, allowlisted, simulated, no_remedy). When the detector keeps
// evidence, "lines" follows "verdict": the log lines behind the alert,
// oldest first (detect.Outcome.Lines).
func AppendOutcome(b []byte, o *detect.Outcome, asJSON bool) []byte {
	a := &o.Alert
	if !asJSON {
		b = a.Last.AppendFormat(b, time.RFC3339)
		b = append(b, ' ')
		b = termtext.Append(b, a.Scenario)
		b = append(b, ' ')
		b = a.Source.AppendTo(b)
		b = append(b, " events="...)
		b = strconv.AppendInt(b, int64(a.Events), 10)
		b = append(b, " first="...)
		b = a.First.AppendFormat(b, time.RFC3339)
		if a.Geo.Country != "" {
			b = append(b, " country="...)
			b = append(b, a.Geo.Country...)
		}
		if a.Geo.ASN != 0 {
			b = append(b, " asn="...)
			b = strconv.AppendUint(b, uint64(a.Geo.ASN), 10)
		}
		if o.Verdict == profile.Decided {
			b = append(b, " → "...)
			b = append(b, o.Decision.Type.String()...)
			b = append(b, ' ')
			b = append(b, o.Decision.Scope.String()...)
			b = append(b, " for "...)
			b = append(b, o.Decision.Duration.String()...)
		} else {
			b = append(b, " (no decision: "...)
			b = append(b, o.Verdict.String()...)
			b = append(b, ')')
		}
		return append(b, '\n')
	}
	b = append(b, `{"scenario":`...)
	b = appendJSONString(b, a.Scenario)
	b = append(b, `,"source":"`...)
	b = a.Source.AppendTo(b)
	b = append(b, `","first":"`...)
	b = a.First.AppendFormat(b, time.RFC3339)
	b = append(b, `","last":"`...)
	b = a.Last.AppendFormat(b, time.RFC3339)
	b = append(b, `","events":`...)
	b = strconv.AppendInt(b, int64(a.Events), 10)
	if a.Geo.Country != "" {
		b = append(b, `,"country":`...)
		b = appendJSONString(b, a.Geo.Country)
	}
	if a.Geo.ASN != 0 {
		b = append(b, `,"asn":`...)
		b = strconv.AppendUint(b, uint64(a.Geo.ASN), 10)
		b = append(b, `,"as_org":`...)
		b = appendJSONString(b, a.Geo.ASOrg)
	}
	b = append(b, `,"decision":`...)
	if o.Verdict == profile.Decided {
		b = append(b, `{"type":"`...)
		b = append(b, o.Decision.Type.String()...)
		b = append(b, `","duration":"`...)
		b = append(b, o.Decision.Duration.String()...)
		b = append(b, `","scope":"`...)
		b = o.Decision.Scope.AppendTo(b)
		b = append(b, `"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"verdict":"`...)
	b = append(b, o.Verdict.String()...)
	b = append(b, '"')
	if len(o.Lines) > 0 {
		b = append(b, `,"lines":[`...)
		for i, l := range o.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, l)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// WriteSummary writes a replay's totals in one human-readable block.
func WriteSummary(w io.Writer, st ReplayStats) {
	secs := st.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(st.Lines) / secs
	}
	fmt.Fprintf(w, "herd replay: %d lines read, %d parsed, %d events, %d unparsed, %d alerts, %d decisions in %.3fs (%.0f lines/s)\n",
		st.Lines, st.Parsed, st.Events, st.Lines-st.Parsed, st.Alerts, st.Decisions, secs, rate)
	if len(st.Unparsed) > 0 {
		keys := make([]string, 0, len(st.Unparsed))
		for k := range st.Unparsed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", termtext.String(k), st.Unparsed[k])
		}
		fmt.Fprintf(w, "herd replay: unparsed per service: %s\n", strings.Join(parts, " "))
	}
	for _, f := range st.Formats {
		fmt.Fprintf(w, "herd replay: %s: format %s\n", f.Name, f.Binding)
	}
	if st.Continuations > 0 || st.Doubtful > 0 || st.Undetected > 0 {
		fmt.Fprintf(w, "herd replay: not parsed: %d continuation lines (not a record of their file's format), %d journal entries whose identity is in doubt, %d lines of a file of unknown format\n",
			st.Continuations, st.Doubtful, st.Undetected)
	}
	if st.Truncated > 0 || st.BadTime > 0 {
		fmt.Fprintf(w, "herd replay: %d overlong lines cut, %d lines with invalid timestamps\n", st.Truncated, st.BadTime)
	}
}
