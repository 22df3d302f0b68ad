// Package file follows log files by name across rotation, with offsets that
// survive restarts.
//
// A Follower watches a set of paths and globs. For each name it keeps a queue
// of generations: open files that were, one after the other, reachable under
// that name. The oldest generation is read to its end before the next one
// starts, so lines of one name arrive in the order they were written:
//
//   - rename rotation (logrotate's default: the file becomes name.1 and a new
//     name is created): the old file is read on through the descriptor held,
//     to its end, then the new file from offset 0;
//   - delete and recreate: the same, the deleted file being read through the
//     descriptor held;
//   - copytruncate (the file is copied to name.1, then truncated in place): a
//     file whose size falls below the offset read, or whose first bytes change,
//     is read again from 0 and counted in Stats.Truncations. If the follower was
//     behind, the rest is read from the copy (a file of the same directory
//     whose name starts with the followed name and whose fingerprint matches).
//     Lines written between logrotate's copy and its truncate are in neither
//     file and are lost: that window is copytruncate's own nature, and the
//     reason to prefer rename rotation;
//   - names that do not exist yet are waited for; globs are evaluated again
//     at every poll and when a directory they name reports a new entry.
//
// Every Line carries the Position just after it. A caller that saves the
// Position of the last line it has fully handled, and passes the saved
// Positions back in Options.Start, neither loses nor repeats a line across a
// restart: the file is recognised by inode and by the fingerprint of its first
// bytes, and when the name was rotated meanwhile the rotated file is found in
// the same directory, finished from the saved offset, and the new file read
// from 0.
//
// The limits (each file must be seen once before it is rotated away again;
// several writers to one file) are in README.md.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/source"
	"github.com/herd-ips/herd/internal/source/lines"
)

// fingerprintSize is how many leading bytes of a file its fingerprint covers.
const fingerprintSize = 256

// Defaults of Options.
const (
	DefaultPoll       = 250 * time.Millisecond
	DefaultRotateWait = 5 * time.Second
)

const (
	minBuf     = 64 << 10 // read buffer, shared by all files
	readBudget = 1 << 20  // bytes read from one file before the others get a turn
)

// Position is how far a file has been read (source.Position).
type Position = source.Position

// Line is one complete line of a followed file.
type Line struct {
	Path string // the followed name
	// Data is the line without its "\n" or "\r\n", cut to Options.MaxLine.
	// It is valid until the handler returns.
	Data []byte
	// Pos is the position just after this line: saving it means "this line
	// is done".
	Pos Position
}

var _ source.Source = (*Follower)(nil)

// Lines is Run for the source.Source contract: each line is emitted with
// its followed name and the position just after it.
func (f *Follower) Lines(ctx context.Context, emit func(*source.Line) error) error {
	var sl source.Line
	return f.Run(ctx, func(l Line) error {
		sl = source.Line{Data: l.Data, Name: l.Path, Pos: l.Pos}
		return emit(&sl)
	})
}

// Options configure a Follower.
type Options struct {
	// Globs are file paths or globs (filepath.Match syntax). Files that
	// appear later are picked up. A glob should not match the rotated names
	// of the files it matches (use "*.access.log", not "*.log*"), or rotated
	// files would be followed twice.
	Globs []string
	// Start holds saved positions by path (from the store).
	Start map[string]Position
	// FromStart makes a file with no saved position that exists when Run
	// starts be read from offset 0; otherwise it is read from its end. A file
	// that appears while Run runs is always read from 0.
	FromStart bool
	// Poll is the fallback polling interval (DefaultPoll when zero); fsnotify
	// events wake the follower sooner.
	Poll time.Duration
	// RotateWait is how long a rotated file is kept open after it stopped
	// growing, for a writer that has not reopened its log yet
	// (DefaultRotateWait when zero). A rotated file is let go sooner once the
	// new file has data, as a single writer then has switched.
	RotateWait time.Duration
	// MaxLine is the longest line kept whole, in bytes (lines.DefaultMax
	// when zero). Longer lines are cut and the rest discarded, never split
	// into new lines.
	MaxLine int
	// Time gives the time and drives polling; nil means
	// clock.Real.
	Time clock.Clock
	// Logger receives rotations, truncations and errors (discarded when nil).
	Logger *slog.Logger
}

// Stats counts what a Follower did. Bytes counts bytes consumed, newlines
// included; Truncated the lines cut to MaxLine; Rotations the rotated or
// deleted files finished; Truncations the files read again from 0.
type Stats struct {
	Lines, Bytes, Truncated, Rotations, Truncations uint64
}

