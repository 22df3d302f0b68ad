// Package herdtest gives tests throwaway network namespaces to run real
// firewalls and real traffic in, removed when the test ends.
//
// Everything here needs root and the ip(8) tool (Debian: iproute2); without
// them the helpers skip the test with a message saying so.
package herdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Skip skips the test unless it runs as root with ip(8) installed.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("herdtest: network namespaces need root; run the tests as root to include this one")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("herdtest: ip(8) not found; install iproute2 to include this test")
	}
}

// NewNetns creates a network namespace with its loopback up and returns its
// name (for ip netns exec) and an open descriptor of it (for setns or
// netlink). Both are released when the test ends.
func NewNetns(t testing.TB) (name string, fd int) {
	t.Helper()
	Skip(t)
	removeStale(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b[:]))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("herdtest: cannot create a network namespace (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("herdtest: remove namespace %s: %v: %s", name, err, out)
		}
	})
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("herdtest: open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	Exec(t, name, "ip", "link", "set", "lo", "up")
	return name, fd
}

// prefix starts the name of every namespace NewNetns creates; the creating
// process's id follows.
const prefix = "herdtest-"

// removeStale deletes the namespaces left by test processes that died before
// their cleanup ran (killed, or out of time), so they do not pile up.
func removeStale(t testing.TB) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("herdtest: remove stale namespace %s: %v: %s", e.Name(), err, out)
		}
	}
}

var vethSeq atomic.Uint32

// Veth connects namespaces nsA and nsB with a veth pair, gives its ends the
// addresses addrA and addrB (IPv6 ones without duplicate address detection,
// so they are usable at once) and brings them up. The pair goes away with
// its namespaces.
func Veth(t testing.TB, nsA, nsB string, addrA, addrB netip.Prefix) {
	t.Helper()
	n := vethSeq.Add(1)
	a, b := fmt.Sprintf("hva%d", n), fmt.Sprintf("hvb%d", n)
	Exec(t, nsA, "ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", nsB)
	for _, end := range []struct {
		ns, dev string
		addr    netip.Prefix
	}{{nsA, a, addrA}, {nsB, b, addrB}} {
		args := []string{"ip", "addr", "add", end.addr.String(), "dev", end.dev}
		if end.addr.Addr().Is6() {
			args = append(args, "nodad")
		}
		Exec(t, end.ns, args...)
		Exec(t, end.ns, "ip", "link", "set", end.dev, "up")
	}
}

// Exec runs cmd inside namespace ns (ip netns exec) and returns its combined
// output; the test fails if the command does.
func Exec(t testing.TB, ns string, cmd ...string) string {
	t.Helper()
	args := append([]string{"netns", "exec", ns}, cmd...)
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("herdtest: in %s: %v: %v: %s", ns, cmd, err, out)
	}
	return string(out)
}

// Do runs fn on an OS thread switched into the namespace fd, and returns its
// error. Sockets fn creates stay in that namespace. The thread is returned
// to the scheduler only if it could be switched back.
func Do(fd int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("herdtest: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("herdtest: setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		} // else the goroutine exits locked and the runtime drops the thread
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a TCP listener on addr inside namespace fd that accepts
// connections, writes "ok\n" and closes them, until the test ends. It
// returns the listener's address.
func Listen(t testing.TB, fd int, addr string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	err := Do(fd, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("herdtest: listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok\n"))
			_ = c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// Dial connects over TCP to addr from inside namespace fd, waits for the
// listener's greeting and closes the connection. It returns nil when the
// exchange completed within timeout.
func Dial(fd int, addr netip.AddrPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var c net.Conn
	err := Do(fd, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var b [3]byte
	if _, err := c.Read(b[:]); err != nil {
		return fmt.Errorf("herdtest: read from %s: %w", addr, err)
	}
	return nil
}
