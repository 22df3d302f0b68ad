package detect

import (
	"context"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/source"
)

// FlushLines is how many lines a batch holds at most before it is
// committed, even without a decision.
const FlushLines = 4096

// Pending is one alert of a batch, with the decision the profiles took.
type Pending struct {
	Alert event.Alert
	// Lines are the log lines behind the alert (Outcome.Lines, or the line
	// that raised it when the detector keeps no evidence).
	Lines    []string
	Decision *event.Decision // nil when the profiles took none
	Read     time.Time       // when the line that raised it was read
}

// Batch is what the lines read since the last commit gave: their alerts
// and decisions, and how far each source was read. It is not safe for
// concurrent use; the caller serializes lines and flushes.
//
// Commit guarantee, which the Sink keeps: the alerts, the decisions and the
// sources' marks of one batch are committed together or not at all, so that
// a crash repeats only the lines of the batch that was not committed, whose
// alerts were not stored either.
type Batch struct {
	Alerts  []Pending
	Offsets map[string]source.Position // by followed name
	Cursor  []byte                     // the journal cursor of the batch's last entry that had one
	Lines   int
	Urgent  bool // holds a decision: commit now
}

// Sink takes a batch when it is flushed: every decision first, so that a
// ban does not wait for the disk, then the commit of the whole batch.
type Sink interface {
	// Decide hands one decision to the live set; read is when the line
	// that led to it was read.
	Decide(d event.Decision, read time.Time)
	// Commit stores the batch (alerts, decisions, marks) in one
	// transaction. The batch is reset after Commit returns nil; its
	// slices must not be kept.
	Commit(ctx context.Context, b *Batch) error
}

// Mark notes how far l's source was read: a file's position, the
// journal's cursor. It does not allocate once the batch has seen the
// source.
func (b *Batch) Mark(l *source.Line) {
	if l.Pos.Path != "" {
		if b.Offsets == nil {
			b.Offsets = map[string]source.Position{}
		}
		b.Offsets[l.Name] = l.Pos
	}
	if len(l.Cursor) > 0 {
		b.Cursor = append(b.Cursor[:0], l.Cursor...)
	}
}

// Add counts one line and adds the outcomes the detector gave for it;
// line is the line itself, kept as an alert's evidence when the detector
// keeps none. read is when the line was read.
func (b *Batch) Add(res *Result, line []byte, read time.Time) {
	for i := range res.Outcomes {
		oc := &res.Outcomes[i]
		lines := oc.Lines
		if len(lines) == 0 {
			lines = []string{string(line)}
		}
		p := Pending{Alert: oc.Alert, Lines: lines, Read: read}
		if oc.Decided() {
			d := oc.Decision
			p.Decision = &d
			b.Urgent = true
		}
		b.Alerts = append(b.Alerts, p)
	}
	b.Lines++
}

// Skip counts a line that gave nothing (left unparsed for its
// provenance).
func (b *Batch) Skip() { b.Lines++ }

// Due reports whether the batch should be committed now: it holds a
// decision or FlushLines lines.
func (b *Batch) Due() bool { return b.Urgent || b.Lines >= FlushLines }

// Empty reports whether a flush has nothing to commit.
func (b *Batch) Empty() bool {
	return len(b.Alerts) == 0 && len(b.Offsets) == 0 && len(b.Cursor) == 0
}

// Flush hands the batch's decisions to sink, then commits it, and resets
// it once committed. The commit runs even if ctx has ended: stopping must
// not split a batch. On error the batch is kept and the caller stops (the
// restart reads its lines again).
func (b *Batch) Flush(ctx context.Context, sink Sink) error {
	if b.Empty() {
		b.Lines, b.Urgent = 0, false
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	for i := range b.Alerts {
		if d := b.Alerts[i].Decision; d != nil {
			sink.Decide(*d, b.Alerts[i].Read)
		}
	}
	if err := sink.Commit(ctx, b); err != nil {
		return err
	}
	clear(b.Alerts) // drop the lines' references until the next batch
	b.Alerts = b.Alerts[:0]
	clear(b.Offsets)
	b.Cursor = b.Cursor[:0]
	b.Lines, b.Urgent = 0, false
	return nil
}
