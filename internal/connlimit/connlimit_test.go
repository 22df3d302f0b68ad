package connlimit_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/connlimit"
)

// listen returns a guarded loopback listener and a channel of the
// connections it admits, which an accepting goroutine holds open.
func listen(t *testing.T, lim connlimit.Limits) (*connlimit.Listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Options{Limits: lim, Name: "test"})
	ch := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("accept: %v", err)
				}
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for {
			select {
			case c := <-ch:
				c.Close()
			default:
				return
			}
		}
	})
	return l, ch
}

// dialFrom connects to l from the loopback address src.
func dialFrom(t *testing.T, l net.Listener, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read ends in EOF or
// a reset), waiting up to 300 ms; false means it is held open.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func waitStats(t *testing.T, l *connlimit.Listener, ok func(connlimit.Stats) bool) connlimit.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := l.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never reached the expected state: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The per-address cap closes a client's connection beyond it at once, while
// other clients' connections are admitted and the held ones stay open; a
// place given back is taken again.
func TestPerAddressCap(t *testing.T) {
	l, held := listen(t, connlimit.Limits{Total: 100, PerAddr: 2})
	a1, a2 := dialFrom(t, l, "127.0.0.2"), dialFrom(t, l, "127.0.0.2")
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 2 })
	a3 := dialFrom(t, l, "127.0.0.2")
	if !closedByServer(a3) {
		t.Fatal("a third connection from 127.0.0.2 was held beyond PerAddr 2")
	}
	b1 := dialFrom(t, l, "127.0.0.3")
	st := waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 3 })
	if st.RefusedPerAddr != 1 || st.RefusedTotal != 0 || st.Accepted != 3 {
		t.Fatalf("stats %+v, want 3 accepted and 1 refused per address", st)
	}
	for _, c := range []net.Conn{a1, a2, b1} {
		if closedByServer(c) {
			t.Fatal("an admitted connection was closed")
		}
	}
	// The server closes one of 127.0.0.2's connections: its place is free.
	first := <-held
	first.Close()
	first.Close() // a second Close gives back nothing more
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 2 })
	a4 := dialFrom(t, l, "127.0.0.2")
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 3 && s.Accepted == 4 })
	if closedByServer(a4) {
		t.Fatal("a connection within the cap again was closed")
	}
}

// The total cap closes any connection beyond it, whatever its address.
func TestTotalCap(t *testing.T) {
	l, _ := listen(t, connlimit.Limits{Total: 3, PerAddr: 2})
	var conns []net.Conn
	for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		conns = append(conns, dialFrom(t, l, src))
	}
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 3 })
	extra := dialFrom(t, l, "127.0.0.5")
	if !closedByServer(extra) {
		t.Fatal("a connection beyond Total 3 was held")
	}
	st := l.Stats()
	if st.RefusedTotal != 1 || st.RefusedPerAddr != 0 || st.Open != 3 {
		t.Fatalf("stats %+v, want 3 open and 1 refused for the total", st)
	}
	for _, c := range conns {
		if closedByServer(c) {
			t.Fatal("an admitted connection was closed")
		}
	}
}

// IPv6 clients are counted per /64: an attacker owns all of it.
func TestIPv6CountsPer64(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	// Only ::1 is on loopback, so the /64 rule is checked through a fake
	// listener whose connections come from two addresses of one /64.
	fl := &fakeListener{addrs: []string{"[2001:db8::1]:1000", "[2001:db8::2]:1000", "[2001:db8:0:1::1]:1000"}}
	l := connlimit.New(fl, connlimit.Options{Limits: connlimit.Limits{PerAddr: 1}})
	c1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// 2001:db8::2 shares 2001:db8::1's /64 and is refused; the next
	// connection, from another /64, is the one Accept returns.
	c2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := c2.RemoteAddr().String(); got != "[2001:db8:0:1::1]:1000" {
		t.Fatalf("second admitted connection from %s, want the other /64", got)
	}
	if st := l.Stats(); st.RefusedPerAddr != 1 {
		t.Fatalf("stats %+v, want one refused per address", st)
	}
}

