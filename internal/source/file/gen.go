package file

import (
	"bytes"
	"errors"
	"io"
	"os"
	"time"
)

// gen is one generation of a followed name: an open file, read through the
// descriptor held whatever it is renamed to.
type gen struct {
	f        *os.File
	name     string // the name it was opened by, for logs
	ino, dev uint64
	off      int64 // consumed: just after the last line handed out
	rd       int64 // next byte to read; beyond off only while skipping
	seen     int64 // highest offset read so far, to notice growth
	grown    time.Time
	static   bool // a copytruncate copy: finished at its end, no waiting

	skipping bool   // discarding the rest of an overlong line
	cut      []byte // that line's kept part

	head  [fingerprintSize]byte // the file's first bytes, as read
	headN int64
	fp    uint64 // fingerprint of the whole head, once headN == fingerprintSize
	fpOK  bool
}

// newGen wraps an opened file, or closes it and returns nil when it is not a
// regular file.
func (f *Follower) newGen(fl *os.File, name string) *gen {
	fi, err := fl.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fl.Close()
		return nil
	}
	ino, dev := fileID(fi)
	g := &gen{f: fl, name: name, ino: ino, dev: dev, grown: f.now()}
	g.peekHead()
	return g
}

func (g *gen) size() int64 {
	fi, err := g.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// seekEnd positions g after the last complete line, so that a line being
// written when the follower starts is read whole.
func (g *gen) seekEnd() {
	size := g.size()
	var tail [4096]byte
	for end := size; end > 0; {
		start := max(0, end-int64(len(tail)))
		n, _ := g.f.ReadAt(tail[:end-start], start)
		if i := bytes.LastIndexByte(tail[:n], '\n'); i >= 0 {
			g.setStart(start + int64(i) + 1)
			return
		}
		if size-start > 1<<20 {
			break // no newline in the last MiB: start at the very end
		}
		end = start
	}
	if size <= 1<<20 {
		g.setStart(0) // no newline at all: the first line is still being written
		return
	}
	g.setStart(size)
}

func (g *gen) setStart(off int64) {
	g.loadHead(min(off, fingerprintSize))
	g.off, g.rd, g.seen = off, off, off
}

// loadHead makes sure g.head holds the file's first n (<= fingerprintSize)
// bytes and reports whether the file has them.
func (g *gen) loadHead(n int64) bool {
	if g.headN >= n {
		return true
	}
	m, _ := g.f.ReadAt(g.head[:n], 0)
	g.headN = int64(m)
	return int64(m) == n
}

// peekHead reads as much of the file's first fingerprintSize bytes as it
// has: knowing a file's first bytes before reading it lets a truncation be
// noticed even before the first line is read.
func (g *gen) peekHead() {
	m, _ := g.f.ReadAt(g.head[g.headN:], g.headN)
	g.headN += int64(m)
}

// fingerprint returns Position.Fingerprint for offset off.
func (g *gen) fingerprint(off int64) uint64 {
	n := min(off, fingerprintSize)
	if n == fingerprintSize && g.fpOK {
		return g.fp
	}
	h := fnv(g.head[:min(n, g.headN)])
	if n == fingerprintSize && g.headN == fingerprintSize {
		g.fp, g.fpOK = h, true
	}
	return h
}

// reset rewinds g to the start of a file that was truncated.
func (g *gen) reset() {
	g.off, g.rd, g.seen, g.headN = 0, 0, 0, 0
	g.fpOK, g.skipping = false, false
}

// noteRead records bytes b read at offset at: the head for the fingerprint,
// and growth.
func (g *gen) noteRead(b []byte, at int64, now func() time.Time) {
	if at < fingerprintSize {
		n := int64(copy(g.head[at:], b))
		g.headN = max(g.headN, at+n)
	}
	if end := at + int64(len(b)); end > g.seen {
		g.seen = end
		g.grown = now()
	}
}

func (g *gen) pos(path string) Position {
	return Position{Path: path, Inode: g.ino, Dev: g.dev, Offset: g.off, Fingerprint: g.fingerprint(g.off)}
}

// discoverEvery is how many lines drain hands out between two looks for a
// new file under the name: a stat costs about as much as a few lines.
const discoverEvery = 256

// drain reads g from g.rd and hands each complete line to h, until the end
// of the file or until readBudget bytes were read; eof reports the former.
// With final, an unterminated last line is handed out too: the file will
// not grow any more. drain looks for a new file under the name every buffer
// and every discoverEvery lines, so that a generation is not missed while a
// long backlog is read.
func (f *Follower) drain(t *tail, g *gen, h func(Line) error, final bool) (eof bool, err error) {
	buf := f.buf
	base := g.rd // file offset of buf[0]
	n, read, emitted := 0, 0, 0
	for {
		m, rerr := g.f.ReadAt(buf[n:], base+int64(n))
		if m > 0 && !g.static && f.headChanged(g) {
			// Truncated and written again: what was read may be the new
			// content at the old offset. Leave it to step's check.
			g.rd = g.off
			g.skipping = false
			return false, nil
		}
		if m > 0 {
			g.noteRead(buf[n:n+m], base+int64(n), f.now)
			n += m
			read += m
		}
		p := 0
		for p < n {
			i := bytes.IndexByte(buf[p:n], '\n')
			if i < 0 {
				break
			}
			end := p + i + 1
			if f.stopped() {
				g.rd = g.off
				g.skipping = false
				return false, nil
			}
			if err := f.emit(t, g, h, buf[p:p+i], base+int64(end)); err != nil {
				return false, err
			}
			p = end
			if emitted++; emitted%discoverEvery == 0 {
				f.discover(t)
			}
		}
		switch {
		case g.skipping:
			p = n
		case n-p >= f.max+2: // no newline within MaxLine+2 bytes: overlong
			g.cut = append(g.cut[:0], buf[p:p+f.max]...)
			g.skipping = true
			p = n
		}
		copy(buf, buf[p:n])
		base += int64(p)
		n -= p
		if m == 0 || rerr != nil {
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				f.log.Warn("file: read", "path", t.path, "name", g.name, "err", rerr)
			}
			eof = true
			break
		}
		if read >= readBudget {
			break
		}
		f.discover(t)
	}
	if final && eof && (n > 0 || g.skipping) && !f.stopped() {
		if err := f.emit(t, g, h, buf[:n], base+int64(n)); err != nil {
			return false, err
		}
		n = 0
	}
	if g.skipping {
		g.rd = base + int64(n)
	} else {
		g.rd = g.off // a partial line is read again next time
	}
	return eof, nil
}

