package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// herd status warns, right under the configuration's name, of a configured
// log it cannot read, in text and in JSON.
func TestStatusWarnsOfMissingSources(t *testing.T) {
	cfg := testConfig(t)
	missing := filepath.Join(filepath.Dir(cfg), "missing.log")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "sources: []\n", "sources:\n  - files: ["+missing+"]\njournald:\n  enabled: false\n", 1))
	if err := os.WriteFile(cfg, text, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "status", "--config", cfg)
	lines := strings.Split(out, "\n")
	if code != ExitOK || len(lines) < 3 || !strings.HasPrefix(lines[1], "warning    follows nothing now") || lines[2] != "warning    "+missing+": missing (the agent waits for it to appear)" {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	_, out, _ = run(t, "", "status", "--json", "--config", cfg)
	var s struct {
		Problems []struct{ Source, Problem string } `json:"source_problems"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Problems) != 2 || s.Problems[1].Source != missing {
		t.Errorf("status --json: %v %+v\n%s", err, s, out)
	}
}
