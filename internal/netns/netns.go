// Package netns runs a function inside another network namespace. Sockets,
// XDP links and child processes belong to the namespace of the thread that
// creates them, so the parts that must act in a namespace given by its file
// descriptor (a test's, or one the configuration names) switch one locked
// OS thread into it.
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the network namespace fd (0: fn
// runs where it is, on the calling goroutine). The thread is handed back to
// the scheduler only if it could be switched back; otherwise it ends with
// its goroutine, so no other goroutine runs in the wrong namespace.
func Do(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
