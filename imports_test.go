// Package herd_test holds repository-wide checks. The import test keeps the
// code's shape true to the data flow in docs/architecture.md: stages talk
// through event values, never to each other, and leaves import no stage.
package herd_test

import (
	"go/ast"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/herd-ips/herd/"

// everyone is the lowest layer, which every package may import beyond its
// own row in allowed: values that cross the boundaries and small helpers
// that know no stage (TestLayers checks they import nothing above them).
var everyone = []string{"internal/event", "internal/ipx", "internal/textmatch", "internal/termtext", "internal/jsonstr", "internal/clock", "internal/yamlstrict"}

// allowed lists, for every package of the module, the module packages it may
// import. A new package must be added here, which is the point: its place in
// the data flow is decided, not drifted into.
var allowed = map[string][]string{
	"cmd/herd":                 {"internal/cli"},
	"internal/cli":             {"internal/app", "internal/detect", "internal/enforce/backend", "internal/hub/node", "internal/query", "internal/config", "internal/rules", "internal/ruletest", "internal/ipx", "internal/hub", "internal/hub/hubstore", "internal/hub/export", "internal/termtext", "internal/hub/predict", "internal/hub/simulate", "internal/sensor", "internal/sensor/capture", "internal/sensor/protoid", "internal/geoip", "internal/migrate"},
	"internal/app":             {"internal/agentmetrics", "internal/storeview", "internal/enforce/backend", "internal/event", "internal/config", "internal/rules", "internal/ipx", "internal/connlimit", "internal/tlsfiles", "internal/source", "internal/source/file", "internal/source/journald", "internal/source/syslog", "internal/source/stdin", "internal/parse", "internal/scenario", "internal/profile", "internal/detect", "internal/decision", "internal/enforce", "internal/store", "internal/lapi", "internal/metrics", "internal/report", "internal/query", "internal/hub/blocklist", "internal/hub/client", "internal/hub/wire", "internal/group", "internal/console", "internal/clock", "internal/enforce/xdp", "internal/geoip", "internal/notify", "internal/sensor", "internal/sensor/afpacket", "internal/sensor/capture", "internal/sensor/packet", "internal/sensor/protoid"},
	"internal/console":         {"internal/clock", "internal/event", "internal/ipx", "internal/metrics", "internal/query", "internal/store"},
	"internal/detect":          {"internal/event", "internal/evidence", "internal/ipx", "internal/parse", "internal/profile", "internal/rules", "internal/scenario", "internal/source"},
	"internal/query":           {"internal/config", "internal/detect", "internal/enforce/nft", "internal/event", "internal/ipx", "internal/lapi", "internal/metrics", "internal/parse", "internal/profile", "internal/rules", "internal/source/lines", "internal/store", "internal/termtext", "internal/tlsfiles"},
	"internal/config":          {},
	"internal/decision":        {"internal/event", "internal/ipx"},
	"internal/event":           {},
	"internal/clock":           {},
	"internal/ipx":             {},
	"internal/netns":           {},
	"internal/textmatch":       {},
	"internal/termtext":        {},
	"internal/jsonstr":         {},
	"internal/yamlstrict":      {},
	"internal/envelope":        {"internal/jsonstr"},
	"internal/source/lines":    {},
	"internal/source/file":     {"internal/source", "internal/source/lines"},
	"internal/source/journald": {"internal/source", "internal/source/lines", "internal/jsonstr"},
	"internal/source/syslog":   {"internal/source"},
	"internal/source/stdin":    {"internal/source", "internal/source/lines"},
	"internal/source":          {},
	"internal/enforce":         {"internal/event", "internal/termtext"},
	"internal/rules":           {"internal/event"},
	"internal/ruletest":        {"internal/event", "internal/rules", "internal/envelope", "internal/textmatch", "internal/parse"},
	"internal/parse":           {"internal/jsonstr", "internal/event", "internal/rules", "internal/envelope", "internal/textmatch", "internal/ipx"},
	"internal/scenario":        {"internal/event", "internal/rules", "internal/ipx"},
	"internal/migrate":         {"internal/event", "internal/ipx", "internal/profile", "internal/rules"},
	"internal/profile":         {"internal/event", "internal/rules", "internal/ipx"},
	"internal/store":           {"internal/event", "internal/sqldb"},
	"internal/enforce/nft":     {"internal/event", "internal/ipx", "internal/enforce"},
	"internal/enforce/ipset":   {"internal/event", "internal/ipx", "internal/enforce", "internal/netns"},
	"internal/enforce/xdp":     {"internal/event", "internal/ipx", "internal/enforce", "internal/netns"},
	"internal/sensor/afpacket": {"internal/sensor/capture", "internal/netns"},
	"internal/enforce/backend": {"internal/config", "internal/enforce", "internal/enforce/nft", "internal/enforce/ipset"},
	"internal/lapi":            {"internal/event", "internal/ipx", "internal/store"},
	"internal/metrics":         {"internal/connlimit"},
	"internal/storeview":       {"internal/decision", "internal/detect", "internal/report", "internal/store"},
	"internal/agentmetrics":    {"internal/decision", "internal/detect", "internal/enforce", "internal/metrics", "internal/source/file", "internal/source/journald", "internal/source/syslog"},
	"internal/connlimit":       {},
	"internal/sqldb":           {},
	"internal/report":          {"internal/event"},
	"internal/herdtest":        {},
	"internal/hub/export":      {"internal/event"},
	"internal/hub/blocklist":   {},
	"internal/tlsfiles":        {},
	"internal/hub":             {"internal/group", "internal/hub/hubstore", "internal/hub/reputation", "internal/hub/wire", "internal/ipx", "internal/hub/predict"},
	"internal/hub/wire":        {},
	"internal/group":           {},
	"internal/hub/node":        {"internal/connlimit", "internal/hub", "internal/hub/blocklist", "internal/hub/export", "internal/hub/hubstore", "internal/metrics"},
	"internal/hub/reputation":  {"internal/hub/wire"},
	"internal/hub/predict":     {"internal/hub/reputation", "internal/hub/wire"},
	"internal/hub/simulate":    {"internal/hub/predict", "internal/hub/reputation", "internal/hub/wire"},
	"internal/hub/hubstore":    {"internal/hub/wire", "internal/sqldb"},
	"internal/hub/client":      {"internal/hub/wire", "internal/tlsfiles"},
	"internal/evidence":        {},
	"internal/sensor":          {"internal/detect", "internal/event", "internal/sensor/capture", "internal/sensor/flow", "internal/sensor/packet", "internal/sensor/protoid"},
	"internal/sensor/capture":  {},
	"internal/sensor/packet":   {"internal/sensor/capture"},
	"internal/sensor/flow":     {"internal/sensor/packet"},
	"internal/sensor/protoid":  {},
	"internal/geoip":           {"internal/event"},
	"internal/notify":          {},
	"tools/loggen":             {},
	"tools/httpload":           {},
	"tools/testsummary":        {},
	"tools/docsite":            {},
}

func TestImportsFollowTheDataFlow(t *testing.T) {
	seen := map[string]bool{}
	walkGo(t, func(path string, _ *token.FileSet, f *ast.File) {
		pkg := filepath.Dir(path)
		if pkg == "." {
			return
		}
		seen[pkg] = true
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("%s: package is not in the import table of imports_test.go; add it with the packages it may import", pkg)
			return
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			if !contains(ok, dep) && !(contains(everyone, dep) && dep != pkg) {
				t.Errorf("%s imports %s, which the data flow does not allow (allowed: %v)", path, dep, ok)
			}
		}
	})
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

// stages are the boxes of the data flow (docs/architecture.md). A stage
// talks to another through event values and interfaces the consumer
// declares, and never imports it: app, detect (which composes parse,
// scenario and profile) and query wire them.
var stages = []string{
	"internal/source/file", "internal/source/journald", "internal/source/syslog", "internal/source/stdin",
	"internal/parse", "internal/scenario", "internal/profile",
	"internal/decision", "internal/store", "internal/enforce/nft", "internal/enforce/ipset", "internal/enforce/xdp",
	"internal/lapi", "internal/report", "internal/metrics",
	"internal/hub", "internal/hub/client", "internal/hub/blocklist", "internal/hub/hubstore", "internal/hub/reputation", "internal/hub/export",
}

// stageImports are the stage-to-stage imports that remain, each with why;
// the list may only shrink.
var stageImports = map[string]string{
	"internal/lapi → internal/store":         "the local API serves the store's decisions and keys; to be cut by an interface lapi declares",
	"internal/hub → internal/hub/hubstore":   "the hub server and its database are one node",
	"internal/hub → internal/hub/reputation": "the hub server runs the reputation engine under its listing lock",
}

// TestLayers checks the two rules the import table alone cannot state: the
// lowest layer imports nothing above it, and no stage imports another stage
// (but for the exceptions named in stageImports).
func TestLayers(t *testing.T) {
	isLowest := map[string]bool{}
	for _, p := range everyone {
		isLowest[p] = true
		if _, ok := allowed[p]; !ok {
			t.Errorf("lowest-layer package %s is not in the import table", p)
		}
	}
	isStage := map[string]bool{}
	for _, p := range stages {
		isStage[p] = true
		if _, ok := allowed[p]; !ok {
			t.Errorf("stage %s is not in the import table", p)
		}
	}
	used := map[string]bool{}
	for pkg, deps := range allowed {
		for _, d := range deps {
			switch {
			case isLowest[pkg] && !isLowest[d]:
				t.Errorf("%s is of the lowest layer but may import %s", pkg, d)
			case isStage[pkg] && isStage[d]:
				k := pkg + " → " + d
				if _, ok := stageImports[k]; !ok {
					t.Errorf("stage %s may import stage %s: stages meet through event values and interfaces the consumer declares", pkg, d)
				}
				used[k] = true
			}
		}
	}
	for k := range stageImports {
		if !used[k] {
			t.Errorf("stageImports names %s, which the import table no longer allows: remove it", k)
		}
	}
}
