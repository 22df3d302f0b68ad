package rules_test

import (
	"path/filepath"
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
	for _, f := range rep.Findings {
		t.Error(f)
	}
	if tot := rep.Totals(); tot.Mutations < 10000 {
		t.Errorf("only %d mutations: the check is not reaching the rules", tot.Mutations)
	}
}
