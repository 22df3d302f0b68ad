// Package journald follows the systemd journal through journalctl's JSON
// output, with a cursor that survives restarts.
//
// It runs `journalctl -o json --follow` (no cgo, no libsystemd) and hands out
// each output line, the raw JSON object, with the value of its __CURSOR
// field. Saving the cursor of the last entry handled and passing it back in
// Options.Cursor resumes just after that entry (--after-cursor); without a
// cursor the follower starts at the journal's end (-n 0). When journalctl
// exits, it is started again after a backoff, from the last cursor handed
// out. Lines longer than MaxLine are cut and counted (internal/source/lines).
package journald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/jsonstr"
	"github.com/herd-ips/herd/internal/source"
	"github.com/herd-ips/herd/internal/source/lines"
)

// Defaults of Options.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Options configure a Follower.
type Options struct {
	// Command is the program and its first arguments; nil means
	// {"journalctl"}. The follower appends -o json --follow, the position
	// (--after-cursor C --no-tail, or -n 0) and one --unit per unit.
	Command []string
	// Units restricts the entries to these systemd units (ssh.service, …);
	// none means the whole journal.
	Units []string
	// Cursor is the saved cursor to resume after; "" starts at the end.
	Cursor string
	// MaxLine is the longest line kept whole (lines.DefaultMax when 0).
	MaxLine int
	// Backoff is the first wait before starting journalctl again after it
	// exited; it doubles up to MaxBackoff and starts over after a run that
	// produced entries.
	Backoff, MaxBackoff time.Duration
	Logger              *slog.Logger // nil = discard
	Time                clock.Clock  // drives the backoff; nil = clock.Real
}

// Entry is one line of journalctl's output.
type Entry struct {
	// Data is the JSON object, cut to MaxLine. Valid until the handler
	// returns.
	Data []byte
	// Cursor is the entry's __CURSOR, unescaped; empty when the line has
	// none (a cut line whose cursor came after the cut, a line that is not
	// an object). Valid until the handler returns.
	Cursor []byte
}

var _ source.Source = (*Follower)(nil)

// Name is the provenance of the journal's lines (source.Line.Name).
const Name = "journald"

// Lines is Run for the source.Source contract: each entry is emitted as
// its JSON line with its cursor.
func (f *Follower) Lines(ctx context.Context, emit func(*source.Line) error) error {
	var sl source.Line
	return f.Run(ctx, func(e Entry) error {
		sl = source.Line{Data: e.Data, Name: Name, Cursor: e.Cursor}
		return emit(&sl)
	})
}

// Stats are counters of a Follower.
type Stats struct {
	Lines     uint64 // entries handed out
	Truncated uint64 // lines cut at MaxLine
	NoCursor  uint64 // lines without a usable __CURSOR
	Starts    uint64 // journalctl processes started
}

// Follower runs journalctl and reads its entries.
type Follower struct {
	o      Options
	cursor []byte // last cursor handed out

	lines, truncated, noCursor, starts atomic.Uint64
}

// New checks o and returns a Follower.
func New(o Options) (*Follower, error) {
	if len(o.Command) == 0 {
		o.Command = []string{"journalctl"}
	}
	if o.Command[0] == "" {
		return nil, errors.New("journald: empty command")
	}
	for _, u := range o.Units {
		if u == "" {
			return nil, errors.New("journald: empty unit name")
		}
	}
	if !validCursor([]byte(o.Cursor)) {
		return nil, errors.New("journald: saved cursor has control characters")
	}
	if o.MaxLine <= 0 {
		o.MaxLine = lines.DefaultMax
	}
	o.Time = clock.Or(o.Time)
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.Backoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{o: o, cursor: []byte(o.Cursor)}, nil
}

// Stats returns the counters; safe to call while Run runs.
func (f *Follower) Stats() Stats {
	return Stats{Lines: f.lines.Load(), Truncated: f.truncated.Load(), NoCursor: f.noCursor.Load(), Starts: f.starts.Load()}
}

// Args returns the command line of the next start.
func (f *Follower) Args() []string {
	args := append([]string(nil), f.o.Command...)
	args = append(args, "-o", "json", "--follow")
	if len(f.cursor) > 0 {
		args = append(args, "--no-tail", "--after-cursor", string(f.cursor))
	} else {
		args = append(args, "-n", "0")
	}
	for _, u := range f.o.Units {
		args = append(args, "--unit", u)
	}
	return args
}

// Run starts journalctl and hands each entry to h on Run's goroutine (while
// h runs, nothing more is read). It starts journalctl again, after a
// backoff, whenever it exits, and returns when ctx ends (nil) or h fails
// (h's error).
func (f *Follower) Run(ctx context.Context, h func(Entry) error) error {
	wait := f.o.Backoff
	for {
		n, err := f.once(ctx, h)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			wait = f.o.Backoff
		}
		if clock.Sleep(ctx, f.o.Time, wait) != nil {
			return nil
		}
		wait = min(2*wait, f.o.MaxBackoff)
	}
}

