package herd_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The package table of docs/architecture.md lies between these lines.
const (
	tableBegin = "<!-- package table: generated from imports_test.go by HERD_UPDATE_DOCS=1 go test -run TestArchitecture . -->"
	tableEnd   = "<!-- end of package table -->"
)

// TestArchitectureTableMatchesImports keeps docs/architecture.md true: its
// package table is generated from the import table that
// TestImportsFollowTheDataFlow enforces, with each package's own one-line
// summary (the first sentence of its package comment). A package added,
// removed, re-documented or allowed a new import changes the table, and the
// test fails until the page is regenerated.
func TestArchitectureTableMatchesImports(t *testing.T) {
	const page = "docs/architecture.md"
	want, err := packageTable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if os.Getenv("HERD_UPDATE_DOCS") == "1" {
		if i < 0 || j < i {
			doc += "\n" + tableBegin + "\n" + tableEnd + "\n"
			i, j = strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
		}
		doc = doc[:i+len(tableBegin)] + "\n" + want + doc[j:]
		if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if i < 0 || j < i {
		t.Fatalf("%s has no package table; run HERD_UPDATE_DOCS=1 go test -run TestArchitecture .", page)
	}
	if got := doc[i+len(tableBegin)+1 : j]; got != want {
		t.Errorf("%s: the package table does not match the imports; run HERD_UPDATE_DOCS=1 go test -run TestArchitecture .\ngot:\n%s\nwant:\n%s", page, got, want)
	}
}

// packageTable returns the markdown table of every package of the import
// table: its summary and the module packages it may import.
func packageTable() (string, error) {
	pkgs := make([]string, 0, len(allowed))
	for p := range allowed {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var b strings.Builder
	b.WriteString("| package | what it does | may import |\n|---|---|---|\n")
	for _, p := range pkgs {
		sum, err := summary(p)
		if err != nil {
			return "", err
		}
		deps := append([]string(nil), allowed[p]...)
		sort.Strings(deps)
		for i := range deps {
			deps[i] = "`" + deps[i] + "`"
		}
		imp := strings.Join(deps, ", ")
		if imp == "" {
			imp = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p, sum, imp)
	}
	return b.String(), nil
}

// summary is the first sentence of dir's package comment.
func summary(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", err
		}
		if af.Doc == nil {
			continue
		}
		text := strings.Join(strings.Fields(af.Doc.Text()), " ")
		if k := strings.Index(text, ". "); k >= 0 {
			text = text[:k+1]
		}
		return strings.ReplaceAll(text, "|", `\|`), nil
	}
	return "", fmt.Errorf("%s: no package comment", dir)
}
