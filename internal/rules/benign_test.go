package rules_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// replayDefaults runs the lines of a log file through every default parser
// and scenario, in order, as herd replay would, and returns how many lines
// a parser read (an event, or a session's opening line) and the alerts
// raised. Lines starting with '#' are comments.
func replayDefaults(t *testing.T, path string) (lines, read int, alerts []event.Alert) {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := parse.Compile(set.Parsers, parse.Options{Location: time.UTC, Reference: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := scenario.Compile(set.Scenarios, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var poured []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		lines++
		var ev event.Event
		ev.Reset()
		res := p.Parse(line, "", &ev)
		if res.Rule >= 0 {
			read++
		}
		if !res.Event {
			continue
		}
		poured, alerts = eng.Pour(&ev, poured[:0], alerts)
	}
	return lines, read, alerts
}

// TestBenignCorpusRaisesNoAlert replays testdata/benign/*.log, honest
// traffic that looks alarming to a naive rule (an office behind one NAT
// whose browsers each get a basic-auth site's first 401, sync clients
// meeting 404 bursts after deletions, single-page applications, crawlers
// following odd broken links, monitors through an outage, feed readers, CI
// jobs, phones with a stale mail password), through every default parser
// and scenario. Every line must be read by a parser (a corpus the parsers
// ignore would prove nothing) and no scenario may alert. A false positive found in the
// field becomes a new file here (generate.py writes them).
func TestBenignCorpusRaisesNoAlert(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "benign", "*.log"))
	if err != nil || len(files) < 10 {
		t.Fatalf("benign corpus: %d files, %v", len(files), err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".log"), func(t *testing.T) {
			lines, read, alerts := replayDefaults(t, f)
			t.Logf("%d lines, %d read, %d alerts", lines, read, len(alerts))
			if lines == 0 || read != lines {
				t.Errorf("%d of %d lines read by a parser: the corpus must be read whole", read, lines)
			}
			for _, a := range alerts {
				t.Errorf("alert %s on %v (%d events from %v to %v)", a.Scenario, a.Source, a.Events, a.First.Format(time.TimeOnly), a.Last.Format(time.TimeOnly))
			}
		})
	}
}