// Follower follows files by name. Run it once; Stats may be called from any
// goroutine.
type Follower struct {
	globs      []string
	start      map[string]Position
	fromStart  bool
	poll       time.Duration
	rotateWait time.Duration
	max        int
	clk        clock.Clock
	now        func() time.Time
	log        *slog.Logger

	buf     []byte
	scratch [fingerprintSize]byte
	tails   map[string]*tail
	order   []*tail
	resumed map[string]bool // names whose Start position has been used
	watched map[string]bool
	watcher *fsnotify.Watcher
	running atomic.Bool
	done    <-chan struct{} // Run's ctx.Done()
	started func()          // for tests: called once the files present at the start are open

	lines, bytes, truncated, rotations, truncations atomic.Uint64
}

// tail is one followed name and the queue of its generations, oldest first.
type tail struct {
	path    string
	literal bool // named in Options.Globs, not matched by a glob
	gens    []*gen
	missing bool
}

// New checks o and returns a Follower.
func New(o Options) (*Follower, error) {
	if len(o.Globs) == 0 {
		return nil, errors.New("file: no paths to follow")
	}
	f := &Follower{
		start:      o.Start,
		fromStart:  o.FromStart,
		poll:       o.Poll,
		rotateWait: o.RotateWait,
		max:        o.MaxLine,
		clk:        clock.Or(o.Time),
		log:        o.Logger,
		tails:      map[string]*tail{},
		resumed:    map[string]bool{},
		watched:    map[string]bool{},
	}
	for _, g := range o.Globs {
		if g == "" {
			return nil, errors.New("file: empty path")
		}
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("file: glob %q: %w", g, err)
		}
		f.globs = append(f.globs, filepath.Clean(g))
	}
	if f.poll <= 0 {
		f.poll = DefaultPoll
	}
	if f.rotateWait <= 0 {
		f.rotateWait = DefaultRotateWait
	}
	if f.max <= 0 {
		f.max = lines.DefaultMax
	}
	f.now = f.clk.Now
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.buf = make([]byte, max(minBuf, f.max+2))
	return f, nil
}

// Stats returns the counters so far. It is safe for concurrent use.
func (f *Follower) Stats() Stats {
	return Stats{
		Lines:       f.lines.Load(),
		Bytes:       f.bytes.Load(),
		Truncated:   f.truncated.Load(),
		Rotations:   f.rotations.Load(),
		Truncations: f.truncations.Load(),
	}
}

// Run calls h for every complete line, in order per file, until ctx ends,
// then returns nil without handing out another line; it returns h's first error, wrapped. h runs on Run's
// goroutine and blocking in it is backpressure: Run reads at most one buffer
// (64 KiB, or MaxLine+2 bytes if larger) ahead. A partial last line (no
// newline yet) is held until completed, never emitted half; the unterminated
// end of a file that was rotated away and stopped growing is emitted as its
// last line. Run may be called once.
func (f *Follower) Run(ctx context.Context, h func(Line) error) error {
	if f.running.Swap(true) {
		return errors.New("file: Run called twice")
	}
	f.done = ctx.Done()
	var events chan fsnotify.Event
	var errs chan error
	if w, err := fsnotify.NewWatcher(); err != nil {
		f.log.Warn("file: no change notifications, polling only", "err", err)
	} else {
		f.watcher = w
		events, errs = w.Events, w.Errors
		defer w.Close()
	}
	defer f.closeAll()

	f.scan(true)
	if f.started != nil {
		f.started()
	}
	tick := f.clk.NewTicker(f.poll)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		busy := false
		for i := 0; i < len(f.order); i++ {
			t := f.order[i]
			more, err := f.step(t, h)
			if err != nil {
				return fmt.Errorf("file %s: %w", t.path, err)
			}
			busy = busy || more
			if ctx.Err() != nil {
				return nil
			}
		}
		f.prune()

		rescan := false
		if busy {
			select {
			case <-tick.C():
				rescan = true
			default:
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C():
				rescan = true
			case ev := <-events:
				rescan = ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename)
			case err := <-errs:
				f.log.Debug("file: notification error", "err", err)
			}
		}
		// Take what else was reported without waiting: the next round
		// looks at every file anyway.
	drain:
		for {
			select {
			case ev := <-events:
				rescan = rescan || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename)
			case <-errs:
			default:
				break drain
			}
		}
		if rescan {
			f.scan(false)
		}
	}
}

// scan evaluates the globs, adds a tail for every new name, and watches the
// directories they name. initial is true for the scan at the start of Run.
func (f *Follower) scan(initial bool) {
	for _, g := range f.globs {
		f.watch(filepath.Dir(g))
		if !hasMeta(g) {
			f.addTail(g, true, initial)
			continue
		}
		matches, err := filepath.Glob(g)
		if err != nil {
			continue // checked in New
		}
		for _, m := range matches {
			f.addTail(m, false, initial)
		}
	}
}

