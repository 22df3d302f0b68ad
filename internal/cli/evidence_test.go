package cli

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAlertsInspectShowsTheLinesBehind runs two interleaved attackers
// through herd agent --stdin: each stored alert keeps every line of its own
// source that fed it, in order, and herd alerts inspect shows them all.
func TestAlertsInspectShowsTheLinesBehind(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(cfg, []byte("sources: []\ndatabase:\n  dsn: "+filepath.Join(dir, "herd.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	attackers := []string{"192.0.2.99", "198.51.100.42"}
	fed := map[string][]string{}
	var in strings.Builder
	for i := range 6 {
		for j, a := range attackers {
			l := fmt.Sprintf("Failed password for root from %s port %d ssh2", a, 40000+10*i+j)
			fed[a] = append(fed[a], l)
			in.WriteString(l + "\n")
			fmt.Fprintf(&in, "Accepted publickey for alice from 203.0.113.%d port 50000 ssh2\n", i)
		}
	}
	if code, out, errs := run(t, in.String(), "agent", "--config", cfg, "--dry-run", "--stdin", "--program", "sshd"); code != ExitOK {
		t.Fatalf("agent --stdin: %d %q %q", code, out, errs)
	}
	code, out, errOut := run(t, "", "alerts", "list", "--config", cfg, "--json", "--scenario", "ssh-bruteforce")
	if code != ExitOK {
		t.Fatalf("alerts list: exit %d: %s", code, errOut)
	}
	list := decodeLines[alertOut](t, out)
	if len(list) != len(attackers) {
		t.Fatalf("%d ssh-bruteforce alerts, want %d:\n%s", len(list), len(attackers), out)
	}
	for _, al := range list {
		code, out, errOut := run(t, "", "alerts", "inspect", fmt.Sprint(al.ID), "--config", cfg, "--json")
		if code != ExitOK {
			t.Fatalf("inspect %d: exit %d: %s", al.ID, code, errOut)
		}
		a := decodeLines[alertOut](t, out)[0]
		if a.Events != 6 || !slices.Equal(a.Lines, fed[a.Source]) {
			t.Errorf("alert %d of %s: %d events, lines\n%s\nwant\n%s", a.ID, a.Source, a.Events,
				strings.Join(a.Lines, "\n"), strings.Join(fed[a.Source], "\n"))
		}
		code, out, _ = run(t, "", "alerts", "inspect", fmt.Sprint(al.ID), "--config", cfg)
		if code != ExitOK || !strings.Contains(out, "lines: 6\n  "+fed[a.Source][0]+"\n") || !strings.HasSuffix(out, fed[a.Source][5]+"\n") {
			t.Errorf("inspect %d text: exit %d\n%s", al.ID, code, out)
		}
	}
}

// herd replay --json --lines prints the lines behind each alert after its
// other fields; --json alone and the text form are unchanged.
func TestReplayJSONCarriesTheLines(t *testing.T) {
	attackers := []string{"192.0.2.99", "198.51.100.42"}
	fed := map[string][]string{}
	var in strings.Builder
	for i := range 6 {
		for j, a := range attackers {
			l := fmt.Sprintf("Nov 23 10:00:%02d web sshd[%d]: Failed password for root from %s port %d ssh2", i, 100+j, a, 40000+i)
			fed[a] = append(fed[a], l)
			in.WriteString(l + "\n")
			fmt.Fprintf(&in, "Nov 23 10:00:%02d web sshd[7]: Accepted publickey for alice from 203.0.113.%d port 50000 ssh2\n", i, i)
		}
	}
	code, out, errOut := run(t, in.String(), "replay", "--json", "--lines", "--tz", "UTC", "-")
	if code != ExitOK {
		t.Fatalf("replay: exit %d: %s", code, errOut)
	}
	type replayOut struct {
		Scenario string   `json:"scenario"`
		Source   string   `json:"source"`
		Events   int      `json:"events"`
		Verdict  string   `json:"verdict"`
		Lines    []string `json:"lines"`
	}
	got := decodeLines[replayOut](t, out)
	if len(got) != len(attackers) {
		t.Fatalf("%d alerts, want %d:\n%s", len(got), len(attackers), out)
	}
	for _, a := range got {
		if a.Scenario != "ssh-bruteforce" || a.Events != 6 || a.Verdict != "decided" || !slices.Equal(a.Lines, fed[a.Source]) {
			t.Errorf("alert %+v, want the lines\n%s", a, strings.Join(fed[a.Source], "\n"))
		}
	}
	if !strings.Contains(out, `"verdict":"decided","lines":["Nov 23 10:00:00 web sshd[`) {
		t.Errorf("lines do not follow the verdict:\n%s", out)
	}
	code, out, _ = run(t, in.String(), "replay", "--json", "--tz", "UTC", "-")
	if code != ExitOK || strings.Contains(out, `"lines"`) || strings.Count(out, `"scenario":"ssh-bruteforce"`) != 2 {
		t.Errorf("replay --json without --lines: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, in.String(), "replay", "--tz", "UTC", "-")
	if code != ExitOK || strings.Contains(out, "Failed password") || strings.Count(out, " ssh-bruteforce ") != 2 {
		t.Errorf("replay text: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, in.String(), "replay", "--lines", "-"); code != ExitUsage || !strings.Contains(errOut, "--lines goes with --json") {
		t.Errorf("--lines without --json: exit %d %q", code, errOut)
	}
}

// On the README's examples, every alert carries at least as many lines as
// it counted events (up to 32; a distinct scenario also shows the repeats
// it did not count), each naming an address of the alert's scope.
func TestReplayExamplesCarryTheirLines(t *testing.T) {
	for _, name := range []string{"auth.log", "access.log"} {
		code, out, errOut := run(t, "", "replay", "--json", "--lines", filepath.Join("..", "..", "examples", name))
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		type replayOut struct {
			Scenario string   `json:"scenario"`
			Source   string   `json:"source"`
			Events   int      `json:"events"`
			Lines    []string `json:"lines"`
		}
		as := decodeLines[replayOut](t, out)
		if len(as) == 0 {
			t.Fatalf("%s: no alerts", name)
		}
		for _, a := range as {
			src := netip.MustParseAddr(a.Source)
			if len(a.Lines) < min(a.Events, 32) || len(a.Lines) > 32 {
				t.Errorf("%s: %s %s: %d lines for %d events", name, a.Scenario, a.Source, len(a.Lines), a.Events)
			}
			for _, l := range a.Lines {
				if named := src.Is4() && strings.Contains(l, a.Source) || src.Is6() && strings.Contains(l, a.Source[:strings.LastIndex(a.Source, ":")]); !named {
					t.Errorf("%s: %s %s: a line not of its source: %q", name, a.Scenario, a.Source, l)
				}
			}
		}
	}
}
