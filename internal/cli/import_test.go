package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/store"
)

// herd import fail2ban prints a herd.yaml fragment that loads as herd's
// configuration, and writes a rules file that loads as herd's rules.
func TestImportFail2ban(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules", "50-fail2ban.yaml")
	if err := os.MkdirAll(filepath.Dir(rulesFile), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "import", "fail2ban", "../migrate/testdata/fail2ban", "--rules-out", rulesFile)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	cfgFile := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfgFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatalf("the printed fragment is not herd.yaml: %v\n%s", err, out)
	}
	if len(cfg.Allow) != 5 {
		t.Errorf("allow %v, want the 5 ignoreip addresses and prefixes", cfg.Allow)
	}
	if _, err := rules.Load(filepath.Dir(rulesFile)); err != nil {
		t.Errorf("the rules file does not load: %v", err)
	}
	// Without --rules-out both go to standard output, separated by ---.
	code, out, _ = run(t, "", "import", "fail2ban", "../migrate/testdata/fail2ban")
	if code != ExitOK || !strings.Contains(out, "\n---\n# herd rules file") || !strings.Contains(out, "  - name: fail2ban-dovecot\n") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code, _, errOut := run(t, "", "import", "fail2ban", filepath.Join(dir, "nothing")); code != ExitError ||
		!strings.HasPrefix(errOut, "herd: import fail2ban: fail2ban: ") {
		t.Errorf("a missing directory: exit %d, %q", code, errOut)
	}
}

func TestImportCrowdsec(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "herd.yaml")
	db := filepath.Join(dir, "herd.db")
	if err := os.WriteFile(cfgFile, []byte("database:\n  driver: sqlite\n  dsn: "+db+"\nallow:\n  - 198.18.0.128/25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "import", "crowdsec", "--config", cfgFile, "--dir", "../migrate/testdata/crowdsec")
	if code != ExitOK || !strings.Contains(out, "allow:\n  - 192.0.2.10/32\n") || !strings.Contains(out, "has no equivalent") {
		t.Fatalf("allowlists: exit %d: %s%s", code, out, errOut)
	}
	decisions, err := os.ReadFile("../migrate/testdata/crowdsec/decisions.json")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, string(decisions), "import", "crowdsec", "--config", cfgFile, "--decisions", "-")
	if code != ExitOK {
		t.Fatalf("decisions: exit %d: %s", code, errOut)
	}
	// 198.18.0.0/24 overlaps the allowlist and 127.0.0.1 is loopback:
	// refused. Two bans remain.
	for _, want := range []string{"imported 2 bans from standard input", "refused 198.18.0.0/24", "refused 127.0.0.1/32", "skipped 1: expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	st, err := store.Open(context.Background(), store.Options{DSN: db})
	if err != nil {
		t.Fatal(err)
	}
	live, err := st.LiveDecisions(context.Background(), time.Now())
	st.Close()
	if err != nil || len(live) != 2 {
		t.Fatalf("live %+v, %v", live, err)
	}
	for _, d := range live {
		if d.Origin != "cli" || !strings.HasPrefix(d.Scenario, "crowdsec:") {
			t.Errorf("decision %+v", d)
		}
		if d.Scope.String() == "192.0.2.200/32" && (d.Duration != 5*time.Hour || time.Until(d.Until) > 5*time.Hour || time.Until(d.Until) < 4*time.Hour) {
			t.Errorf("192.0.2.200: duration %v until %v, want its 5h left", d.Duration, d.Until)
		}
	}
	// Run again: nothing added twice.
	code, out, _ = run(t, string(decisions), "import", "crowdsec", "--config", cfgFile, "--decisions", "-")
	if code != ExitOK || !strings.Contains(out, "imported 0 bans") || !strings.Contains(out, "2 already banned here") {
		t.Errorf("second import: exit %d:\n%s", code, out)
	}
	if code, _, errOut := run(t, "[{", "import", "crowdsec", "--config", cfgFile, "--decisions", "-"); code != ExitError ||
		!strings.HasPrefix(errOut, "herd: import crowdsec: standard input: crowdsec decisions: invalid JSON") {
		t.Errorf("bad JSON: exit %d %q", code, errOut)
	}
}
