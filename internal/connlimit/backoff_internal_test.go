package connlimit

import (
	"net"
	"syscall"
	"testing"
	"time"
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

// Errors in a row wait 5 ms, doubling up to 1 s; a success ends the
// series.
func TestBackoffDoubles(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c2.Close()
	fl := &errListener{n: 10, c: c1}
	l := New(fl, Options{})
	var waits []time.Duration
	l.wait = func(d time.Duration) bool { waits = append(waits, d); return true }
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if st := l.Stats(); st.AcceptErrors != 10 || st.Accepted != 1 {
		t.Fatalf("stats %+v, want 10 errors and 1 accepted", st)
	}
	// The next error starts again at 5 ms.
	fl.n, fl.c = 1, c2
	waits = nil
	c3, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if len(waits) != 1 || waits[0] != 5*ms {
		t.Fatalf("waits after a success %v, want [5ms]", waits)
	}
}
