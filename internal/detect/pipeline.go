package detect

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/scenario"
	"github.com/herd-ips/herd/internal/source"
)

// Reasons a Tally is given for a line left unparsed because of its
// provenance (docs/sources.md).
const (
	LeftContinuation = "continuation"      // not a record of its file's format
	LeftDoubt        = "identity_in_doubt" // a journal entry not from the program it names
	LeftUnknown      = "unknown_format"    // a line of a stream of no known format
)

// Tally counts what became of one source's lines (the agent's metrics).
// Its methods are called with the pipeline's lock held.
type Tally interface {
	// Line is told of every line: res is what the detector made of it, nil
	// for a line it did not run (its stream's format is unknown).
	Line(res *Result)
	// Left is told of a line left unparsed for a reason of provenance.
	Left(reason string)
}

// PipelineOptions configures a Pipeline.
type PipelineOptions struct {
	Detector *Detector
	Sink     Sink
	Time     clock.Clock  // nil = clock.Real
	Logger   *slog.Logger // nil = discard
	// TallyFor returns the Tally of a followed file's lines, by its
	// followed name; called with the pipeline's lock held.
	TallyFor func(name string) Tally
	// Outcome, when set, is told of every alert (the agent's metrics).
	Outcome func(oc *Outcome)
}

// maxBindings bounds the per-file bindings kept; files beyond it are
// detected again at each line.
const maxBindings = 4096

// Pipeline is the agent's line path: the lines of every source, serialized,
// through one Detector, their format bound per file, what they give
// gathered in a Batch and committed through the Sink when a decision is
// taken, FlushLines lines are held, or Flush is called. Its methods are
// safe for concurrent use; each holds the pipeline's lock for one line.
type Pipeline struct {
	o        PipelineOptions
	mu       sync.Mutex
	ref      time.Time // the detector's reference for year-less stamps
	b        Batch
	bindings map[string]*Binding // per followed file, once locked
}

// NewPipeline returns a Pipeline.
func NewPipeline(o PipelineOptions) *Pipeline {
	o.Time = clock.Or(o.Time)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{o: o, ref: o.Time.Now(), bindings: map[string]*Binding{}}
}

// File runs a line of a followed file whose source imposes bind
// (SourceBinding): a file not bound yet is detected from its start (read
// from disk) and locked. hint names the program of envelope-less lines.
func (p *Pipeline) File(ctx context.Context, l *source.Line, bind Binding, hint string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.b.Mark(l)
	b := p.bindings[l.Name]
	if b == nil {
		nb := bind // escapes on this path only: no allocation per line
		b = &nb
		if !b.Locked {
			head, err := ReadHead(l.Name)
			if err != nil {
				p.o.Logger.Warn("agent: reading the start of a log to tell its format", "path", l.Name, "err", err)
			}
			switch {
			case b.Lock(p.o.Detector, head) && b.Unknown:
				p.o.Logger.Warn("agent: log of no known format: its lines are not parsed (set format: of its source in herd.yaml)", "path", l.Name)
			case b.Locked:
				p.o.Logger.Info("agent: format of log", "path", l.Name, "format", b.String())
			}
		}
		if b.Locked && len(p.bindings) < maxBindings {
			p.bindings[l.Name] = b
		}
		if !b.Locked && l.Pos.Offset > int64(len(l.Data))+2 {
			// The file's start could not be read (replaced since this
			// line was read) and this line is not its first: it may be
			// a continuation, so it must not choose the format. The
			// start is read again at the next line.
			p.o.Detector.Undetected()
			t := p.o.TallyFor(l.Name)
			t.Line(nil)
			t.Left(LeftUnknown)
			p.b.Skip()
			return nil
		}
	}
	return p.run(ctx, l.Data, b, hint, p.o.TallyFor(l.Name))
}

// Stream runs a line of a source read as one stream (the journal, the
// syslog receiver, standard input) bound to b, counted on t. A live
// stream's lines are happening now: the detector's reference is set to the
// clock first, so that a line without a time gets the current one and a
// year-less RFC 3164 stamp the current year.
func (p *Pipeline) Stream(ctx context.Context, l *source.Line, b *Binding, hint string, live bool, t Tally) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.b.Mark(l)
	if live {
		now := p.o.Time.Now()
		p.ref = now
		p.o.Detector.SetReference(now)
	}
	return p.run(ctx, l.Data, b, hint, t)
}

