package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal (/dev/ptmx): %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// replay shows a progress bar on a terminal, and never writes one into a
// pipe or a file.
func TestReplayProgressOnlyOnATerminal(t *testing.T) {
	logPath := filepath.Join("..", "..", "examples", "auth.log")
	master, slave := openPTY(t)
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(master) // ends with an error when the test closes the ends
		got <- string(b)
	}()
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: slave, progressMin: 1}
	root := e.rootCmd()
	root.SetArgs([]string{"replay", logPath})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	master.Close()
	term := <-got
	if !strings.Contains(term, logPath) || !strings.Contains(term, "%") {
		t.Errorf("no progress bar on the terminal: %q", term)
	}

	var errBuf bytes.Buffer
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&errBuf, f} {
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: w, progressMin: 1}
		if e.progress() != nil {
			t.Errorf("a progress bar for a %T", w)
		}
	}
}
