package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's own documentation builds into a site without a broken
// link.
func TestRepositoryDocsHaveNoBrokenLinks(t *testing.T) {
	out := t.TempDir()
	n, broken, err := build(filepath.Join("..", ".."), out)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error(b)
	}
	docs, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if n != len(docs)+1 {
		t.Errorf("%d pages for %d docs and the README", n, len(docs))
	}
	for _, f := range []string{"index.html", "architecture.html", "packaging.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// Links are rewritten to the site's pages, and every kind of broken link
// is found: a missing page or file, a missing heading, a path that leaves
// the repository. Raw HTML is not rendered.
func TestLinks(t *testing.T) {
	repo := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# herd\n\nSee [the API](docs/api.md#keys), [config](dist/herd.yaml) and [the web](https://example.org/).\n")
	write("dist/herd.yaml", "x: 1\n")
	write("docs/api.md", "# The API\n\n## Keys\n\nBack [home](../README.md), [up](#keys), [gone](#nowhere), [missing](other.md),\n"+
		"[no heading](../README.md#nope), [out](../../etc/passwd), [no file](../dist/none.yaml).\n\n<script>alert(1)</script>\n")
	out := t.TempDir()
	n, broken, err := build(repo, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d pages, want 2", n)
	}
	want := []string{
		`docs/api.md: link "#nowhere": no heading with id "nowhere"`,
		`docs/api.md: link "other.md": docs/other.md does not exist`,
		`docs/api.md: link "../README.md#nope": README.md has no heading with id "nope"`,
		`docs/api.md: link "../../etc/passwd": outside the repository`,
		`docs/api.md: link "../dist/none.yaml": dist/none.yaml does not exist`,
	}
	if strings.Join(broken, "\n") != strings.Join(want, "\n") {
		t.Errorf("broken links:\n%s\nwant:\n%s", strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
	index, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`href="api.html#keys"`, `href="` + sourceURL + `dist/herd.yaml"`, `href="https://example.org/"`, `<title>herd — herd</title>`} {
		if !strings.Contains(string(index), w) {
			t.Errorf("index.html lacks %s", w)
		}
	}
	api, _ := os.ReadFile(filepath.Join(out, "api.html"))
	if strings.Contains(string(api), "<script>") || !strings.Contains(string(api), `href="index.html"`) || !strings.Contains(string(api), `<h2 id="keys">`) {
		t.Errorf("api.html:\n%s", api)
	}
}
