package rules_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/ruletest"
)

// goldenCases reads testdata/lines/*.log with the engine's reader.
func goldenCases(t testing.TB) []ruletest.Case {
	t.Helper()
	paths, err := filepath.Glob("testdata/lines/*.log")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden line files: %v", err)
	}
	cases, err := ruletest.ReadCaseFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestInjectionDefaultRules is the metamorphic injection test over the
// whole default rule set: every golden line that a default parser reads
// with an address is rewritten with a decoy address in every form and
// context (internal/ruletest) inside each extent the client writes, and
// the real parser must refuse each mutated line or blame the original
// address, never another. Every parser that takes an address from its own
// lines must have such a golden line.
func TestInjectionDefaultRules(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ruletest.New(set.Parsers, ruletest.Options{MaxFindings: 3})
	if err != nil {
		t.Fatal(err)
	}
	rep := c.Run(goldenCases(t))
	t.Logf("injection check over the default rules:\n%s", rep.Table())
	for _, name := range rep.Uncovered {
		t.Errorf("parser %s takes an address from its lines but no golden line reads one with it", name)
	}
	for _, name := range rep.Untested {
		t.Errorf("parser %s: its golden lines leave every client-written capture empty: add lines where the client writes its fields", name)
	}
	for _, f := range rep.Findings {
		t.Error(f)
	}
	if tot := rep.Totals(); tot.Mutations < 10000 {
		t.Errorf("only %d mutations: the check is not reaching the rules", tot.Mutations)
	}
}

// FuzzInjection inserts text holding a decoy address ("X" stands for it;
// without one it is appended) at a fuzzed position of a fuzzed client-written
// extent of a golden line; the parser must refuse the line or blame the
// original address. Seeds: every golden line with two of the decoy contexts.
//
//	go test -fuzz FuzzInjection -fuzztime 10s ./internal/rules
func FuzzInjection(f *testing.F) {
	set, err := rules.Defaults()
	if err != nil {
		f.Fatal(err)
	}
	c, err := ruletest.New(set.Parsers, ruletest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	var targets []*ruletest.Target
	for _, cs := range goldenCases(f) {
		if tg, ok := c.Prepare(cs); ok && len(tg.Holes) > 0 {
			targets = append(targets, tg)
		}
	}
	if len(targets) == 0 {
		f.Fatal("no golden line with holes")
	}
	contexts := ruletest.Contexts()
	for i := range targets {
		for _, j := range []int{i, i + 1} {
			cx := contexts[j%len(contexts)]
			f.Add(uint16(i), uint8(j), uint16(i*7+j), cx)
		}
	}
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, which uint16, hole uint8, pos uint16, text string) {
		tg := targets[int(which)%len(targets)]
		h := int(hole) % len(tg.Holes)
		// A log line holds no line break; a word holds no space.
		text = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == 0 || (tg.Holes[h].Word && (r == ' ' || r == '\t')) {
				return '_'
			}
			return r
		}, text)
		line := tg.Mutate(h, int(pos), text)
		mu.Lock()
		v, got, rule := c.Judge([]byte(line), tg.Source)
		mu.Unlock()
		if v == ruletest.Fooled {
			t.Errorf("%s:%d: parser %s blamed %s instead of %s (hole %s)\n\t%q", tg.Case.File, tg.Case.Line, rule, got, tg.Source, tg.Holes[h].Name, line)
		}
	})
}
