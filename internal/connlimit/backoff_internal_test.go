package connlimit

import (
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// errListener fails n times, then returns one connection.
type errListener struct {
	n int
	c net.Conn
}

func (e *errListener) Accept() (net.Conn, error) {
	if e.n > 0 {
		e.n--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return e.c, nil
}
func (e *errListener) Close() error   { return nil }
func (e *errListener) Addr() net.Addr { return &net.TCPAddr{} }

// Errors in a row wait 5 ms, doubling up to 1 s, on the listener's clock;
// a success ends the series.
func TestBackoffDoubles(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c2.Close()
	fl := &errListener{n: 10, c: c1}
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	l := New(fl, Options{Time: clk})
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	c := accept(t, l, clk, want)
	defer c.Close()
	if st := l.Stats(); st.AcceptErrors != 10 || st.Accepted != 1 {
		t.Fatalf("stats %+v, want 10 errors and 1 accepted", st)
	}
	// The next error starts again at 5 ms.
	fl.n, fl.c = 1, c2
	c3 := accept(t, l, clk, []time.Duration{5 * ms})
	defer c3.Close()
}

// accept runs l.Accept, ending each backoff wait by moving clk, and checks
// that the waits are want.
func accept(t *testing.T, l *Listener, clk *clock.Fake, want []time.Duration) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	res := make(chan result, 1)
	go func() { c, err := l.Accept(); res <- result{c, err} }()
	var waits []time.Duration
	for {
		select {
		case r := <-res:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !slices.Equal(waits, want) {
				t.Fatalf("waits %v, want %v", waits, want)
			}
			return r.c
		default:
		}
		if w := clk.Waits(); len(w) == 1 {
			waits = append(waits, w[0])
			clk.Advance(w[0])
			continue
		}
		time.Sleep(100 * time.Microsecond)
	}
}
