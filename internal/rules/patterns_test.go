package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/rules"
)

// uncoveredCeiling is how many address-reading patterns of the default
// rules still have no golden line of their own (a ratchet: it may only
// fall). The injection test mutates golden lines, so a pattern without one
// is never attacked: the Dovecot templates that ended at the address went
// untested that way until a hostile line was written for them by hand, and
// writing a line for every pattern found two more (Dovecot 2.4's auth()
// prefix, sshd's certificate key id). The four left are nsd-refused's
// templates for NSD's own log file, which herd reads only through a source
// bound to program nsd: a golden line cannot name a program yet.
const uncoveredCeiling = 4

// TestEveryAddressPatternHasGoldenLine counts the patterns (templates and
// regular expressions) that read an address and that no golden line reaches
// first, lists them, and fails when there are more than the ceiling.
func TestEveryAddressPatternHasGoldenLine(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefParser(t, set)
	used := map[string]bool{}
	for _, c := range readGolden(t) {
		if res, ok, _ := ref.parse(c.text); ok && c.parser != "" {
			used[fmt.Sprintf("%s#%d", res.spec.Name, res.pat)] = true
		}
	}
	n, miss := 0, 0
	for _, p := range set.Parsers {
		if p.Format != "" {
			continue
		}
		all := append(append([]string{}, p.Patterns...), p.Regexps...)
		for j, src := range all {
			if !strings.Contains(src, "%{source") && !strings.Contains(src, "(?P<source>") {
				continue
			}
			n++
			if !used[fmt.Sprintf("%s#%d", p.Name, j)] {
				miss++
				t.Logf("%s:%d: parser %s, pattern %d has no golden line: %s", p.Pos.File, p.Pos.Line, p.Name, j, src)
			}
		}
	}
	t.Logf("%d address-reading patterns, %d without a golden line of their own (ceiling %d)", n, miss, uncoveredCeiling)
	if miss > uncoveredCeiling {
		t.Errorf("%d patterns without a golden line, ceiling %d: add a golden line (and a forged one) for each new pattern", miss, uncoveredCeiling)
	}
}
