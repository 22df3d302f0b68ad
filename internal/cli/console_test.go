package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// herd console passwd reads the password from standard input when it is
// not a terminal and stores only its Argon2id hash, mode 0600; a short
// password is refused.
func TestConsolePasswd(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "state", "console.password")
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("console:\n  password_file: "+pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "short\n", "console", "passwd", "--config", cfg); code != ExitError || !strings.Contains(errOut, "at least") {
		t.Errorf("short password: exit %d, %q", code, errOut)
	}
	code, out, errOut := run(t, "a long console password\n", "console", "passwd", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, pw) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	b, err := os.ReadFile(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(string(b), "console password") {
		t.Errorf("password file holds %q", b)
	}
	if fi, err := os.Stat(pw); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode: %v %v", fi.Mode(), err)
	}
}
