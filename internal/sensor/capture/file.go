package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"
)

// Limits a capture file must respect: a record or block beyond them is an
// error, not an allocation the file's author chose.
const (
	MaxSnap  = 256 << 10 // bytes of one captured packet
	maxBlock = 1 << 24   // bytes of one pcapng block (options and all)
	maxIfs   = 4096      // interfaces declared in one pcapng section
)

// File magics.
const (
	pcapMicro   = 0xa1b2c3d4
	pcapNano    = 0xa1b23c4d
	ngSection   = 0x0a0d0d0a
	ngByteOrder = 0x1a2b3c4d
)

// pcapng block types read; every other block is skipped.
const (
	ngIDB = 1 // interface description
	ngOPB = 2 // obsolete packet block
	ngSPB = 3 // simple packet
	ngEPB = 6 // enhanced packet
)

type ngIface struct {
	link  LinkType
	snap  uint32
	unit  int64 // timestamp units per second (if_tsresol)
	shift uint  // 0, or the power of two when if_tsresol has its high bit set
	pow2  bool
}

// readBuffer is the size of a Reader's read buffer: records up to it are
// handed out from it without a copy.
const readBuffer = 1 << 18

// Reader is a Source reading a pcap or pcapng file. It is not safe for
// concurrent use.
type Reader struct {
	name   string
	r      *bufio.Reader
	closer io.Closer
	off    int64 // offset in the file of the next unread byte
	ng     bool
	order  binary.ByteOrder
	nano   bool     // pcap: nanosecond timestamps
	link   LinkType // pcap: the file's link type
	snap   uint32
	ifs    []ngIface
	hdr    [28]byte
	buf    []byte // the last record read: into r's buffer, or own
	own    []byte // a record larger than r's buffer, copied
	n      uint64
}

var _ Source = (*Reader)(nil)

// Open opens the capture file at path.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	r, err := NewReader(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a pcap or pcapng stream from r; name is used in errors.
// It reads the file header, so a stream of another format fails here.
func NewReader(name string, r io.Reader) (*Reader, error) {
	rd := &Reader{name: name, r: bufio.NewReaderSize(r, readBuffer)}
	if err := rd.full(rd.hdr[:4]); err != nil {
		return nil, rd.errf(0, "reading the file header: %w", err)
	}
	le := binary.LittleEndian.Uint32(rd.hdr[:4])
	be := binary.BigEndian.Uint32(rd.hdr[:4])
	switch {
	case le == ngSection:
		rd.ng = true
		if err := rd.section(); err != nil {
			return nil, err
		}
	case le == pcapMicro || le == pcapNano:
		rd.order, rd.nano = binary.LittleEndian, le == pcapNano
	case be == pcapMicro || be == pcapNano:
		rd.order, rd.nano = binary.BigEndian, be == pcapNano
	default:
		return nil, rd.errf(0, "not a pcap or pcapng file (magic %08x)", be)
	}
	if !rd.ng {
		var h [20]byte
		if err := rd.full(h[:]); err != nil {
			return nil, rd.errf(4, "reading the pcap header: %w", err)
		}
		rd.snap = rd.order.Uint32(h[12:])
		rd.link = LinkType(rd.order.Uint32(h[16:]) & 0xffff)
	}
	return rd, nil
}

func (r *Reader) errf(off int64, f string, args ...any) error {
	return fmt.Errorf("capture: %s: offset %d: %w", r.name, off, fmt.Errorf(f, args...))
}

// full reads exactly len(b) bytes, advancing the offset; a stream that
// ends early gives io.ErrUnexpectedEOF, one that ends before the first
// byte io.EOF.
func (r *Reader) full(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	return err
}

func (r *Reader) skip(n int64) error {
	d, err := r.r.Discard(int(n))
	r.off += int64(d)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Stats returns the packets read; a file drops none.
func (r *Reader) Stats() (received, dropped uint64) { return r.n, 0 }

// Close closes the file Open opened.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Next reads the next packet. p.Data is valid until the next call.
func (r *Reader) Next(p *Packet) error {
	if r.ng {
		return r.nextNG(p)
	}
	at := r.off
	h := r.hdr[:16]
	if err := r.full(h); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return r.errf(at, "truncated packet record header: %w", err)
	}
	sec := r.order.Uint32(h[0:])
	frac := r.order.Uint32(h[4:])
	incl := r.order.Uint32(h[8:])
	orig := r.order.Uint32(h[12:])
	if incl > MaxSnap {
		return r.errf(at, "packet record of %d bytes (more than %d)", incl, MaxSnap)
	}
	if err := r.data(int(incl)); err != nil {
		return r.errf(at, "truncated packet record (%d bytes announced): %w", incl, err)
	}
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	p.Time = time.Unix(int64(sec), ns).UTC()
	r.fill(p, r.link, orig)
	return nil
}

// data reads the next n bytes into r.buf. When the read buffer holds them
// they are not copied: r.buf points into it, valid until the next read
// (Packet.Data is valid until the next Next). Otherwise they are copied
// into r.own.
func (r *Reader) data(n int) error {
	if b, err := r.r.Peek(n); err == nil {
		r.r.Discard(n)
		r.off += int64(n)
		r.buf = b[:n:n]
		return nil
	}
	if cap(r.own) < n {
		r.own = make([]byte, n, max(n, 2*cap(r.own)))
	}
	r.buf = r.own[:n]
	return r.full(r.buf)
}

func (r *Reader) fill(p *Packet, link LinkType, orig uint32) {
	p.Data = r.buf
	p.Length = max(int(min(orig, MaxSnap*64)), len(r.buf))
	p.Link = link
	p.Ifindex = 0
	r.n++
}