func (f *Follower) watch(dir string) {
	if f.watcher == nil || f.watched[dir] || hasMeta(dir) {
		return
	}
	if err := f.watcher.Add(dir); err != nil {
		return // the directory may not exist yet: the next scan tries again
	}
	f.watched[dir] = true
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// addTail starts following path unless it is followed already. A saved
// position is used once per name; without one, a file present at the start
// begins at its end unless FromStart, any other at 0.
func (f *Follower) addTail(path string, literal, initial bool) {
	if t, ok := f.tails[path]; ok {
		t.literal = t.literal || literal
		return
	}
	t := &tail{path: path, literal: literal}
	if pos, ok := f.start[path]; ok && !f.resumed[path] {
		f.resumed[path] = true
		t.gens = f.resume(path, pos)
	} else if fl, err := os.Open(path); err == nil {
		if g := f.newGen(fl, path); g != nil {
			if initial && !f.fromStart {
				g.seekEnd()
			}
			t.gens = append(t.gens, g)
		}
	}
	if len(t.gens) == 0 {
		if _, err := os.Stat(path); err != nil {
			t.missing = true
			if !literal {
				return // a glob match that vanished: the next scan may find it again
			}
		}
	}
	f.tails[path] = t
	f.order = append(f.order, t)
}

// prune forgets glob matches that have vanished and were read to the end.
func (f *Follower) prune() {
	kept := f.order[:0]
	for _, t := range f.order {
		if !t.literal && t.missing && len(t.gens) == 0 {
			delete(f.tails, t.path)
			continue
		}
		kept = append(kept, t)
	}
	clear(f.order[len(kept):])
	f.order = kept
}

func (f *Follower) closeAll() {
	for _, t := range f.order {
		for _, g := range t.gens {
			g.f.Close()
		}
		t.gens = nil
	}
}

// step reads what is new under one name, oldest generation first. It
// reports whether the read budget ran out before the end.
func (f *Follower) step(t *tail, h func(Line) error) (more bool, err error) {
	f.discover(t)
	for i := 0; i < len(t.gens); i++ {
		n := len(t.gens)
		if g := t.gens[i]; !g.static && f.truncatedFile(t, g) {
			i += len(t.gens) - n // skip the copy queued before g
		}
	}
	for len(t.gens) > 0 {
		g := t.gens[0]
		last := len(t.gens) == 1
		// Look at the next generation before reading this one to its end:
		// a single writer that has written to the new file will not write
		// to the old one again.
		nextHasData := false
		if !last {
			if fi, err := t.gens[1].f.Stat(); err == nil && fi.Size() > 0 {
				nextHasData = true
			}
		}
		eof, err := f.drain(t, g, h, false)
		if err != nil {
			return false, err
		}
		if !eof {
			return true, nil
		}
		done := false
		switch {
		case g.static:
			done = true
		case !last:
			done = nextHasData || f.now().Sub(g.grown) >= f.rotateWait
		case t.missing:
			// Deleted and not (yet) recreated: let the file go once idle.
			done = f.now().Sub(g.grown) >= f.rotateWait
		}
		if !done {
			break
		}
		if !g.static {
			if _, err := f.drain(t, g, h, true); err != nil {
				return false, err
			}
			f.rotations.Add(1)
			f.log.Info("file: rotated file finished", "path", t.path, "name", g.name, "offset", g.off)
		}
		g.f.Close()
		t.gens[0] = nil
		t.gens = t.gens[1:]
	}
	return false, nil
}

// discover opens the file now at t.path if it is not the newest generation.
func (f *Follower) discover(t *tail) {
	fi, err := os.Stat(t.path)
	if err != nil {
		t.missing = true
		return
	}
	t.missing = false
	if !fi.Mode().IsRegular() {
		return
	}
	ino, dev := fileID(fi)
	if n := len(t.gens); n > 0 && t.gens[n-1].ino == ino && t.gens[n-1].dev == dev {
		return
	}
	fl, err := os.Open(t.path)
	if err != nil {
		f.log.Warn("file: open", "path", t.path, "err", err)
		return
	}
	g := f.newGen(fl, t.path)
	if g == nil {
		return
	}
	if n := len(t.gens); n > 0 && t.gens[n-1].ino == g.ino && t.gens[n-1].dev == g.dev {
		fl.Close() // replaced between stat and open by the same file: nothing new
		return
	}
	if len(t.gens) > 0 {
		f.log.Info("file: new file under followed name", "path", t.path)
	}
	t.gens = append(t.gens, g)
}

// truncatedFile reports whether g was truncated in place (its size fell
// below the offset read, or its first bytes changed). If so it rewinds g to
// 0 and, when the follower was behind, queues the rest of the copy that
// logrotate's copytruncate left in the directory.
func (f *Follower) truncatedFile(t *tail, g *gen) bool {
	fi, err := g.f.Stat()
	if err != nil {
		return false
	}
	size := fi.Size()
	trunc := size < max(g.rd, g.seen, g.headN) || f.headChanged(g)
	if !trunc {
		if g.headN < fingerprintSize && size > g.headN {
			g.peekHead()
		}
		return false
	}
	f.truncations.Add(1)
	var cp *gen
	if g.headN > 0 {
		cp = f.findRotated(t.path, want{off: g.off, n: g.headN, fp: fnv(g.head[:g.headN]), notIno: g.ino, notDev: g.dev})
	}
	f.log.Info("file: truncated, reading again from 0", "path", t.path, "offset", g.off, "copy", cp != nil)
	g.reset()
	if cp != nil {
		cp.static = true
		i := 0
		for t.gens[i] != g {
			i++
		}
		t.gens = slices.Insert(t.gens, i, cp)
	}
	return true
}

// resume turns a saved position into the generations to read: the same file
// from the saved offset, or the rotated file from the saved offset followed
// by the file now under the name from 0.
func (f *Follower) resume(path string, pos Position) []*gen {
	cur, err := os.Open(path)
	var g *gen
	if err == nil {
		g = f.newGen(cur, path)
	}
	// The device number is not compared: it may change across a reboot,
	// and the fingerprint tells files with the same inode apart.
	if g != nil && g.ino == pos.Inode {
		if g.size() >= pos.Offset && g.loadHead(min(pos.Offset, fingerprintSize)) && g.fingerprint(pos.Offset) == pos.Fingerprint {
			g.off, g.rd, g.seen = pos.Offset, pos.Offset, pos.Offset
			return []*gen{g}
		}
		// Same inode, other content: truncated while we were away.
		f.truncations.Add(1)
		g.reset()
		if cp := f.findRotated(path, want{off: pos.Offset, n: min(pos.Offset, fingerprintSize), fp: pos.Fingerprint, notIno: g.ino, notDev: g.dev}); cp != nil {
			cp.static = true
			return []*gen{cp, g}
		}
		f.log.Warn("file: saved file truncated and no copy found; reading from 0", "path", path, "offset", pos.Offset)
		return []*gen{g}
	}
	var ino, dev uint64
	if g != nil {
		ino, dev = g.ino, g.dev
	}
	old := f.findRotated(path, want{off: pos.Offset, n: min(pos.Offset, fingerprintSize), fp: pos.Fingerprint,
		notIno: ino, notDev: dev, ino: pos.Inode, byInode: true})
	switch {
	case old != nil && g != nil:
		f.log.Info("file: resuming rotated file", "path", path, "name", old.name, "offset", pos.Offset)
		return []*gen{old, g}
	case old != nil:
		return []*gen{old}
	case g != nil:
		f.log.Warn("file: saved file not found; reading the current one from 0", "path", path, "offset", pos.Offset)
		return []*gen{g}
	}
	return nil
}

// want describes the file findRotated looks for.
type want struct {
	off            int64  // it is at least this long, and is read from here
	n              int64  // its first n bytes
	fp             uint64 // hash to fp
	notIno, notDev uint64 // it is not this file
	ino            uint64 // with byInode, a file with this inode is preferred
	byInode        bool
}

// findRotated looks in path's directory for a rotated copy or former
// generation of path: a regular file whose name starts with path's name and
// that is as w describes. Otherwise the most recently modified wins.
// Compressed rotations cannot be read and are skipped. The result is
// positioned at w.off.
func (f *Follower) findRotated(path string, w want) *gen {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var best *gen
	var bestTime time.Time
	bestInode := false
	for _, e := range entries {
		name := e.Name()
		if name == base || !strings.HasPrefix(name, base) || compressed(name) || !e.Type().IsRegular() {
			continue
		}
		fl, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		c := f.newGen(fl, fl.Name())
		if c == nil {
			continue
		}
		fi, err := fl.Stat()
		ok := err == nil && (c.ino != w.notIno || c.dev != w.notDev) && fi.Size() >= w.off &&
			c.loadHead(w.n) && fnv(c.head[:w.n]) == w.fp
		if !ok {
			fl.Close()
			continue
		}
		isInode := w.byInode && c.ino == w.ino
		better := best == nil || (isInode && !bestInode) ||
			(isInode == bestInode && fi.ModTime().After(bestTime))
		if !better {
			fl.Close()
			continue
		}
		if best != nil {
			best.f.Close()
		}
		best, bestTime, bestInode = c, fi.ModTime(), isInode
	}
	if best != nil {
		best.off, best.rd, best.seen = w.off, w.off, w.off
	}
	return best
}

func compressed(name string) bool {
	for _, ext := range []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// fileID returns the inode and device numbers of fi (0, 0 where the system
// does not expose them).
func fileID(fi fs.FileInfo) (ino, dev uint64) { return sysFileID(fi) }
