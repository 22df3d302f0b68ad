package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHubSimulate replays a small log through herd hub simulate --json:
// one object per row with what blocked it, one per change of what agents
// block, and the summary on standard error.
func TestHubSimulate(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString("time,reporter,source,class\n")
	line := func(d time.Duration, rep, src string) {
		fmt.Fprintf(&b, "%s,%s,%s,ssh-bruteforce\n", t0.Add(d).Format(time.RFC3339), rep, src)
	}
	line(0, "r0", "81.2.70.1")
	for i := 1; i <= 5; i++ {
		line(time.Duration(i)*time.Minute, fmt.Sprintf("r%d", i), "81.2.69.160")
	}
	line(14*time.Minute, "r6", "81.2.69.160")
	log := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	innocents := filepath.Join(dir, "innocents")
	os.WriteFile(innocents, []byte("# none reported\n192.0.2.1\n"), 0o644)
	code, out, errOut := run(t, "", "hub", "simulate", "--json", "--innocents", innocents, log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rows, changes []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		if _, ok := m["blocked"]; ok {
			rows = append(rows, m)
		} else {
			changes = append(changes, m)
		}
	}
	if len(rows) != 7 || rows[0]["blocked"] != nil || rows[6]["blocked"] != "community" || rows[6]["reporter"] != "r6" || rows[6]["source"] != "81.2.69.160" {
		t.Fatalf("rows %v", rows)
	}
	if len(changes) != 1 || changes[0]["prefix"] != "81.2.69.160/32" || changes[0]["list"] != "community" || changes[0]["action"] != "add" || changes[0]["time"] != "2026-03-01T00:11:00Z" {
		t.Fatalf("changes %v", changes)
	}
	for _, want := range []string{"rows 7,", "first hits (source, reporter): 7, pre-blocked 14.3%", "innocent addresses covered: 0"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	if code, _, errOut := run(t, "", "hub", "simulate", filepath.Join(dir, "missing.csv")); code == 0 {
		t.Fatalf("missing file: exit 0 %s", errOut)
	}
	os.WriteFile(log, []byte("2026-03-01T00:00:00Z,r1,not-an-ip,ssh-bruteforce\n"), 0o644)
	if code, _, errOut := run(t, "", "hub", "simulate", log); code == 0 || !strings.Contains(errOut, "line 1") {
		t.Fatalf("bad line: exit %d %s", code, errOut)
	}
}
