package store

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// crashEnv tells the test binary, re-run as a child, to write a database and
// die without closing it.
const crashEnv = "HERD_STORE_CRASH_CHILD"

// TestCrashSafety writes through a store in a child process that then kills
// itself with SIGKILL: no Close, no checkpoint, the writes only in the
// write-ahead log. Reopened, the store has every acknowledged write.
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "herd.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !killed(ee) {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	wal, err := os.Stat(path + "-wal")
	if err != nil || wal.Size() == 0 {
		t.Fatalf("no write-ahead log left by the crash (%v); the test would prove nothing", err)
	}
	t.Logf("crash left a %d-byte write-ahead log", wal.Size())

	s := sqliteBackend.openDSN(t, path, nil)
	live, err := s.LiveDecisions(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != crashDecisions {
		t.Errorf("%d live decisions after the crash, want %d", len(live), crashDecisions)
	}
	for i, d := range live {
		if want := crashScope(i); d.Scope != want {
			t.Fatalf("decision %d scope %v, want %v", i, d.Scope, want)
		}
	}
	if _, deleted, err := s.DecisionsSince(ctx, int64(crashDecisions+1)); err != nil || len(deleted) != 1 {
		t.Errorf("deletion before the crash: %d in the stream, %v; want 1", len(deleted), err)
	}
	if a, err := s.Alert(ctx, 1); err != nil || !slices.Equal(a.Lines, []string{"line one", "line two"}) {
		t.Errorf("alert after the crash: %+v, %v", a, err)
	}
	if o, err := s.Offsets(ctx); err != nil || len(o) != 1 || o[0].Offset != 4096 {
		t.Errorf("offsets after the crash: %+v, %v", o, err)
	}
	if name, err := s.BouncerByKeyHash(ctx, []byte("hash")); err != nil || name != "nft" {
		t.Errorf("bouncer after the crash: %q, %v", name, err)
	}
}

const crashDecisions = 2500

func crashScope(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.1/32", i/256, i%256))
}

func crashChild(t *testing.T, path string) {
	s := sqliteBackend.openDSN(t, path, nil)
	ds := make([]DecisionRecord, crashDecisions+1)
	for i := range ds {
		ds[i] = ban(crashScope(i).String(), time.Hour, "ssh-bf", "herd")
	}
	// Several transactions: batches, then a delete of the last decision.
	for start := 0; start < len(ds); start += 1000 {
		mustAdd(t, s, ds[start:min(start+1000, len(ds))]...)
	}
	deleteOrFail(t, s, DecisionFilter{IDs: []int64{crashDecisions + 1}}, 1)
	if _, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{Scenario: "ssh-bf"}, Lines: []string{"line one", "line two"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveOffsets(ctx, []Offset{{Source: "/var/log/auth.log", Offset: 4096}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBouncer(ctx, "nft", []byte("hash")); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // never reached
}

func killed(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
