package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tableRows checks that out is a table whose first line holds exactly the
// column names header and returns its rows split into cells (cells hold no
// spaces in the tests that use it).
func tableRows(t *testing.T, out string, header ...string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got := strings.Fields(lines[0]); !slices.Equal(got, header) {
		t.Errorf("table header %q, want %q", got, header)
		return nil
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// testConfig writes a herd.yaml with a database in a temporary directory
// and the local API and metrics off, and returns its path.
func testConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("database:\n  driver: sqlite\n  dsn: "+filepath.Join(dir, "herd.db")+"\napi:\n  listen: \"\"\nmetrics:\n  listen: \"\"\nsources: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Every listing says so when it has nothing to list, and otherwise starts
// with a header naming its columns.
func TestListingsHaveHeadersAndEmptyStates(t *testing.T) {
	cfg := testConfig(t)
	for _, tc := range []struct {
		args  []string
		empty string
	}{
		{[]string{"decisions", "list"}, "no live decisions\n"},
		{[]string{"bouncers", "list"}, "no bouncers (add one with herd bouncers add NAME)\n"},
		{[]string{"machines", "list"}, "no machines (add one with herd machines add NAME)\n"},
		{[]string{"alerts", "list"}, "no alerts in the last 24h0m0s\n"},
		{[]string{"alerts", "list", "--since", "0"}, "no alerts\n"},
	} {
		code, out, errOut := run(t, "", append(tc.args, "--config", cfg)...)
		if code != ExitOK || out != tc.empty {
			t.Errorf("%v on an empty database: exit %d, %q (stderr %q), want %q", tc.args, code, out, errOut, tc.empty)
		}
	}
	for _, args := range [][]string{
		{"decisions", "add", "--ip", "192.0.2.7", "--reason", "test"},
		{"bouncers", "add", "fw"},
		{"machines", "add", "web1"},
	} {
		if code, _, errOut := run(t, "", append(args, "--config", cfg)...); code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	_, out, _ := run(t, "", "decisions", "list", "--config", cfg)
	rows := tableRows(t, out, "ID", "SCOPE", "TYPE", "UNTIL", "ORIGIN", "REASON")
	if len(rows) != 1 || rows[0][1] != "192.0.2.7/32" || rows[0][2] != "ban" || rows[0][4] != "cli" || rows[0][5] != "test" {
		t.Errorf("decisions list after one ban:\n%s", out)
	}
	for _, c := range []struct{ cmd, name string }{{"bouncers", "fw"}, {"machines", "web1"}} {
		_, out, _ := run(t, "", c.cmd, "list", "--config", cfg)
		if rows := tableRows(t, out, "NAME", "ADDED"); len(rows) != 1 || rows[0][0] != c.name {
			t.Errorf("%s list after one add:\n%s", c.cmd, out)
		}
	}
}
