// Package lines splits a byte stream into log lines. A line longer than the
// limit is cut at the limit and the rest of it discarded and counted, never
// split into new records: an attacker who writes a long line cannot forge the
// start of the next one.
package lines

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMax is the longest line kept whole, in bytes. Real log lines are far
// shorter; syslog daemons cut at 8 KiB or less.
const DefaultMax = 16 << 10

// Reader reads lines from an io.Reader. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max int
	cut []byte // holds an overlong line's kept part while the rest is skipped

	// Lines counts the lines returned; Truncated those that were cut; Bytes
	// the bytes consumed, newlines included (an offset into the stream).
	Lines     uint64
	Truncated uint64
	Bytes     int64
}

// NewReader returns a Reader of lines of at most max bytes (DefaultMax when
// max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMax
	}
	return &Reader{br: bufio.NewReaderSize(r, max+1), max: max}
}

// Next returns the next line without its line ending ("\n" or "\r\n"). The
// slice is valid until the next call. A last line without a newline is
// returned too. At the end of the stream Next returns io.EOF. Next does not
// allocate.
func (r *Reader) Next() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	r.Bytes += int64(len(b))
	switch {
	case err == nil:
		r.Lines++
		return r.limit(trimEOL(b)), nil
	case errors.Is(err, bufio.ErrBufferFull):
		r.Truncated++
		r.Lines++
		r.cut = append(r.cut[:0], b[:r.max]...)
		if err := r.skip(); err != nil && err != io.EOF {
			return nil, fmt.Errorf("lines: skipping overlong line: %w", err)
		}
		return r.cut, nil
	case err == io.EOF:
		if len(b) == 0 {
			return nil, io.EOF
		}
		r.Lines++
		return r.limit(trimEOL(b)), nil
	default:
		return nil, fmt.Errorf("lines: read: %w", err)
	}
}

// limit cuts a complete line that is longer than the limit (possible when the
// limit is below bufio's minimum buffer size).
func (r *Reader) limit(b []byte) []byte {
	if len(b) > r.max {
		r.Truncated++
		return b[:r.max]
	}
	return b
}

// skip discards input up to and including the next newline.
func (r *Reader) skip() error {
	for {
		b, err := r.br.ReadSlice('\n')
		r.Bytes += int64(len(b))
		if err == nil {
			return nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
