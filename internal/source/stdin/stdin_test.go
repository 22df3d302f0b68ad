package stdin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/source"
	"github.com/herd-ips/herd/internal/source/stdin"
)

// TestLinesEndsWithErrEnd: every line is emitted once, named stdin, with
// no offset, and the end of input is ErrEnd (the run is over), not nil
// (which means the context ended).
func TestLinesEndsWithErrEnd(t *testing.T) {
	r := &stdin.Reader{R: strings.NewReader("one\r\ntwo\nthree")}
	var got []string
	err := r.Lines(context.Background(), func(l *source.Line) error {
		if l.Name != stdin.Name || l.Pos != (source.Position{}) || l.Cursor != nil {
			t.Errorf("line %q has provenance %q, position %+v, cursor %q", l.Data, l.Name, l.Pos, l.Cursor)
		}
		got = append(got, string(l.Data))
		return nil
	})
	if !errors.Is(err, stdin.ErrEnd) {
		t.Fatalf("Lines returned %v, want ErrEnd", err)
	}
	if strings.Join(got, "|") != "one|two|three" || r.Count() != 3 {
		t.Fatalf("emitted %q (count %d)", got, r.Count())
	}
}

// TestLinesReturnsEmitsError: emit's error stops Lines and is returned as
// it is.
func TestLinesReturnsEmitsError(t *testing.T) {
	stop := errors.New("stop")
	r := &stdin.Reader{R: strings.NewReader("a\nb\n")}
	n := 0
	err := r.Lines(context.Background(), func(*source.Line) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("Lines returned %v after %d lines, want stop after 1", err, n)
	}
}
