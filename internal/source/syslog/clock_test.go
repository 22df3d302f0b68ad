package syslog

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// TestTCPDeadlinesFollowTheSystemClock: the clock a Server is given (a
// replay's, a test's) stamps messages, but TCP read deadlines, which the
// kernel compares with the system clock, do not follow it. With a clock
// years behind, reads still wait; with one years ahead, an idle connection
// is still closed after IdleTimeout.
func TestTCPDeadlinesFollowTheSystemClock(t *testing.T) {
	t.Run("behind", func(t *testing.T) {
		past := clock.NewFake(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
		sv := startServer(t, Options{Time: past, IdleTimeout: 10 * time.Second})
		c, err := net.Dial("tcp", sv.tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "<38>Nov 23 11:31:39 vm sshd: one\n")
		time.Sleep(20 * time.Millisecond) // the server's next read waits
		fmt.Fprintf(c, "<38>Nov 23 11:31:39 vm sshd: two\n")
		waitFor(t, "both lines over one connection", func() bool { return len(sv.got()) == 2 })
	})
	t.Run("ahead", func(t *testing.T) {
		future := clock.NewFake(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		sv := startServer(t, Options{Time: future, IdleTimeout: 100 * time.Millisecond})
		c, err := net.Dial("tcp", sv.tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("idle connection: read %v, want EOF (closed by the server after IdleTimeout)", err)
		}
	})
}
