package netns

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDo(t *testing.T) {
	want := errors.New("from fn")
	ran := 0
	if err := Do(0, func() error { ran++; return want }); err != want || ran != 1 {
		t.Fatalf("Do(0): %v, ran %d", err, ran)
	}
	f, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net: %v", err)
	}
	defer f.Close()
	var ino uint64
	err = Do(int(f.Fd()), func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		ino = st.Ino
		ran++
		return want
	})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("setns not permitted here: %v", err)
	}
	if err != want || ran != 2 {
		t.Fatalf("Do(own namespace): %v, ran %d", err, ran)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	if ino != st.Ino {
		t.Errorf("fn ran in namespace %d, want %d", ino, st.Ino)
	}
	if err := Do(int(^uint32(0)>>1), func() error { ran++; return nil }); err == nil || ran != 2 {
		t.Errorf("Do(bad fd): %v, ran %d; want an error and fn not run", err, ran)
	}
}