// fakeListener returns connections from addrs in turn, then errors, then
// (when errs runs out) blocks until closed.
type fakeListener struct {
	addrs  []string
	errs   []error
	closed chan struct{}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if len(f.addrs) > 0 {
		a := f.addrs[0]
		f.addrs = f.addrs[1:]
		c1, c2 := net.Pipe()
		c2.Close()
		return addrConn{Conn: c1, remote: fakeAddr(a)}, nil
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return nil, net.ErrClosed
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return fakeAddr("fake") }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// An accept error caused by the file limit (EMFILE) does not end Accept:
// it backs off and returns the waiting connection once descriptors are
// free again. The process's own limit is lowered for the test.
func TestAcceptSurvivesFileLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Options{Name: "test"})
	defer l.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	low := old
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restoring the file limit: %v", err)
			}
		}
	}
	defer restore()
	// Take every descriptor left.
	var fillers []*os.File
	defer func() {
		for _, f := range fillers {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("filling the descriptor table: %v", err)
			}
			break
		}
		fillers = append(fillers, f)
	}
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		got <- result{c, err}
	}()
	waitStats(t, l, func(s connlimit.Stats) bool { return s.AcceptErrors >= 3 })
	select {
	case r := <-got:
		t.Fatalf("Accept returned while no descriptor was free: %v", r.err)
	default:
	}
	for _, f := range fillers {
		f.Close()
	}
	fillers = nil
	restore()
	var r result
	select {
	case r = <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("Accept did not return the waiting connection after the back-off")
	}
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	defer r.c.Close()
	if _, err := r.c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(client, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("the accepted connection does not reach the client: %v", err)
	}
}

// Close ends Accept, also during a back-off.
func TestCloseEndsAccept(t *testing.T) {
	fl := &fakeListener{errs: make([]error, 1000)}
	for i := range fl.errs {
		fl.errs[i] = syscall.EMFILE
	}
	l := connlimit.New(fl, connlimit.Options{})
	got := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		got <- err
	}()
	waitStats(t, l, func(s connlimit.Stats) bool { return s.AcceptErrors >= 1 })
	l.Close()
	select {
	case err := <-got:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept went on after Close")
	}
}

func TestFromFileLimit(t *testing.T) {
	for _, tc := range []struct {
		nofile    uint64
		listeners int
		want      connlimit.Limits
	}{
		{4096, 2, connlimit.Limits{Total: 1792, PerAddr: 112, Reserve: 112}},
		{4096, 1, connlimit.Limits{Total: 3584, PerAddr: 224, Reserve: 224}},
		{1024, 2, connlimit.Limits{Total: 384, PerAddr: 24, Reserve: 24}},
		{0, 1, connlimit.Limits{Total: 768, PerAddr: 48, Reserve: 48}},
		{1 << 20, 2, connlimit.Limits{Total: connlimit.MaxDefaultTotal, PerAddr: 256, Reserve: 512}},
		{64, 2, connlimit.Limits{Total: 16, PerAddr: 8, Reserve: 1}},
		{4, 8, connlimit.Limits{Total: 1, PerAddr: 1}},
	} {
		got := connlimit.FromFileLimit(tc.nofile, tc.listeners)
		if got != tc.want {
			t.Errorf("FromFileLimit(%d, %d) = %+v, want %+v", tc.nofile, tc.listeners, got, tc.want)
		}
		if got.Total < 1 || got.PerAddr < 1 || got.PerAddr > got.Total || uint64((got.Total+got.Reserve)*tc.listeners) > max(tc.nofile, 1024)*15/16 {
			t.Errorf("FromFileLimit(%d, %d) = %+v: out of bounds", tc.nofile, tc.listeners, got)
		}
	}
}

// When Total is reached, clients in Priority still get Reserve more
// connections (and no more), within their own PerAddr; others are refused.
func TestReserveForPriorityClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Options{
		Limits:   connlimit.Limits{Total: 2, PerAddr: 2, Reserve: 2},
		Priority: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		l.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	dialFrom(t, l, "127.0.0.2")
	dialFrom(t, l, "127.0.0.3")
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 2 })
	if c := dialFrom(t, l, "127.0.0.4"); !closedByServer(c) {
		t.Fatal("a client outside Priority was admitted beyond Total")
	}
	p1, p2 := dialFrom(t, l, "127.0.0.1"), dialFrom(t, l, "127.0.0.1")
	waitStats(t, l, func(s connlimit.Stats) bool { return s.Open == 4 })
	if closedByServer(p1) || closedByServer(p2) {
		t.Fatal("a priority client was refused within the reserve")
	}
	if c := dialFrom(t, l, "127.0.0.1"); !closedByServer(c) {
		t.Fatal("a priority client was admitted beyond its PerAddr and the reserve")
	}
	if st := l.Stats(); st.RefusedTotal != 2 || st.Accepted != 4 {
		t.Fatalf("stats %+v, want 4 accepted and 2 refused for the total", st)
	}
}
