package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Framing errors of FrameReader.Next.
var (
	// ErrOversize reports a message longer than the limit. It was
	// discarded whole (never cut: a cut message could end in a different
	// address than it held); the reader is positioned after it, or, for a
	// newline-framed message, keeps discarding until the next newline.
	ErrOversize = errors.New("message longer than the limit")
	// ErrFraming reports an octet-counted stream whose length header is
	// not "LEN SP" with LEN a decimal number without leading zero. The
	// stream cannot be resynchronised: the caller closes it.
	ErrFraming = errors.New("bad octet-counting header")
)

// maxHeader bounds the octet-counting header ("LEN SP"): nine digits and a
// space.
const maxHeader = 10

// Framing says how a TCP stream delimits messages (RFC 6587).
type Framing uint8

// The framings FrameReader detects.
const (
	FramingUnknown Framing = iota // nothing read yet
	FramingOctet                  // "LEN SP MSG": the stream's first byte is a digit
	FramingLF                     // messages end with "\n" (a trailing "\r" is dropped)
)

// FrameReader splits a TCP syslog stream into messages. The framing is
// chosen once per stream from its first byte: a digit means octet counting
// (RFC 6587 section 3.4.1), anything else newline-terminated messages
// (section 3.4.2). Memory is bounded by the limit: a stream that sends
// forever without a newline is discarded as it arrives. A FrameReader is not
// safe for concurrent use.
type FrameReader struct {
	r       io.Reader
	max     int
	buf     []byte // max + maxHeader bytes
	start   int    // first unread byte in buf
	end     int    // end of the bytes read into buf
	framing Framing
	skipLF  bool  // discarding the rest of an oversize newline-framed message
	skipN   int64 // bytes of an oversize octet-counted message still to discard
	err     error // sticky read error, returned once buf is drained
}

// NewFrameReader returns a FrameReader of messages of at most max bytes
// (DefaultMaxMessage when max <= 0) read from r.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxMessage
	}
	return &FrameReader{r: r, max: max, buf: make([]byte, max+maxHeader)}
}

// Framing returns the stream's framing, FramingUnknown before the first
// byte.
func (f *FrameReader) Framing() Framing { return f.framing }

// Next returns the next message, without its framing. The slice aliases the
// reader's buffer and is valid until the next call. At the end of the stream
// Next returns io.EOF (a last newline-framed message without its newline is
// returned first; a last octet-counted message cut short gives
// io.ErrUnexpectedEOF). After ErrOversize the caller may go on calling Next;
// after ErrFraming or a read error it should stop. Next does not allocate.
func (f *FrameReader) Next() ([]byte, error) {
	for {
		if f.framing == FramingUnknown {
			if f.start == f.end {
				if err := f.fill(); err != nil {
					return nil, err
				}
				continue
			}
			if c := f.buf[f.start]; c >= '0' && c <= '9' {
				f.framing = FramingOctet
			} else {
				f.framing = FramingLF
			}
		}
		if f.framing == FramingOctet {
			return f.nextOctet()
		}
		return f.nextLF()
	}
}

func (f *FrameReader) nextLF() ([]byte, error) {
	scanned := 0 // bytes of buf[start:end] known to hold no newline
	for {
		if f.skipLF {
			if i := indexLF(f.buf[f.start:f.end]); i >= 0 {
				f.start += i + 1
				f.skipLF = false
			} else {
				f.start, f.end = 0, 0
				if err := f.fill(); err != nil {
					return nil, err
				}
				continue
			}
		}
		if i := indexLF(f.buf[f.start+scanned : f.end]); i >= 0 {
			i += f.start + scanned
			msg := f.buf[f.start:i]
			f.start = i + 1
			if n := len(msg); n > 0 && msg[n-1] == '\r' {
				msg = msg[:n-1]
			}
			if len(msg) > f.max {
				return nil, ErrOversize
			}
			return msg, nil
		}
		scanned = f.end - f.start
		if scanned > f.max+1 { // +1: a "\r" before the newline
			// No newline within the limit: the message is too long.
			// Drop what is held and the rest up to the newline.
			f.start, f.end = 0, 0
			f.skipLF = true
			return nil, ErrOversize
		}
		if err := f.fill(); err != nil {
			if err == io.EOF && f.end > f.start {
				msg := f.buf[f.start:f.end]
				f.start = f.end
				if len(msg) > f.max {
					return nil, ErrOversize
				}
				return msg, nil
			}
			return nil, err
		}
	}
}

func (f *FrameReader) nextOctet() ([]byte, error) {
	for f.skipN > 0 {
		if f.start == f.end {
			f.start, f.end = 0, 0
			if err := f.fill(); err != nil {
				if err == io.EOF {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		n := min(int64(f.end-f.start), f.skipN)
		f.start += int(n)
		f.skipN -= n
	}
	// The header: LEN SP.
	var n int64
	i := 0
	for {
		if f.start+i == f.end {
			if i == 0 {
				f.start, f.end = 0, 0 // nothing pending: reuse the whole buffer
			}
			if err := f.fill(); err != nil {
				if err == io.EOF && i > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
			continue
		}
		c := f.buf[f.start+i]
		if c == ' ' && i > 0 {
			break
		}
		if c < '0' || c > '9' || (i == 0 && c == '0') || i == maxHeader-1 {
			return nil, fmt.Errorf("%w at %q", ErrFraming, clipBytes(f.buf[f.start:f.start+i+1]))
		}
		n = n*10 + int64(c-'0')
		i++
	}
	f.start += i + 1
	if n > int64(f.max) {
		f.skipN = n
		return nil, ErrOversize
	}
	for f.end-f.start < int(n) {
		if err := f.fill(); err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	msg := f.buf[f.start : f.start+int(n)]
	f.start += int(n)
	return msg, nil
}

// fill reads more bytes into buf, first moving the unread ones to its
// start when there is no room after them. It returns the read error once
// no byte came.
func (f *FrameReader) fill() error {
	if f.err != nil {
		return f.err
	}
	if f.end == len(f.buf) {
		copy(f.buf, f.buf[f.start:f.end])
		f.end -= f.start
		f.start = 0
	}
	if f.end == len(f.buf) {
		return fmt.Errorf("syslog: frame buffer full") // not reached: callers bound what they keep
	}
	for range 100 {
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		if err != nil {
			f.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	f.err = io.ErrNoProgress
	return f.err
}

func indexLF(b []byte) int { return bytes.IndexByte(b, '\n') }

func clipBytes(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}