// run is File's and Stream's work once the mark is noted: the line is
// parsed as a line of b's format. A stream that has shown no line yet is
// detected from this one, its first; the lines of a stream of unknown
// format are counted and left. p.mu is held.
func (p *Pipeline) run(ctx context.Context, data []byte, b *Binding, hint string, t Tally) error {
	now := p.o.Time.Now()
	if now.Sub(p.ref) > time.Minute {
		p.ref = now
		p.o.Detector.SetReference(now)
	}
	if !b.Lock(p.o.Detector, data) || b.Unknown {
		p.o.Detector.Undetected()
		t.Line(nil)
		t.Left(LeftUnknown)
		p.b.Skip()
		return nil
	}
	res := p.o.Detector.LineAs(data, b.Family, hint)
	switch {
	case res.Parse.Continuation:
		t.Left(LeftContinuation)
	case res.Parse.Doubt:
		t.Left(LeftDoubt)
	}
	t.Line(res)
	for i := range res.Outcomes {
		oc := &res.Outcomes[i]
		if p.o.Outcome != nil {
			p.o.Outcome(oc)
		}
		if !oc.Decided() {
			p.o.Logger.Info("alert", "scenario", oc.Alert.Scenario, "source", oc.Alert.Source, "verdict", oc.Verdict.String())
		}
	}
	p.b.Add(res, data, now)
	if p.b.Due() {
		return p.b.Flush(ctx, p.o.Sink)
	}
	return nil
}

// Flush commits what the lines since the last commit gave, even when ctx
// has ended.
func (p *Pipeline) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.Flush(ctx, p.o.Sink)
}

// Swap replaces the pipeline's detector with next between two lines:
// next adopts the old one's live buckets, offenders and totals
// (Detector.Adopt) and its reference for year-less stamps; files keep the
// format they were bound to. It returns what was carried over and the
// detector replaced, which must no longer be used.
func (p *Pipeline) Swap(next *Detector) (scenario.Adoption, *Detector) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.o.Detector
	ad := next.Adopt(old)
	next.SetReference(p.ref)
	p.o.Detector = next
	return ad, old
}

// Locked runs f with the pipeline's lock held, between two lines (the
// agent samples the detector's counters so).
func (p *Pipeline) Locked(f func(d *Detector)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.o.Detector)
}

// Event runs an event that came from no log line (the packet sensor's)
// through the detector, into the same batch as the lines, and returns the
// number of alerts it gave. The event's own time stands; the alert's
// evidence, when the detector keeps none, is a line naming the event. It
// does not allocate unless an alert is raised.
func (p *Pipeline) Event(ctx context.Context, ev *event.Event) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Time.Now()
	res := p.o.Detector.Event(ev)
	var line []byte
	if len(res.Outcomes) > 0 {
		line = AppendEventLine(nil, ev)
	}
	for i := range res.Outcomes {
		oc := &res.Outcomes[i]
		if p.o.Outcome != nil {
			p.o.Outcome(oc)
		}
		if !oc.Decided() {
			p.o.Logger.Info("alert", "scenario", oc.Alert.Scenario, "source", oc.Alert.Source, "verdict", oc.Verdict.String())
		}
	}
	n := len(res.Outcomes)
	p.b.Add(res, line, now)
	if p.b.Due() {
		return n, p.b.Flush(ctx, p.o.Sink)
	}
	return n, nil
}

// AppendEventLine appends a one-line account of ev, the evidence of an
// alert raised by an event that came from no log line:
// "sensor: scan/syn_probe 192.0.2.7 port 23 host 198.51.100.1".
func AppendEventLine(b []byte, ev *event.Event) []byte {
	b = append(b, ev.Parser...)
	b = append(b, ": "...)
	b = append(b, ev.Kind.String()...)
	b = append(b, '/')
	b = append(b, ev.Reason...)
	b = append(b, ' ')
	b = ev.Source.AppendTo(b)
	if ev.Port != 0 {
		b = append(b, " port "...)
		b = strconv.AppendUint(b, uint64(ev.Port), 10)
	}
	if len(ev.Host) > 0 {
		b = append(b, " host "...)
		b = append(b, ev.Host...)
	}
	return b
}
