package cli

// The documentation's examples run here, so that they cannot drift from
// the code (CoreDNS does the same with its plugins' READMEs):
//
//   - every `herd ...` command in a ```sh or ```console block of README.md,
//     docs/*.md and the packages' README.md files names commands and flags
//     that exist;
//   - every ```yaml block is accepted: a rule file (parsers, scenarios,
//     profiles) by the rules decoder, anything else by the herd.yaml loader
//     (another tool's configuration names the tool: ```yaml traefik);
//   - every ```console block's `$ herd ...` commands are run in the
//     repository's root and must print exactly the lines shown under them.

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/rules"
)

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	file string // relative to the repository root
	line int    // line of the opening fence
	info string // the fence's info string: sh, yaml, console...
	body []string
}

const repoRoot = "../.."

func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		files = append(files, strings.TrimPrefix(d, repoRoot+"/"))
	}
	err = filepath.WalkDir(filepath.Join(repoRoot, "internal"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "README.md" {
			files = append(files, strings.TrimPrefix(p, repoRoot+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	var blocks []docBlock
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		var cur *docBlock
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			l := sc.Text()
			fence := strings.TrimLeft(l, " ")
			if strings.HasPrefix(fence, "```") {
				if cur == nil {
					cur = &docBlock{file: f, line: n, info: strings.TrimSpace(strings.TrimPrefix(fence, "```"))}
				} else {
					blocks = append(blocks, *cur)
					cur = nil
				}
				continue
			}
			if cur != nil {
				cur.body = append(cur.body, l)
			}
		}
		if cur != nil {
			t.Errorf("%s:%d: code block never closed", f, cur.line)
		}
	}
	return blocks
}

// shellWords splits a command line as a shell would for the simple
// commands the docs show: words separated by spaces, quotes grouping.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case unicode.IsSpace(r):
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// herdInvocations returns the argument lists of every herd command on a
// shell line (after a `$ ` prompt, before a comment, in each part of a
// pipeline or list).
func herdInvocations(line string) [][]string {
	line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	if strings.HasPrefix(line, "#") {
		return nil
	}
	var out [][]string
	for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == '|' || r == ';' || r == '&' }) {
		w := shellWords(part)
		for len(w) > 0 && strings.Contains(w[0], "=") && !strings.HasPrefix(w[0], "-") {
			w = w[1:] // VAR=value prefixes
		}
		for len(w) > 0 && (w[0] == "sudo" || w[0] == "exec") {
			w = w[1:]
		}
		if len(w) == 0 || (w[0] != "herd" && !strings.HasSuffix(w[0], "/herd")) {
			continue
		}
		out = append(out, w[1:])
	}
	return out
}

// checkCommand walks args through the command tree: every word before the
// first positional argument must name a subcommand, and every flag must be
// defined on the command reached.
func checkCommand(root *cobra.Command, args []string) string {
	cmd := root
	var flags []string
	positional := false
	for i := 0; i < len(args); i++ {
		// Optional parts are shown in brackets ([--json]), placeholders
		// in angle brackets or as an ellipsis.
		a := strings.Trim(args[i], "[]")
		if a == "" || a == "..." || strings.HasPrefix(a, "<") {
			positional = positional || strings.HasPrefix(a, "<") || a == "..."
			continue
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			continue
		}
		if positional {
			continue
		}
		var next *cobra.Command
		for _, c := range cmd.Commands() {
			if c.Name() == a || slices.Contains(c.Aliases, a) {
				next = c
			}
		}
		if next != nil {
			cmd = next
			continue
		}
		if cmd.HasSubCommands() && !cmd.Runnable() {
			return "unknown command " + strconv.Quote(a) + " for " + cmd.CommandPath()
		}
		positional = true
	}
	if cmd == root && len(args) > 0 && !slices.Contains(args, "--version") && !slices.Contains(args, "--help") {
		return "no subcommand"
	}
	for _, f := range flags {
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		name = strings.TrimRight(name, ",.")
		var found bool
		if strings.HasPrefix(f, "--") {
			found = cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
		} else {
			found = len(name) == 1 && (cmd.Flags().ShorthandLookup(name) != nil || cmd.InheritedFlags().ShorthandLookup(name) != nil)
		}
		if name == "help" || name == "h" || name == "version" {
			found = true
		}
		if !found {
			return cmd.CommandPath() + " has no flag " + f
		}
	}
	return ""
}

