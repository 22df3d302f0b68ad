// Package herd_test holds repository-wide checks. The import test keeps the
// code's shape true to the data flow in docs/architecture.md: stages talk
// through event values, never to each other, and leaves import no stage.
package herd_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/herd-ips/herd/"

// allowed lists, for every package of the module, the module packages it may
// import. A new package must be added here, which is the point: its place in
// the data flow is decided, not drifted into.
var allowed = map[string][]string{
	"cmd/herd":                 {"internal/cli"},
	"internal/cli":             {"internal/app", "internal/rules", "internal/ipx", "internal/config", "internal/hub", "internal/hub/hubstore", "internal/hub/export", "internal/termtext", "internal/hub/predict", "internal/hub/simulate"},
	"internal/app":             {"internal/event", "internal/rules", "internal/ipx", "internal/parse", "internal/scenario", "internal/profile", "internal/source/lines", "internal/config", "internal/decision", "internal/source/file", "internal/source/journald", "internal/source/syslog", "internal/enforce/nft", "internal/store", "internal/lapi", "internal/enforce/ipset", "internal/metrics", "internal/report", "internal/hub/blocklist", "internal/tlsfiles", "internal/hub/client", "internal/hub/wire", "internal/hub", "internal/hub/export", "internal/evidence", "internal/termtext"},
	"internal/config":          {},
	"internal/decision":        {"internal/event", "internal/ipx"},
	"internal/event":           {},
	"internal/ipx":             {},
	"internal/textmatch":       {},
	"internal/termtext":        {},
	"internal/envelope":        {},
	"internal/source/lines":    {},
	"internal/source/file":     {"internal/source/lines"},
	"internal/source/journald": {"internal/source/lines"},
	"internal/source/syslog":   {},
	"internal/rules":           {"internal/event"},
	"internal/parse":           {"internal/event", "internal/rules", "internal/envelope", "internal/textmatch", "internal/ipx"},
	"internal/scenario":        {"internal/event", "internal/rules", "internal/ipx"},
	"internal/profile":         {"internal/event", "internal/rules", "internal/ipx"},
	"internal/store":           {"internal/event", "internal/sqldb"},
	"internal/enforce/nft":     {"internal/event", "internal/ipx"},
	"internal/enforce/ipset":   {"internal/event", "internal/ipx"},
	"internal/lapi":            {"internal/event", "internal/ipx", "internal/store"},
	"internal/metrics":         {},
	"internal/sqldb":           {},
	"internal/report":          {"internal/event"},
	"internal/herdtest":        {},
	"internal/hub/export":      {},
	"internal/hub/blocklist":   {},
	"internal/tlsfiles":        {},
	"internal/hub":             {"internal/hub/hubstore", "internal/hub/reputation", "internal/hub/wire", "internal/ipx", "internal/hub/predict"},
	"internal/hub/wire":        {},
	"internal/hub/reputation":  {"internal/hub/wire"},
	"internal/hub/predict":     {"internal/hub/reputation", "internal/hub/wire"},
	"internal/hub/simulate":    {"internal/hub/predict", "internal/hub/reputation", "internal/hub/wire"},
	"internal/hub/hubstore":    {"internal/hub/wire", "internal/sqldb"},
	"internal/hub/client":      {"internal/hub/wire"},
	"internal/evidence":        {},
	"tools/loggen":             {},
	"tools/httpload":           {},
	"tools/testsummary":        {},
}

func TestImportsFollowTheDataFlow(t *testing.T) {
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench-results") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if pkg == "." {
			return nil
		}
		seen[pkg] = true
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("%s: package is not in the import table of imports_test.go; add it with the packages it may import", pkg)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			if !contains(ok, dep) {
				t.Errorf("%s imports %s, which the data flow does not allow (allowed: %v)", path, dep, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for pkg := range allowed {
		if !seen[pkg] {
			stale = append(stale, pkg)
		}
	}
	sort.Strings(stale)
	for _, p := range stale {
		t.Errorf("import table names %s, which has no Go files", p)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