// stopped reports whether Run's context has ended: no line is handed out
// after that.
func (f *Follower) stopped() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// headChanged reports whether the file's first bytes are no longer those
// read. Checked after each read and before using it, it tells a truncated
// and rewritten file from one that grew.
func (f *Follower) headChanged(g *gen) bool {
	n := g.headN
	if n == 0 {
		return false
	}
	m, _ := g.f.ReadAt(f.scratch[:n], 0)
	return int64(m) < n || !bytes.Equal(f.scratch[:n], g.head[:n])
}

// emit hands one line out; b is the line without its newline, end the offset
// after it.
func (f *Follower) emit(t *tail, g *gen, h func(Line) error, b []byte, end int64) error {
	if g.skipping {
		b = g.cut
		g.skipping = false
		f.truncated.Add(1)
	} else {
		if k := len(b); k > 0 && b[k-1] == '\r' {
			b = b[:k-1]
		}
		if len(b) > f.max {
			b = b[:f.max]
			f.truncated.Add(1)
		}
	}
	f.bytes.Add(uint64(end - g.off))
	f.lines.Add(1)
	g.off, g.rd = end, end
	return h(Line{Path: t.path, Data: b, Pos: g.pos(t.path)})
}

// fnv is FNV-1a, 64 bits.
func fnv(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
