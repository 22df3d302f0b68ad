// Package connlimit guards a server's listener so that no client can stop
// the server by holding connections: it caps the connections open at once,
// in total and per client address, closes the ones beyond the caps as soon
// as they are accepted (counted by reason), and turns accept errors (a full
// file table, a connection aborted before it was accepted) into a back-off
// instead of an end of the server.
package connlimit

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Back-off after an accept error: the first wait, doubled at each error in
// a row up to the last (as net/http does for the errors it retries).
const (
	FirstBackoff = 5 * time.Millisecond
	MaxBackoff   = time.Second
)

// Limits are the caps of one listener.
type Limits struct {
	// Total bounds the connections open at once; one beyond it is closed
	// as soon as it is accepted. Zero or less means no cap.
	Total int
	// PerAddr bounds the connections open at once from one client: one
	// IPv4 address, or one IPv6 /64 (an attacker owns a whole /64 as
	// easily as one address). Zero or less means no cap.
	PerAddr int
	// Reserve more connections beyond Total are kept for clients in
	// Options.Priority, so that an attacker with many addresses who fills
	// Total does not lock out the local proxy or bouncer. PerAddr still
	// applies to them.
	Reserve int
}

// Stats are a listener's counts since it was made.
type Stats struct {
	Open           int    // connections open now
	Accepted       uint64 // connections admitted
	RefusedTotal   uint64 // closed at once: Limits.Total was reached
	RefusedPerAddr uint64 // closed at once: the client's Limits.PerAddr was reached
	AcceptErrors   uint64 // errors of the underlying Accept, each followed by a back-off
}

// Options configures New.
type Options struct {
	Limits
	// Name says which listener this is in log lines ("api", "metrics").
	Name string
	// Priority are the clients that may use Limits.Reserve (the agent
	// passes its trusted proxies: loopback by default).
	Priority []netip.Prefix
	// Logger receives a warning when accepting fails; nil discards.
	Logger *slog.Logger
	// Time drives the backoff after a failed accept; nil means clock.Real.
	Time clock.Clock
}

// Listener is a net.Listener whose Accept applies Limits and never returns
// an error other than the one of a closed listener. Its methods are safe
// for concurrent use. The connections it returns release their place when
// closed (the first Close counts).
type Listener struct {
	net.Listener
	lim  Limits
	prio []netip.Prefix
	name string
	log  *slog.Logger
	clk  clock.Clock

	done      chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	open   int
	byAddr map[netip.Prefix]int // clients with open connections only: at most Total entries

	accepted, refusedTotal, refusedPerAddr, acceptErrors atomic.Uint64
}

// New returns ln guarded by o.Limits. Closing the Listener closes ln.
func New(ln net.Listener, o Options) *Listener {
	l := &Listener{
		Listener: ln,
		lim:      o.Limits,
		prio:     o.Priority,
		name:     o.Name,
		log:      o.Logger,
		clk:      clock.Or(o.Time),
		done:     make(chan struct{}),
		byAddr:   map[netip.Prefix]int{},
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// Accept waits for a connection within the limits and returns it. A
// connection beyond a limit is closed at once and counted, and Accept waits
// for the next. An error of the underlying listener is counted and followed
// by a wait (FirstBackoff, doubling up to MaxBackoff while errors follow
// each other), then Accept tries again: it returns an error only once the
// listener is closed (net.ErrClosed).
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			if l.closed() {
				return nil, net.ErrClosed
			}
			l.acceptErrors.Add(1)
			delay = min(max(2*delay, FirstBackoff), MaxBackoff)
			if delay == FirstBackoff || delay == MaxBackoff {
				l.log.Warn("connlimit: accept failed; backing off", "listener", l.name, "wait", delay, "err", err)
			}
			if !l.sleep(delay) {
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		ip, keyed := clientAddr(c.RemoteAddr())
		k := clientKey(ip)
		if l.admit(k, keyed, keyed && l.priority(ip)) {
			return &conn{Conn: c, l: l, k: k, keyed: keyed}, nil
		}
		c.Close()
	}
}

// admit takes a place for a connection from k (when keyed; prio when it
// may use the reserve), or counts the refusal and returns false.
func (l *Listener) admit(k netip.Prefix, keyed, prio bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total := l.lim.Total; total > 0 {
		if prio {
			total += max(l.lim.Reserve, 0)
		}
		if l.open >= total {
			l.refusedTotal.Add(1)
			return false
		}
	}
	if keyed && l.lim.PerAddr > 0 && l.byAddr[k] >= l.lim.PerAddr {
		l.refusedPerAddr.Add(1)
		return false
	}
	l.open++
	if keyed {
		l.byAddr[k]++
	}
	l.accepted.Add(1)
	return true
}

// release gives back the place of a connection from k.
func (l *Listener) release(k netip.Prefix, keyed bool) {
	l.mu.Lock()
	l.open--
	if keyed {
		if n := l.byAddr[k] - 1; n > 0 {
			l.byAddr[k] = n
		} else {
			delete(l.byAddr, k)
		}
	}
	l.mu.Unlock()
}

// Close closes the underlying listener and ends a back-off in progress.
// Connections already accepted stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	return Stats{
		Open:           open,
		Accepted:       l.accepted.Load(),
		RefusedTotal:   l.refusedTotal.Load(),
		RefusedPerAddr: l.refusedPerAddr.Load(),
		AcceptErrors:   l.acceptErrors.Load(),
	}
}

// Limits returns the listener's caps.
func (l *Listener) Limits() Limits { return l.lim }

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *Listener) sleep(d time.Duration) bool {
	return clock.Wait(l.clk, d, l.done)
}

// priority reports whether ip may use the reserve.
func (l *Listener) priority(ip netip.Addr) bool {
	for _, p := range l.prio {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientKey returns the client whose connections Limits.PerAddr counts
// together: the IPv4 address, or the IPv6 /64.
func clientKey(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// clientAddr returns the unmapped IP address of a, and false for an
// address that is not IP (a Unix socket), which only Total bounds.
func clientAddr(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	default:
		if a == nil {
			return netip.Addr{}, false
		}
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	return ip, ip.IsValid()
}

// conn is an admitted connection; its first Close gives its place back.
type conn struct {
	net.Conn
	l     *Listener
	k     netip.Prefix
	keyed bool
	once  sync.Once
}

// Close closes the connection and releases its place.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.k, c.keyed) })
	return err
}

// CloseWrite shuts the writing side down when the connection supports it
// (TCP does), so that servers can end a connection gracefully.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the underlying connection.
func (c *conn) NetConn() net.Conn { return c.Conn }
