// Package syslog receives syslog messages over UDP and TCP (RFC 3164 and
// RFC 5424, TCP framed by octet counting or newlines as RFC 6587 describes)
// and hands each on as the log line a syslog daemon would have written to a
// file.
//
// The sender's address is never part of a line: it identifies the relay
// (often this host's own rsyslog), not the attacker, who is whatever address
// the message itself names.
package syslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/source"
)

// Defaults of Options.
const (
	DefaultMaxMessage  = 8 << 10 // bytes of one message, framing excluded
	DefaultMaxConns    = 64      // TCP connections open at once
	DefaultIdleTimeout = 5 * time.Minute
	DefaultQueue       = 1024 // messages between the listeners and the handler
)

// Options configure a Server. The listeners are opened by the caller (the
// network is injected); Run closes them when it returns.
type Options struct {
	UDP net.PacketConn // nil: no UDP
	TCP net.Listener   // nil: no TCP
	// MaxMessage bounds one message; a longer one is dropped whole and
	// counted in Stats.Oversize (never cut: a cut line could end in a
	// different address than the one it held).
	MaxMessage int
	// MaxConns bounds the TCP connections open at once; one more is closed
	// at once and counted in Stats.Rejected.
	MaxConns int
	// IdleTimeout closes a TCP connection that sent nothing for this long.
	IdleTimeout time.Duration
	// Queue is how many messages wait for the handler. When it is full, TCP
	// reads wait (the senders slow down); a UDP datagram, which cannot
	// wait, is dropped and counted in Stats.DroppedQueueFull.
	Queue int
	// Time gives the receive time of messages that carry none and drives
	// the accept backoff; nil means clock.Real. TCP read
	// deadlines, which the kernel compares with the system clock, are
	// always taken from the system clock.
	Time clock.Clock
	// Location is the zone in which a receive time is written on a message
	// that carries none; it should be the agent's zone for zone-less
	// stamps. nil = time.Local.
	Location *time.Location
	Logger   *slog.Logger // nil = discard
}

var _ source.Source = (*Server)(nil)

// Name is the provenance of the received lines (source.Line.Name).
const Name = "syslog"

// Lines is Run for the source.Source contract.
func (s *Server) Lines(ctx context.Context, emit func(*source.Line) error) error {
	var sl source.Line
	return s.Run(ctx, func(line []byte) error {
		sl = source.Line{Data: line, Name: Name}
		return emit(&sl)
	})
}

// Stats are a Server's running totals.
type Stats struct {
	Received         uint64 // messages read: datagrams and TCP frames
	Delivered        uint64 // lines handed to the handler
	DroppedQueueFull uint64 // UDP messages dropped because the queue was full
	Oversize         uint64 // messages over MaxMessage, dropped
	Malformed        uint64 // empty messages, bad PRI, bad octet-counting headers, frames cut by the end of a connection
	Connections      int64  // TCP connections open now
	Accepted         uint64 // TCP connections accepted since the start
	Rejected         uint64 // TCP connections closed at once: MaxConns were open
}

// Server receives syslog messages. Its methods are safe for concurrent use.
type Server struct {
	o    Options
	log  *slog.Logger
	q    chan *[]byte // lines waiting for the handler
	free chan *[]byte // spare line buffers

	received, delivered, dropped, oversize, malformed, accepted, rejected atomic.Uint64
	conns                                                                 atomic.Int64
}

// New checks o and returns a Server.
func New(o Options) (*Server, error) {
	if o.UDP == nil && o.TCP == nil {
		return nil, errors.New("syslog: neither a UDP nor a TCP listener")
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	o.Time = clock.Or(o.Time)
	if o.Location == nil {
		o.Location = time.Local
	}
	s := &Server{o: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.q = make(chan *[]byte, o.Queue)
	// Every buffer is in the queue, the free list, a reader or the
	// handler: the free list can hold them all, so none is ever lost.
	s.free = make(chan *[]byte, o.Queue+o.MaxConns+2)
	return s, nil
}

// Close closes the listeners, which Run otherwise closes when it returns:
// a server built but never run releases them so. Closing twice is
// harmless.
func (s *Server) Close() {
	if s.o.UDP != nil {
		s.o.UDP.Close()
	}
	if s.o.TCP != nil {
		s.o.TCP.Close()
	}
}

// Stats returns the running totals.
func (s *Server) Stats() Stats {
	return Stats{
		Received:         s.received.Load(),
		Delivered:        s.delivered.Load(),
		DroppedQueueFull: s.dropped.Load(),
		Oversize:         s.oversize.Load(),
		Malformed:        s.malformed.Load(),
		Connections:      s.conns.Load(),
		Accepted:         s.accepted.Load(),
		Rejected:         s.rejected.Load(),
	}
}

// Run receives messages until ctx ends or handle fails, calling handle with
// each line, one at a time, from Run's goroutine. The line is valid until
// handle returns. When ctx ends, the lines already queued are handed on
// before Run returns nil; an error of handle is returned as it is. Run
// closes the listeners and every connection before it returns. Run is
// called once.
func (s *Server) Run(ctx context.Context, handle func(line []byte) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.o.UDP != nil {
		stop := context.AfterFunc(rctx, func() { s.o.UDP.Close() })
		defer stop()
		wg.Go(func() { s.readUDP(rctx) })
	}
	if s.o.TCP != nil {
		stop := context.AfterFunc(rctx, func() { s.o.TCP.Close() })
		defer stop()
		wg.Go(func() { s.acceptTCP(rctx, &wg) })
	}
	var err error
loop:
	for {
		select {
		case <-rctx.Done():
			break loop
		case b := <-s.q:
			err = s.deliver(handle, b)
			if err != nil {
				break loop
			}
		}
	}
	cancel()
	if s.o.UDP != nil {
		s.o.UDP.Close()
	}
	if s.o.TCP != nil {
		s.o.TCP.Close()
	}
	// Readers blocked on a full queue give up when rctx ends; the queue is
	// drained meanwhile, then once more after the last reader is gone.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case b := <-s.q:
			err = s.drain(err, handle, b)
		case <-done:
			for {
				select {
				case b := <-s.q:
					err = s.drain(err, handle, b)
				default:
					return err
				}
			}
		}
	}
}

