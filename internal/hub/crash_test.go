package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/wire"
)

const crashEnv = "HERD_HUB_CRASH_CHILD"

// TestAcknowledgedSignalsSurviveACrash: a hub in a child process acknowledges
// batches, then dies by SIGKILL (no Close, no checkpoint). Reopened, the
// database holds every signal of every acknowledged batch.
func TestAcknowledgedSignalsSurviveACrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "hub.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedSignalsSurviveACrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	acked := strings.Count(string(out), "ACK\n")
	if acked != crashBatches {
		t.Fatalf("child acknowledged %d batches, want %d\n%s", acked, crashBatches, out)
	}
	if wal, err := os.Stat(path + "-wal"); err != nil || wal.Size() == 0 {
		t.Fatalf("no write-ahead log left by the crash (%v); the test would prove nothing", err)
	}
	st, err := hubstore.Open(context.Background(), hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	st.Signals(context.Background(), 0, 1<<62, 0, func(hubstore.StoredSignal) { n++ })
	if n != crashBatches*crashPerBatch {
		t.Fatalf("%d signals after the crash, want %d", n, crashBatches*crashPerBatch)
	}
}

const (
	crashBatches  = 20
	crashPerBatch = 100
)

func crashChild(t *testing.T, path string) {
	st, err := hubstore.Open(context.Background(), hubstore.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	s := newServer(t, st, clk, nil)
	h := s.Handler()
	a := newAgent(t, "11.2.3.4", clk)
	a.enroll(t, h)
	for i := range crashBatches {
		var sigs []wire.Signal
		for k := range crashPerBatch {
			sigs = append(sigs, sig(fmt.Sprintf("81.2.%d.%d", i, k), wire.SSHBruteforce, clk.Now()))
		}
		if w := a.send(h, sigs...); w.Code != http.StatusOK {
			t.Fatalf("batch %d: %d", i, w.Code)
		}
		fmt.Fprint(os.Stdout, "ACK\n")
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
