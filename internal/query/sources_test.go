package query_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
)

// CheckSources names every configured input the agent cannot read, and
// says first when the configuration leaves nothing to follow.
func TestCheckSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(good, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "nginx"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing, sub, glob := filepath.Join(dir, "missing.log"), filepath.Join(dir, "nginx"), filepath.Join(dir, "*.gz")
	cfg := &config.Config{File: "herd.yaml", Sources: []config.Source{{Files: []string{good, missing, sub, glob}}}}
	got := query.CheckSources(cfg)
	want := []string{
		missing + ": missing",
		sub + ": a directory",
		glob + ": matches no file yet",
	}
	if len(got) != len(want) {
		t.Fatalf("problems %v, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("problem %d = %q, want %q...", i, got[i], w)
		}
	}

	cfg.Sources = []config.Source{{Files: []string{missing, glob}}}
	if got := query.CheckSources(cfg); len(got) != 3 || !strings.HasPrefix(got[0].String(), "follows nothing now") {
		t.Errorf("nothing readable: %v", got)
	}
	cfg.Sources = nil
	if got := query.CheckSources(cfg); len(got) != 1 || !strings.HasPrefix(got[0].String(), "follows nothing: no sources in herd.yaml") {
		t.Errorf("no sources: %v", got)
	}
	cfg.Syslog.UDP = "127.0.0.1:5514"
	if got := query.CheckSources(cfg); len(got) != 0 {
		t.Errorf("a syslog listener alone: %v, want no problem", got)
	}
	cfg.Syslog.UDP = ""
	cfg.Sources = []config.Source{{Files: []string{good}}}
	if got := query.CheckSources(cfg); len(got) != 0 {
		t.Errorf("a readable file: %v, want no problem", got)
	}
}

// A file this process cannot open is named with the reason. Root reads
// every file, so the case needs another user.
func TestCheckSourcesUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, who can read any file: the unreadable case needs another user")
	}
	secret := filepath.Join(t.TempDir(), "secret.log")
	if err := os.WriteFile(secret, []byte("x\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	got := query.CheckSources(&config.Config{Sources: []config.Source{{Files: []string{secret}}}})
	if len(got) != 2 || !strings.Contains(got[1].String(), "permission denied") {
		t.Errorf("unreadable file: %v", got)
	}
}