// once runs journalctl until it exits, returning the entries handled. The
// error is nil unless h failed.
func (f *Follower) once(parent context.Context, h func(Entry) error) (int, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	args := f.Args()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	// A pipe of our own rather than StdoutPipe: its read can be ended by a
	// deadline when ctx ends, even if a child of journalctl (a wrapper
	// script's) still holds the write end.
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("journald: %w", err)
	}
	defer pr.Close()
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		f.o.Logger.Warn("journald: cannot start journalctl", "cmd", args[0], "err", err)
		return 0, nil
	}
	f.starts.Add(1)
	f.o.Logger.Info("journald: following the journal", "resume", len(f.cursor) > 0, "units", f.o.Units)
	stop := context.AfterFunc(ctx, func() { _ = pr.SetReadDeadline(time.Now()) })
	n, herr := f.read(pr, h)
	stop()
	cancel() // journalctl follows forever: it is stopped once reading ends
	werr := cmd.Wait()
	if herr != nil {
		return n, herr
	}
	if parent.Err() == nil && n == 0 && len(f.cursor) > 0 && strings.Contains(stderr.String(), "cursor") {
		// journalctl refuses the cursor (another machine's journal, a
		// corrupt row): starting again with it would fail forever.
		f.o.Logger.Warn("journald: journalctl refused the saved cursor; following from the journal's end", "stderr", stderr.String())
		f.cursor = f.cursor[:0]
	}
	if parent.Err() == nil {
		f.o.Logger.Warn("journald: journalctl exited; starting it again", "err", werr, "entries", n, "stderr", stderr.String())
	}
	return n, nil
}

func (f *Follower) read(r io.Reader, h func(Entry) error) (int, error) {
	lr := lines.NewReader(r, f.o.MaxLine)
	var cur []byte
	n := 0
	for {
		b, err := lr.Next()
		f.truncated.Store(f.truncated.Load() + lr.Truncated)
		lr.Truncated = 0
		if err != nil {
			if err != io.EOF && !errors.Is(err, os.ErrDeadlineExceeded) {
				f.o.Logger.Warn("journald: reading journalctl", "err", err)
			}
			return n, nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var ok bool
		cur, ok = Cursor(cur[:0], b)
		if !ok {
			cur = cur[:0]
			f.noCursor.Add(1)
		}
		f.lines.Add(1)
		n++
		if err := h(Entry{Data: b, Cursor: cur}); err != nil {
			return n, err
		}
		if len(cur) > 0 {
			f.cursor = append(f.cursor[:0], cur...)
		}
	}
}

// Cursor appends the unescaped string value of the top-level "__CURSOR" key
// of the JSON object line to dst and reports whether it found one. It does
// not allocate when dst has room. The object may be cut after the value (a
// line cut at MaxLine). A cursor with control characters is refused.
func Cursor(dst, line []byte) ([]byte, bool) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return dst, false
	}
	i++
	for {
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != '"' {
			return dst, false
		}
		ks, ke, ok := stringEnd(line, i)
		if !ok {
			return dst, false
		}
		key := line[ks:ke]
		i = skipSpace(line, ke+1)
		if i >= len(line) || line[i] != ':' {
			return dst, false
		}
		i = skipSpace(line, i+1)
		if string(key) == "__CURSOR" {
			if i >= len(line) || line[i] != '"' {
				return dst, false
			}
			vs, ve, ok := stringEnd(line, i)
			if !ok {
				return dst, false
			}
			start := len(dst)
			out, ok := jsonstr.Unescape(dst, line[vs:ve])
			if !ok || ve == vs || !validCursor(out[start:]) {
				return dst, false
			}
			return out, true
		}
		if i = skipValue(line, i, 0); i < 0 {
			return dst, false
		}
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != ',' {
			return dst, false // end of object (or garbage) without a cursor
		}
		i++
	}
}

func validCursor(c []byte) bool {
	for _, b := range c {
		if b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the content bounds of the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) (start, end int, ok bool) {
	start = i + 1
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return start, j, true
		}
	}
	return 0, 0, false
}

// skipValue returns the index after the value at b[i], or -1.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) || depth > 64 {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		_, e, ok := stringEnd(b, i)
		if !ok {
			return -1
		}
		return e + 1
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				_, e, ok := stringEnd(b, i)
				if !ok {
					return -1
				}
				i = skipSpace(b, e+1)
				if i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipSpace(b, i+1)
			}
			if i = skipValue(b, i, depth+1); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == closer {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipSpace(b, i+1)
		}
	default: // number, true, false, null
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] >= '0' && b[j] <= '9' || b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z') {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// tailBuffer keeps the last max bytes written (journalctl's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
