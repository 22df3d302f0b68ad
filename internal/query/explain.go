package query

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/source/lines"
	"github.com/herd-ips/herd/internal/termtext"
)

// ExplainOptions configures Explain.
type ExplainOptions struct {
	Detector *detect.Detector
	Inputs   []Input
	// Time gives the reference time of inputs without a modification
	// time; nil = clock.Real.
	Time    clock.Clock
	Hint    string
	Format  string // as ReplayOptions.Format
	JSON    bool
	Out     io.Writer
	MaxLine int
}

// Explain runs every line through the detector and says, for each, which
// parser rule took it (or none), the event it gave and the scenarios it was
// poured into. Each input is read as one format, detected from its first
// lines unless Format (or Hint) says; the text output names it in a first
// line per input ("# auth.log: format syslog (detected)") and says of each
// line that is not parsed why (a continuation, an identity in doubt). With
// JSON it writes one object per line that gave an event:
//
//	{"line":3,"file":"auth.log","parser":"sshd-failed-password","service":"ssh",
//	 "kind":"auth_failure","source":"192.0.2.7","time":"…","scenarios":["ssh-bruteforce"],
//	 "format":"syslog"}
func Explain(ctx context.Context, o ExplainOptions) error {
	w := bufio.NewWriterSize(o.Out, 64<<10)
	var b []byte
	for _, in := range o.Inputs {
		if !in.ModTime.IsZero() {
			o.Detector.SetReference(in.ModTime)
		} else {
			o.Detector.SetReference(clock.Or(o.Time).Now())
		}
		bind, r, err := inputBinding(o.Detector, o.Format, o.Hint, in.R)
		if err != nil {
			return fmt.Errorf("explain: %w", err)
		}
		if !o.JSON {
			b = append(b[:0], "# "...)
			b = append(b, in.Name...)
			b = append(b, ": format "...)
			b = append(b, bind.String()...)
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("explain: writing output: %w", err)
			}
		}
		lr := lines.NewReader(r, o.MaxLine)
		for n := 1; ; n++ {
			if n&0xfff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			line, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("explain %s: %w", in.Name, err)
			}
			if !bind.Lock(o.Detector, line) || bind.Unknown {
				o.Detector.Undetected()
				if !o.JSON {
					b = append(b[:0], in.Name...)
					b = append(b, ':')
					b = strconv.AppendInt(b, int64(n), 10)
					b = append(b, ": not parsed: the file's format is unknown\n"...)
					if _, err := w.Write(b); err != nil {
						return fmt.Errorf("explain: writing output: %w", err)
					}
				}
				continue
			}
			res := o.Detector.LineAs(line, bind.Family, o.Hint)
			if o.JSON {
				b = o.appendJSON(b[:0], in.Name, n, res, bind.Family)
			} else {
				b = o.appendText(b[:0], in.Name, n, res)
			}
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("explain: writing output: %w", err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("explain: writing output: %w", err)
	}
	return nil
}

func (o *ExplainOptions) appendJSON(b []byte, file string, n int, r *detect.Result, f parse.Family) []byte {
	if !r.Parse.Event || !r.Event.Source.IsValid() {
		return b
	}
	ev := r.Event
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"file":`...)
	b = appendJSONString(b, file)
	b = append(b, `,"parser":`...)
	b = appendJSONString(b, o.Detector.Rule(r.Parse.Rule).Name)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, ev.Service)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, ev.Kind.String())
	if ev.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, ev.Reason)
	}
	b = append(b, `,"source":"`...)
	b = ev.Source.AppendTo(b)
	b = append(b, `","time":"`...)
	b = ev.Time.AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	b = appendField(b, "user", ev.User)
	b = appendField(b, "method", ev.Method)
	b = appendField(b, "path", ev.Path)
	b = appendField(b, "user_agent", ev.UserAgent)
	if ev.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendUint(b, uint64(ev.Status), 10)
	}
	if ev.Port != 0 {
		b = append(b, `,"port":`...)
		b = strconv.AppendUint(b, uint64(ev.Port), 10)
	}
	b = append(b, `,"scenarios":[`...)
	for i, s := range r.Poured {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, o.Detector.Scenario(s))
	}
	b = append(b, ']')
	if len(r.Outcomes) > 0 {
		b = append(b, `,"alerts":[`...)
		for i := range r.Outcomes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r.Outcomes[i].Alert.Scenario)
		}
		b = append(b, ']')
	}
	b = append(b, `,"format":`...)
	b = appendJSONString(b, f.String())
	return append(b, "}\n"...)
}

func appendField(b []byte, name string, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendText writes every name through termtext.Append: file, rule,
// service, reason and scenario names come from the operator's command line
// and rule files, which may have been downloaded; escaping costs nothing.
// The fields taken from the line are quoted by appendJSONString.
func (o *ExplainOptions) appendText(b []byte, file string, n int, r *detect.Result) []byte {
	b = termtext.Append(b, file)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ": "...)
	switch {
	case r.Parse.BadTime:
		b = append(b, "rule "...)
		b = termtext.Append(b, o.Detector.Rule(r.Parse.Rule).Name)
		b = append(b, " matched but the timestamp is invalid\n"...)
		return b
	case r.Parse.Continuation:
		return append(b, "not parsed: continuation (does not start a record of the file's format)\n"...)
	case r.Parse.Doubt:
		b = append(b, "not parsed: identity in doubt (journal entry naming program "...)
		b = appendJSONString(b, r.Parse.Program)
		return append(b, " from another process)\n"...)
	case r.Parse.Rule < 0:
		b = append(b, "no parser"...)
		if len(r.Parse.Program) > 0 {
			b = append(b, " (program "...)
			b = appendJSONString(b, r.Parse.Program)
			b = append(b, ')')
		}
		return append(b, '\n')
	}
	ev := r.Event
	b = append(b, "parser "...)
	b = termtext.Append(b, o.Detector.Rule(r.Parse.Rule).Name)
	if !r.Parse.Event {
		return append(b, " (no event: session record)\n"...)
	}
	b = append(b, " → "...)
	b = termtext.Append(b, ev.Service)
	b = append(b, ' ')
	b = append(b, ev.Kind.String()...)
	if ev.Reason != "" {
		b = append(b, '/')
		b = termtext.Append(b, ev.Reason)
	}
	b = append(b, " source="...)
	if ev.Source.IsValid() {
		b = ev.Source.AppendTo(b)
	} else {
		b = append(b, "none"...)
	}
	b = append(b, " time="...)
	b = ev.Time.AppendFormat(b, time.RFC3339)
	if len(ev.User) > 0 {
		b = append(b, " user="...)
		b = appendJSONString(b, ev.User)
	}
	if len(ev.Path) > 0 {
		b = append(b, " path="...)
		b = appendJSONString(b, ev.Path)
	}
	if ev.Status != 0 {
		b = append(b, " status="...)
		b = strconv.AppendUint(b, uint64(ev.Status), 10)
	}
	b = append(b, " scenarios=["...)
	for i, s := range r.Poured {
		if i > 0 {
			b = append(b, ' ')
		}
		b = termtext.Append(b, o.Detector.Scenario(s))
	}
	b = append(b, ']')
	for i := range r.Outcomes {
		b = append(b, " ALERT "...)
		b = termtext.Append(b, r.Outcomes[i].Alert.Scenario)
	}
	return append(b, '\n')
}
