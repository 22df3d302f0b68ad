package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/store"
)

func TestMachinesAddListDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	db := filepath.Join(dir, "herd.db")
	if err := os.WriteFile(cfg, []byte("database:\n  driver: sqlite\n  dsn: "+db+"\napi:\n  listen: \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "machines", "add", "web1", "--config", cfg)
	pw := strings.TrimSpace(out)
	if code != ExitOK || len(pw) < 32 {
		t.Fatalf("add: exit %d, password %q, %s", code, out, errOut)
	}
	// Only the hash is stored, and it is the printed password's.
	st, err := store.Open(context.Background(), store.Options{DSN: db})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.MachineByName(context.Background(), "web1")
	st.Close()
	if err != nil || string(m.PasswordHash) != string(lapi.HashKey(pw)) {
		t.Errorf("stored machine %+v, %v: not the printed password's hash", m, err)
	}
	if code, _, _ := run(t, "", "machines", "add", "web1", "--config", cfg); code != ExitError {
		t.Errorf("adding the same name twice: exit %d", code)
	}
	if code, out, _ := run(t, "", "machines", "list", "--config", cfg); code != ExitOK || len(tableRows(t, out, "NAME", "ADDED")) != 1 || tableRows(t, out, "NAME", "ADDED")[0][0] != "web1" {
		t.Errorf("list: exit %d, %q", code, out)
	}
	if code, _, errOut := run(t, "", "machines", "delete", "web1", "--config", cfg); code != ExitOK {
		t.Errorf("delete: exit %d %s", code, errOut)
	}
	if code, _, _ := run(t, "", "machines", "delete", "web1", "--config", cfg); code != ExitError {
		t.Errorf("deleting a missing machine: exit %d", code)
	}
	if code, out, _ := run(t, "", "machines", "list", "--config", cfg); code != ExitOK || !strings.HasPrefix(out, "no machines") {
		t.Errorf("list after delete: exit %d, %q", code, out)
	}
}
