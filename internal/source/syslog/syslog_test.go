package syslog

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// server runs a Server on loopback sockets for a test. Its handler records
// the lines and waits while gate is held.
type server struct {
	s      *Server
	udp    net.PacketConn
	tcp    net.Listener
	mu     sync.Mutex
	lines  []string
	gate   sync.RWMutex // held by the test: the handler blocks
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, o Options) *server {
	t.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.UDP, o.TCP = udp, tcp
	if o.Location == nil {
		o.Location = time.UTC
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &server{s: s, udp: udp, tcp: tcp, cancel: cancel, done: make(chan error, 1)}
	go func() {
		sv.done <- s.Run(ctx, func(line []byte) error {
			sv.gate.RLock()
			defer sv.gate.RUnlock()
			sv.mu.Lock()
			sv.lines = append(sv.lines, string(line))
			sv.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { sv.stop(t) })
	return sv
}

func (sv *server) stop(t *testing.T) {
	t.Helper()
	if sv.cancel == nil {
		return
	}
	sv.cancel()
	sv.cancel = nil
	select {
	case err := <-sv.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
	}
}

func (sv *server) got() []string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return append([]string(nil), sv.lines...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sendUDP(t *testing.T, addr net.Addr, msgs ...string) {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerUDPAndTCP(t *testing.T) {
	sv := startServer(t, Options{MaxMessage: 64})
	sendUDP(t, sv.udp.LocalAddr(), "<38>Nov 23 11:31:39 vm sshd: udp one", "<38>"+string(make([]byte, 80)), "<999>bad")
	c, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "<38>Nov 23 11:31:39 vm sshd: tcp one\n<38>Nov 23 11:31:39 vm sshd: tcp two\n")
	c.Close()
	c, err = net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg := "<38>1 2026-11-23T11:31:39Z vm sshd 1 - - octet"
	fmt.Fprintf(c, "%d %s", len(msg), msg)
	c.Close()
	waitFor(t, "four lines", func() bool { return len(sv.got()) == 4 })
	want := map[string]bool{
		"Nov 23 11:31:39 vm sshd: udp one": true, "Nov 23 11:31:39 vm sshd: tcp one": true,
		"Nov 23 11:31:39 vm sshd: tcp two": true, msg: true,
	}
	for _, l := range sv.got() {
		if !want[l] {
			t.Errorf("unexpected line %q", l)
		}
	}
	waitFor(t, "the connections to close", func() bool { return sv.s.Stats().Connections == 0 })
	st := sv.s.Stats()
	if st.Received != 6 || st.Delivered != 4 || st.Oversize != 1 || st.Malformed != 1 || st.Accepted != 2 || st.DroppedQueueFull != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestServerUDPQueueFull: while the handler is busy and the queue full,
// datagrams are dropped and every one is counted; none is lost silently.
func TestServerUDPQueueFull(t *testing.T) {
	sv := startServer(t, Options{Queue: 2})
	sv.gate.Lock()
	sendUDP(t, sv.udp.LocalAddr(), "<13>first")
	waitFor(t, "the handler to take the first", func() bool { return sv.s.Stats().Delivered == 1 })
	for i := range 10 {
		sendUDP(t, sv.udp.LocalAddr(), fmt.Sprintf("<13>m%d", i))
	}
	waitFor(t, "11 datagrams", func() bool { return sv.s.Stats().Received == 11 })
	if st := sv.s.Stats(); st.DroppedQueueFull != 8 {
		t.Errorf("dropped %d, want 8 (queue of 2, handler busy): %+v", st.DroppedQueueFull, st)
	}
	sv.gate.Unlock()
	waitFor(t, "the queued lines", func() bool { return sv.s.Stats().Delivered == 3 })
	if got := sv.got(); len(got) != 3 {
		t.Errorf("lines %q", got)
	}
}

// TestServerTCPBackpressure: over TCP nothing is dropped while the handler
// is busy: the reads wait and the sender is slowed by TCP itself.
func TestServerTCPBackpressure(t *testing.T) {
	sv := startServer(t, Options{Queue: 2})
	sv.gate.Lock()
	c, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := fmt.Fprintf(c, "<13>message %d\n", i); err != nil {
				sent <- err
				return
			}
		}
		sent <- c.Close()
	}()
	waitFor(t, "the queue to fill", func() bool { return sv.s.Stats().Received >= 3 })
	time.Sleep(50 * time.Millisecond)
	if st := sv.s.Stats(); st.Delivered != 1 || st.Received > 4 {
		t.Errorf("while the handler is busy: %+v (want 1 delivered, reads stopped)", st)
	}
	sv.gate.Unlock()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message", func() bool { return sv.s.Stats().Delivered == n })
	if st := sv.s.Stats(); st.DroppedQueueFull != 0 || st.Received != n {
		t.Errorf("stats %+v", st)
	}
}

func TestServerMaxConns(t *testing.T) {
	sv := startServer(t, Options{MaxConns: 1})
	c1, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	waitFor(t, "one connection", func() bool { return sv.s.Stats().Connections == 1 })
	c2, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("second connection: read %v, want EOF (closed by the server)", err)
	}
	if st := sv.s.Stats(); st.Rejected != 1 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
	// The first still works.
	fmt.Fprintf(c1, "<13>still here\n")
	waitFor(t, "the line", func() bool { return len(sv.got()) == 1 })
}

func TestServerIdleTimeout(t *testing.T) {
	sv := startServer(t, Options{IdleTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF (closed by the server)", err)
	}
	waitFor(t, "no connection", func() bool { return sv.s.Stats().Connections == 0 })
}

// TestServerStopDrains: the lines queued when the context ends are handed
// on before Run returns.
func TestServerStopDrains(t *testing.T) {
	sv := startServer(t, Options{Queue: 8})
	sv.gate.Lock()
	sendUDP(t, sv.udp.LocalAddr(), "<13>a", "<13>b", "<13>c")
	waitFor(t, "three datagrams", func() bool { return sv.s.Stats().Received == 3 })
	sv.cancel()
	sv.gate.Unlock()
	sv.cancel = nil
	if err := <-sv.done; err != nil {
		t.Fatal(err)
	}
	if got := sv.got(); len(got) != 3 {
		t.Errorf("lines after stop: %q", got)
	}
}

func TestServerHandlerError(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), func([]byte) error { return io.ErrClosedPipe }) }()
	sendUDP(t, udp.LocalAddr(), "<13>x")
	select {
	case err := <-done:
		if err != io.ErrClosedPipe {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return the handler's error")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without listeners: no error")
	}
}

// BenchmarkServerTCP measures messages through a loopback TCP connection,
// framing, decoding and the queue to a handler that does nothing.
func BenchmarkServerTCP(b *testing.B) {
	for _, framing := range []string{"lf", "octet"} {
		b.Run(framing, func(b *testing.B) {
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(Options{TCP: tcp, Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx, func([]byte) error { return nil }) }()
			c, err := net.Dial("tcp", tcp.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			msg := "<38>Nov 23 11:31:39 vm sshd[4242]: Failed password for root from 203.0.113.7 port 4242 ssh2"
			frame := msg + "\n"
			if framing == "octet" {
				frame = fmt.Sprintf("%d %s", len(msg), msg)
			}
			// Writes of 64 frames at a time, as a relaying daemon batches them.
			batch := []byte(strings.Repeat(frame, 64))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				n := min(64, b.N-sent)
				if _, err := c.Write(batch[:n*len(frame)]); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			for s.Stats().Delivered < uint64(b.N) {
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			c.Close()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestServerLineDoesNotAllocate: once its buffers exist, a message is
// decoded into a recycled buffer without allocating.
func TestServerLineDoesNotAllocate(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	s, err := New(Options{UDP: udp, Location: time.UTC, Time: clock.Func(func() time.Time { return recvTime })})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("<38>Nov 23 11:31:39 vm sshd[4242]: Failed password for root from 203.0.113.7 port 4242 ssh2")
	s.put(s.line(msg))
	if n := testing.AllocsPerRun(1000, func() {
		b := s.line(msg)
		if b == nil {
			t.Fatal("refused")
		}
		s.put(b)
	}); n != 0 {
		t.Errorf("line allocates %v times per message", n)
	}
}

// TestServerEndlessLine: a TCP sender that never sends a newline is
// discarded as it comes and counted once, while another connection's
// messages get through; its next message after the newline is taken. An
// octet count written across separate segments is put together.
func TestServerEndlessLine(t *testing.T) {
	sv := startServer(t, Options{MaxMessage: 1024})
	flood, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'A'
	}
	fmt.Fprint(flood, "<13>")
	for range 64 { // 4 MiB without a newline
		if _, err := flood.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	other, err := net.Dial("tcp", sv.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	msg := "<13>Nov 23 11:31:39 vm sshd: segmented"
	for _, part := range []string{fmt.Sprint(len(msg))[:1], fmt.Sprint(len(msg))[1:] + " ", msg[:10], msg[10:]} {
		if _, err := other.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "the other connection's line", func() bool { return len(sv.got()) == 1 })
	fmt.Fprint(flood, "\n<13>after the flood\n")
	waitFor(t, "the line after the flood", func() bool { return len(sv.got()) == 2 })
	got := sv.got()
	// The message had no time: it is dated by the clock, with its year.
	if got[0] != "Nov 23 11:31:39 vm sshd: segmented" || !strings.HasSuffix(got[1], " after the flood") ||
		!strings.Contains(got[1], fmt.Sprintf(" %d ", time.Now().Year())) {
		t.Errorf("lines %q", got)
	}
	if st := sv.s.Stats(); st.Oversize != 1 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}
