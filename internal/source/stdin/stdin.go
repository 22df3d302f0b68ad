// Package stdin is the source of herd agent --stdin: the lines of a reader,
// read once to its end, with no offset kept.
package stdin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/herd-ips/herd/internal/source"
	"github.com/herd-ips/herd/internal/source/lines"
)

// Name is the provenance of its lines (source.Line.Name).
const Name = "stdin"

// ErrEnd is what Lines returns once the reader is read to its end: the run
// that reads it is over.
var ErrEnd = errors.New("stdin: end of input")

// Reader emits the lines of R.
type Reader struct {
	R       io.Reader
	MaxLine int          // bytes kept of a line; 0 = lines.DefaultMax
	Log     *slog.Logger // when set, told of the end of input
	n       int
}

var _ source.Source = (*Reader)(nil)

// Count returns how many lines were emitted.
func (r *Reader) Count() int { return r.n }

// Lines emits the lines of R until its end (then it returns ErrEnd), ctx's
// end (nil) or emit's failure. The read runs in a goroutine of its own,
// since a read of standard input cannot be interrupted: when ctx ends
// first, Lines returns at once and that goroutine stays blocked until the
// input ends or the process exits.
func (r *Reader) Lines(ctx context.Context, emit func(*source.Line) error) error {
	err := r.lines(ctx, emit)
	if errors.Is(err, ErrEnd) && r.Log != nil {
		r.Log.Info("agent: end of standard input", "lines", r.n)
	}
	return err
}

func (r *Reader) lines(ctx context.Context, emit func(*source.Line) error) error {
	type result struct {
		line []byte
		err  error
	}
	next := make(chan result)
	done := make(chan struct{}) // the line was handled; read the next
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		lr := lines.NewReader(r.R, r.MaxLine)
		for {
			b, err := lr.Next()
			select {
			case next <- result{b, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-done:
			case <-stop:
				return
			}
		}
	}()
	var sl source.Line
	for {
		select {
		case <-ctx.Done():
			return nil
		case res := <-next:
			switch {
			case res.err == io.EOF:
				return ErrEnd
			case res.err != nil:
				return fmt.Errorf("stdin: %w", res.err)
			}
			r.n++
			sl = source.Line{Data: res.line, Name: Name}
			if err := emit(&sl); err != nil {
				return err
			}
			done <- struct{}{}
		}
	}
}