// drain hands b on while no error has happened, else recycles it.
func (s *Server) drain(err error, handle func([]byte) error, b *[]byte) error {
	if err != nil {
		s.put(b)
		return err
	}
	return s.deliver(handle, b)
}

func (s *Server) deliver(handle func([]byte) error, b *[]byte) error {
	s.delivered.Add(1)
	err := handle(*b)
	s.put(b)
	return err
}

// get returns a spare line buffer, or a new one.
func (s *Server) get() *[]byte {
	select {
	case b := <-s.free:
		*b = (*b)[:0]
		return b
	default:
		b := make([]byte, 0, lineCap(s.o.MaxMessage))
		return &b
	}
}

func (s *Server) put(b *[]byte) {
	select {
	case s.free <- b:
	default:
	}
}

// line decodes msg into a buffer, or counts it malformed and returns nil.
func (s *Server) line(msg []byte) *[]byte {
	b := s.get()
	var err error
	*b, err = AppendLine(*b, msg, s.o.Time.Now(), s.o.Location)
	if err != nil {
		s.malformed.Add(1)
		s.log.Debug("syslog: message dropped", "err", err)
		s.put(b)
		return nil
	}
	return b
}

// readUDP reads datagrams until the socket is closed. A datagram is one
// message.
func (s *Server) readUDP(ctx context.Context) {
	buf := make([]byte, s.o.MaxMessage+1) // one more byte tells an oversize datagram
	read := func() (int, error) { n, _, err := s.o.UDP.ReadFrom(buf); return n, err }
	if r, ok := s.o.UDP.(io.Reader); ok { // *net.UDPConn: Read does not allocate the peer's address
		read = func() (int, error) { return r.Read(buf) }
	}
	var warned time.Time // last warning of drops
	for {
		n, err := read()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("syslog: udp read", "addr", s.o.UDP.LocalAddr().String(), "err", err)
			continue
		}
		s.received.Add(1)
		if n > s.o.MaxMessage {
			s.oversize.Add(1)
			continue
		}
		b := s.line(buf[:n])
		if b == nil {
			continue
		}
		select {
		case s.q <- b:
		default:
			n := s.dropped.Add(1)
			s.put(b)
			// Said at most once a minute: a flood must not flood the logs too.
			if now := s.o.Time.Now(); now.Sub(warned) >= time.Minute {
				warned = now
				s.log.Warn("syslog: queue full, udp messages dropped; prefer tcp, which waits", "dropped_total", n)
			}
		}
	}
}

// acceptTCP accepts connections until the listener is closed.
func (s *Server) acceptTCP(ctx context.Context, wg *sync.WaitGroup) {
	for {
		c, err := s.o.TCP.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait, do not spin.
			s.log.Warn("syslog: tcp accept", "addr", s.o.TCP.Addr().String(), "err", err)
			if clock.Sleep(ctx, s.o.Time, 100*time.Millisecond) != nil {
				return
			}
			continue
		}
		if s.conns.Load() >= int64(s.o.MaxConns) {
			s.rejected.Add(1)
			s.log.Warn("syslog: tcp connection refused: too many open", "max", s.o.MaxConns)
			c.Close()
			continue
		}
		s.conns.Add(1)
		s.accepted.Add(1)
		wg.Go(func() {
			defer s.conns.Add(-1)
			s.serveTCP(ctx, c)
		})
	}
}

// serveTCP reads one connection's messages until it ends, goes idle,
// breaks its framing or ctx ends.
func (s *Server) serveTCP(ctx context.Context, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	fr := NewFrameReader(&idleReader{c: c, idle: s.o.IdleTimeout}, s.o.MaxMessage)
	for {
		msg, err := fr.Next()
		switch {
		case err == nil:
		case errors.Is(err, ErrOversize):
			s.received.Add(1)
			s.oversize.Add(1)
			continue
		case errors.Is(err, ErrFraming), errors.Is(err, io.ErrUnexpectedEOF):
			s.received.Add(1)
			s.malformed.Add(1)
			s.log.Warn("syslog: tcp connection closed", "peer", c.RemoteAddr().String(), "err", err)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log.Debug("syslog: tcp connection idle, closed", "peer", c.RemoteAddr().String())
			return
		default:
			if err != io.EOF && ctx.Err() == nil {
				s.log.Debug("syslog: tcp read", "peer", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		s.received.Add(1)
		b := s.line(msg)
		if b == nil {
			continue
		}
		select {
		case s.q <- b: // waits while the handler is busy: backpressure
		case <-ctx.Done():
			s.put(b)
			return
		}
	}
}

// idleReader reads from a connection with a deadline of idle from each
// read's start, on the system clock: the kernel compares deadlines with
// it, so one taken from an injected clock would end every read at once (a
// clock in the past) or never.
type idleReader struct {
	c    net.Conn
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	if err := r.c.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
		return 0, fmt.Errorf("syslog: tcp %s: %w", r.c.RemoteAddr(), err)
	}
	return r.c.Read(p)
}
