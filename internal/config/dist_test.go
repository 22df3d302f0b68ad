package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// acceptedKeys returns every key the loader accepts, as "section.key" (a
// root key is "herd.yaml.key"): the string keys of each yamlstrict.Fields{...}
// literal in config.go, under the name its d.Mapping call gives it. It reads
// the loader's own source, so a key added there is found here.
func acceptedKeys(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Mapping" {
			return true
		}
		name, ok := call.Args[1].(*ast.BasicLit)
		lit, ok2 := call.Args[2].(*ast.CompositeLit)
		if !ok || !ok2 {
			return true
		}
		section, _ := strconv.Unquote(name.Value)
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			if k, ok := kv.Key.(*ast.BasicLit); ok {
				key, _ := strconv.Unquote(k.Value)
				keys = append(keys, section+"."+key)
			}
		}
		return true
	})
	if len(keys) < 20 {
		t.Fatalf("found only %d keys in config.go; the loader's shape changed and this test must follow", len(keys))
	}
	return keys
}

// TestDistConfigDocumentsEveryKey: dist/herd.yaml, the file operators
// copy, shows every key the loader accepts (set or commented out), each in
// its section, so no setting exists that only the source tells of.
func TestDistConfigDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "dist", "herd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment: "#   key: value" and "  # key: value" read as "  key:".
	keyLine := regexp.MustCompile(`^(\s*)(?:#\s?)?(\s*)(?:- )?([a-z_]+):`)
	found := map[string]bool{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		indent := len(m[1]) + len(m[2])
		if indent == 0 {
			section = m[3]
			found["herd.yaml."+m[3]] = true
			continue
		}
		found[section+"."+m[3]] = true
	}
	for _, k := range acceptedKeys(t) {
		// The sources' items are decoded under the name "source".
		if s, ok := strings.CutPrefix(k, "source."); ok {
			k = "sources." + s
		}
		if !found[k] {
			t.Errorf("dist/herd.yaml does not show %s, which the loader accepts", k)
		}
	}
}