func TestDocsCommandsExist(t *testing.T) {
	root := (&env{}).rootCmd()
	checked := 0
	for _, b := range docBlocks(t) {
		if b.info != "sh" && b.info != "console" {
			continue
		}
		for i, l := range b.body {
			if b.info == "console" && !strings.HasPrefix(l, "$ ") {
				continue // output lines
			}
			// A line continued with a backslash: join the next ones.
			for strings.HasSuffix(l, "\\") && i+1 < len(b.body) {
				i++
				l = strings.TrimSuffix(l, "\\") + " " + b.body[i]
			}
			for _, args := range herdInvocations(l) {
				checked++
				if msg := checkCommand(root, args); msg != "" {
					t.Errorf("%s:%d: herd %s: %s", b.file, b.line+1+i, strings.Join(args, " "), msg)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d herd commands in the docs; the block parser is broken", checked)
	}
	t.Logf("%d herd commands in the docs name existing commands and flags", checked)
}

func TestDocsYAMLAccepted(t *testing.T) {
	var nrules, nconfig int
	for _, b := range docBlocks(t) {
		// Another tool's configuration says whose: ```yaml traefik.
		if b.info != "yaml" && b.info != "yaml herd" {
			continue
		}
		text := strings.Join(b.body, "\n") + "\n"
		name := b.file + ":" + strconv.Itoa(b.line+1)
		if isRuleFile(b.body) {
			nrules++
			if _, errs := rules.ParseFile(name, []byte(text)); len(errs) > 0 {
				t.Errorf("%s: rule example refused: %v", name, errs)
			}
			continue
		}
		nconfig++
		if _, err := config.Parse(name, []byte(text)); err != nil {
			t.Errorf("%s: herd.yaml example refused: %v", name, err)
		}
	}
	if nrules == 0 || nconfig == 0 {
		t.Errorf("found %d rule and %d herd.yaml examples; the block parser is broken", nrules, nconfig)
	}
	t.Logf("%d rule-file and %d herd.yaml examples accepted", nrules, nconfig)
}

// isRuleFile says whether a YAML example is a rule file: its top-level
// keys are parsers, scenarios or profiles.
func isRuleFile(body []string) bool {
	for _, l := range body {
		if l == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "#") {
			continue
		}
		k, _, _ := strings.Cut(l, ":")
		return k == "parsers" || k == "scenarios" || k == "profiles"
	}
	return false
}

// TestDocsConsoleOutput runs the `$ herd ...` lines of ```console blocks
// in the repository's root and compares their standard output with the
// lines shown under them. A pipeline may end in `| head -N`.
func TestDocsConsoleOutput(t *testing.T) {
	blocks := docBlocks(t)
	t.Chdir(repoRoot)
	ran := 0
	for _, b := range blocks {
		if b.info != "console" {
			continue
		}
		for i := 0; i < len(b.body); i++ {
			l := b.body[i]
			if !strings.HasPrefix(l, "$ ") {
				continue
			}
			j := i + 1
			for j < len(b.body) && !strings.HasPrefix(b.body[j], "$ ") {
				j++
			}
			want := strings.Join(b.body[i+1:j], "\n")
			where := b.file + ":" + strconv.Itoa(b.line+1+i)
			cmdline, headN := l[2:], -1
			if k := strings.Index(cmdline, "|"); k >= 0 {
				tail := strings.Fields(cmdline[k+1:])
				if len(tail) != 2 || tail[0] != "head" || !strings.HasPrefix(tail[1], "-") {
					t.Errorf("%s: only `| head -N` may follow a console command: %q", where, l)
					continue
				}
				n, err := strconv.Atoi(tail[1][1:])
				if err != nil {
					t.Errorf("%s: %q: %v", where, l, err)
					continue
				}
				cmdline, headN = cmdline[:k], n
			}
			inv := herdInvocations(cmdline)
			if len(inv) != 1 {
				t.Errorf("%s: not a herd command: %q", where, l)
				continue
			}
			var o, e bytes.Buffer
			if code := Main(inv[0], strings.NewReader(""), &o, &e); code != ExitOK {
				t.Errorf("%s: %s: exit %d: %s", where, cmdline, code, e.String())
				continue
			}
			got := strings.Split(strings.TrimRight(o.String(), "\n"), "\n")
			if headN >= 0 && len(got) > headN {
				got = got[:headN]
			}
			if g := strings.Join(got, "\n"); g != want {
				t.Errorf("%s: %s prints\n%s\nbut the doc shows\n%s", where, strings.TrimSpace(cmdline), g, want)
			}
			ran++
			i = j - 1
		}
	}
	if ran == 0 {
		t.Error("no console example ran; README.md must show at least one")
	}
	t.Logf("%d console examples print what the docs show", ran)
}
