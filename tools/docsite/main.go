// Command docsite turns herd's documentation (README.md and docs/*.md) into
// a static HTML site and checks its links: every link to a page of the
// site, to a heading of one (#anchor) or to a file of the repository must
// resolve, or docsite lists the broken ones and exits 1.
//
//	go run ./tools/docsite -repo . -out /tmp/herd-docs
//
// README.md becomes index.html and docs/NAME.md becomes NAME.html; links
// between them are rewritten to the .html pages, and links to other files
// of the repository point to them on the project's source host. Raw HTML
// in the Markdown is not rendered.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// sourceURL is where links to repository files that are not pages point.
const sourceURL = "https://github.com/herd-ips/herd/blob/main/"

func main() {
	repo := flag.String("repo", ".", "the repository's root")
	out := flag.String("out", "", "directory to write the site into (created)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "docsite: -out DIR is required")
		os.Exit(2)
	}
	n, broken, err := build(*repo, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docsite:", err)
		os.Exit(1)
	}
	for _, b := range broken {
		fmt.Fprintln(os.Stderr, b)
	}
	if len(broken) > 0 {
		fmt.Fprintf(os.Stderr, "docsite: %d broken link(s)\n", len(broken))
		os.Exit(1)
	}
	fmt.Printf("docsite: %d page(s) written to %s, every internal link resolves\n", n, *out)
}

// page is one Markdown file of the site.
type page struct {
	src   string // path in the repository, slash-separated: docs/lapi.md
	out   string // file name in the site: lapi.html
	title string
	doc   ast.Node
	body  []byte // the Markdown source
	ids   map[string]bool
}

// build renders the site of repo into out and returns the number of pages
// and the broken links, each as "FILE: link TARGET: why".
func build(repo, out string) (int, []string, error) {
	srcs := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	if err != nil {
		return 0, nil, err
	}
	sort.Strings(docs)
	for _, d := range docs {
		srcs = append(srcs, "docs/"+filepath.Base(d))
	}
	md := goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
	pages := map[string]*page{}
	var order []*page
	for _, s := range srcs {
		body, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(s)))
		if errors.Is(err, os.ErrNotExist) && s == "README.md" {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		p := &page{src: s, body: body, ids: map[string]bool{}}
		p.out = strings.TrimSuffix(path.Base(s), ".md") + ".html"
		if s == "README.md" {
			p.out = "index.html"
		}
		p.doc = md.Parser().Parse(text.NewReader(body))
		ast.Walk(p.doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if h, ok := n.(*ast.Heading); ok && entering {
				if id, ok := h.AttributeString("id"); ok {
					p.ids[string(id.([]byte))] = true
				}
				if p.title == "" && h.Level == 1 {
					p.title = string(plainText(h, body))
				}
			}
			return ast.WalkContinue, nil
		})
		if p.title == "" {
			p.title = s
		}
		pages[s] = p
		order = append(order, p)
	}
	var broken []string
	for _, p := range order {
		broken = append(broken, rewriteLinks(p, pages, repo)...)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, nil, err
	}
	for _, p := range order {
		var body bytes.Buffer
		if err := md.Renderer().Render(&body, p.body, p.doc); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", p.src, err)
		}
		f, err := os.Create(filepath.Join(out, p.out))
		if err != nil {
			return 0, nil, err
		}
		err = writePage(f, p, order, body.Bytes())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return len(order), broken, nil
}

// rewriteLinks points p's links to pages at their .html files and links to
// other repository files at the source host, and returns the links that
// resolve to nothing.
func rewriteLinks(p *page, pages map[string]*page, repo string) []string {
	var broken []string
	ast.Walk(p.doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		var dest *[]byte
		switch l := n.(type) {
		case *ast.Link:
			dest = &l.Destination
		case *ast.Image:
			dest = &l.Destination
		default:
			return ast.WalkContinue, nil
		}
		target := string(*dest)
		u, err := url.Parse(target)
		if err != nil {
			broken = append(broken, fmt.Sprintf("%s: link %q: %v", p.src, target, err))
			return ast.WalkContinue, nil
		}
		if u.Scheme != "" || u.Host != "" {
			return ast.WalkContinue, nil // external: not checked (no network)
		}
		if u.Path == "" { // #anchor within the page
			if u.Fragment != "" && !p.ids[u.Fragment] {
				broken = append(broken, fmt.Sprintf("%s: link %q: no heading with id %q", p.src, target, u.Fragment))
			}
			return ast.WalkContinue, nil
		}
		rel := path.Clean(path.Join(path.Dir(p.src), u.Path))
		if strings.HasPrefix(rel, "../") || rel == ".." {
			broken = append(broken, fmt.Sprintf("%s: link %q: outside the repository", p.src, target))
			return ast.WalkContinue, nil
		}
		if q, ok := pages[rel]; ok {
			if u.Fragment != "" && !q.ids[u.Fragment] {
				broken = append(broken, fmt.Sprintf("%s: link %q: %s has no heading with id %q", p.src, target, rel, u.Fragment))
			}
			*dest = []byte(q.out + fragment(u))
			return ast.WalkContinue, nil
		}
		if _, err := os.Stat(filepath.Join(repo, filepath.FromSlash(rel))); err != nil {
			broken = append(broken, fmt.Sprintf("%s: link %q: %s does not exist", p.src, target, rel))
			return ast.WalkContinue, nil
		}
		*dest = []byte(sourceURL + rel + fragment(u))
		return ast.WalkContinue, nil
	})
	return broken
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.Fragment
}

// plainText is the text of a node's inline children.
func plainText(n ast.Node, src []byte) []byte {
	var b []byte
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if t, ok := c.(*ast.Text); ok {
			b = append(b, t.Segment.Value(src)...)
			continue
		}
		b = append(b, plainText(c, src)...)
	}
	return b
}

var tmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — herd</title>
<style>
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #222; display: flex; }
nav { width: 14rem; padding: 1rem; background: #f4f4f4; min-height: 100vh; box-sizing: border-box; flex-shrink: 0; }
nav a { display: block; padding: .15rem 0; color: #225; text-decoration: none; }
nav a.here { font-weight: bold; }
main { padding: 1rem 2rem; max-width: 54rem; min-width: 0; }
pre { background: #f6f8fa; padding: .75rem; overflow-x: auto; }
code { font: 14px/1.4 ui-monospace, monospace; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; vertical-align: top; }
</style>
</head>
<body>
<nav>{{range .Pages}}<a href="{{.Out}}"{{if .Here}} class="here"{{end}}>{{.Title}}</a>
{{end}}</nav>
<main>
{{.Body}}
</main>
</body>
</html>
`))

type navItem struct {
	Out, Title string
	Here       bool
}

func writePage(w io.Writer, p *page, order []*page, body []byte) error {
	var nav []navItem
	for _, q := range order {
		nav = append(nav, navItem{Out: q.out, Title: q.title, Here: q == p})
	}
	return tmpl.Execute(w, struct {
		Title string
		Pages []navItem
		Body  template.HTML
	}{p.title, nav, template.HTML(body)}) // goldmark escapes text and drops raw HTML
}