// section reads a section header block whose type was just read.
func (r *Reader) section() error {
	at := r.off - 4
	var h [8]byte
	if err := r.full(h[:]); err != nil {
		return r.errf(at, "truncated section header: %w", err)
	}
	switch {
	case binary.LittleEndian.Uint32(h[4:]) == ngByteOrder:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[4:]) == ngByteOrder:
		r.order = binary.BigEndian
	default:
		return r.errf(at, "section header with an unknown byte-order magic")
	}
	total := r.order.Uint32(h[:4])
	if total < 28 || total%4 != 0 || total > maxBlock {
		return r.errf(at, "section header of bad length %d", total)
	}
	r.ifs = r.ifs[:0]
	if err := r.skip(int64(total) - 12); err != nil {
		return r.errf(at, "truncated section header: %w", err)
	}
	return nil
}

func (r *Reader) nextNG(p *Packet) error {
	for {
		at := r.off
		h := r.hdr[:8]
		if err := r.full(h[:4]); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return r.errf(at, "truncated block header: %w", err)
		}
		if binary.LittleEndian.Uint32(h[:4]) == ngSection {
			if err := r.section(); err != nil {
				return err
			}
			continue
		}
		if err := r.full(h[4:8]); err != nil {
			return r.errf(at, "truncated block header: %w", err)
		}
		typ := r.order.Uint32(h[:4])
		total := r.order.Uint32(h[4:8])
		if total < 12 || total%4 != 0 || total > maxBlock {
			return r.errf(at, "block of type %d with bad length %d", typ, total)
		}
		body := int(total) - 12
		switch typ {
		case ngIDB, ngEPB, ngSPB, ngOPB:
		default:
			if err := r.skip(int64(body) + 4); err != nil {
				return r.errf(at, "truncated block of type %d: %w", typ, err)
			}
			continue
		}
		if err := r.data(body + 4); err != nil {
			return r.errf(at, "truncated block of type %d (%d bytes announced): %w", typ, total, err)
		}
		b := r.buf[:body]
		if r.order.Uint32(r.buf[body:]) != total {
			return r.errf(at, "block of type %d: trailing length differs from %d", typ, total)
		}
		switch typ {
		case ngIDB:
			if err := r.iface(at, b); err != nil {
				return err
			}
			continue
		case ngSPB:
			if len(b) < 4 || len(r.ifs) == 0 {
				return r.errf(at, "simple packet block without an interface or too short")
			}
			orig := r.order.Uint32(b)
			n := min(uint32(len(b)-4), orig)
			if s := r.ifs[0].snap; s > 0 {
				n = min(n, s)
			}
			r.buf = b[4 : 4+n]
			p.Time = time.Time{}
			r.fill(p, r.ifs[0].link, orig)
			return nil
		}
		// EPB or OPB: same layout but for the interface id's width.
		if len(b) < 20 {
			return r.errf(at, "packet block of %d bytes", total)
		}
		var id uint32
		if typ == ngEPB {
			id = r.order.Uint32(b)
		} else {
			id = uint32(r.order.Uint16(b))
		}
		if int(id) >= len(r.ifs) {
			return r.errf(at, "packet block names interface %d of %d", id, len(r.ifs))
		}
		ts := uint64(r.order.Uint32(b[4:]))<<32 | uint64(r.order.Uint32(b[8:]))
		capl := r.order.Uint32(b[12:])
		orig := r.order.Uint32(b[16:])
		if uint64(capl) > uint64(len(b)-20) {
			return r.errf(at, "packet block captures %d bytes in a block of %d", capl, total)
		}
		r.buf = b[20 : 20+capl]
		f := &r.ifs[id]
		p.Time = f.time(ts)
		r.fill(p, f.link, orig)
		return nil
	}
}

func (f *ngIface) time(ts uint64) time.Time {
	if f.pow2 {
		sec := ts >> f.shift
		frac := ts & (1<<f.shift - 1)
		return time.Unix(int64(sec), int64(frac*1e9>>f.shift)).UTC()
	}
	u := uint64(f.unit)
	sec := ts / u
	frac := ts % u
	var ns uint64
	if u <= 1e9 {
		ns = frac * (1e9 / u)
	} else {
		ns = frac / (u / 1e9)
	}
	return time.Unix(int64(sec), int64(ns)).UTC()
}

func (r *Reader) iface(at int64, b []byte) error {
	if len(b) < 8 {
		return r.errf(at, "interface description of %d bytes", len(b))
	}
	if len(r.ifs) >= maxIfs {
		return r.errf(at, "more than %d interfaces in a section", maxIfs)
	}
	f := ngIface{link: LinkType(r.order.Uint16(b)), snap: r.order.Uint32(b[4:]), unit: 1e6}
	opts := b[8:]
	for len(opts) >= 4 {
		code := r.order.Uint16(opts)
		l := int(r.order.Uint16(opts[2:]))
		if code == 0 {
			break
		}
		pad := (l + 3) &^ 3
		if 4+pad > len(opts) {
			return r.errf(at, "interface option %d overruns its block", code)
		}
		if code == 9 && l >= 1 { // if_tsresol
			v := opts[4]
			if v&0x80 != 0 {
				if v&0x7f > 63 {
					return r.errf(at, "interface time resolution 2^-%d", v&0x7f)
				}
				f.pow2, f.shift = true, uint(v&0x7f)
			} else {
				if v > 18 {
					return r.errf(at, "interface time resolution 10^-%d", v)
				}
				f.unit = 1
				for range v {
					f.unit *= 10
				}
			}
		}
		opts = opts[4+pad:]
	}
	r.ifs = append(r.ifs, f)
	return nil
}
