package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// herd man writes one page per command, each naming every visible flag of
// its command, and groff formats every page without a warning.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "", "man", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	root := (&env{}).rootCmd()
	root.InitDefaultCompletionCmd()
	cmds := manCommands(root)
	if len(cmds) < 30 || !strings.HasPrefix(out, fmt.Sprintf("%d man page(s) written", len(cmds))) {
		t.Fatalf("%d commands: %s", len(cmds), out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(files) != len(cmds) {
		t.Errorf("%d pages for %d commands", len(files), len(cmds))
	}
	for _, c := range cmds {
		page, err := os.ReadFile(filepath.Join(dir, manName(c)+".1"))
		if err != nil {
			t.Errorf("%s: %v", c.CommandPath(), err)
			continue
		}
		if !bytes.HasPrefix(page, []byte(".TH "+strings.ToUpper(manName(c))+" 1 ")) {
			t.Errorf("%s: page starts %q", c.CommandPath(), page[:min(len(page), 40)])
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !bytes.Contains(page, []byte(`\-\-`+roffEscape(f.Name))) {
				t.Errorf("%s: the page lacks --%s", manName(c), f.Name)
			}
		})
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed (Debian package groff-base): the pages were written but not formatted")
	}
	cmd := exec.Command(groff, append([]string{"-man", "-Tutf8", "-ww", "-z"}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff: %v\n%s", err, stderr.String())
	}
}

func TestRoffLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":           "plain text\n",
		".starts with a dot":   `\&.starts with a dot` + "\n",
		"'quoted":              `\&'quoted` + "\n",
		`a\b --flag  `:         `a\eb \-\-flag` + "\n",
		"tail -F access.log |": `tail \-F access.log |` + "\n",
	} {
		if got := roffLine(in); got != want {
			t.Errorf("roffLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// The completion scripts come from the same tree: each shell's script is
// produced, bash's parses, and the tree completes its own commands and a
// rule's name for rules show.
func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "# bash completion V2 for herd", "zsh": "#compdef herd", "fish": "# fish completion for herd"} {
		code, out, errOut := run(t, "", "completion", shell)
		if code != ExitOK || !strings.HasPrefix(out, marker) {
			t.Errorf("completion %s: exit %d, starts %q (%s)", shell, code, out[:min(len(out), 40)], errOut)
		}
		if shell == "bash" {
			if bash, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command(bash, "-n")
				cmd.Stdin = strings.NewReader(out)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("bash -n on the bash completion: %v\n%s", err, b)
				}
			}
		}
	}
	_, out, _ := run(t, "", cobra.ShellCompRequestCmd, "dec")
	if !strings.HasPrefix(out, "decisions\t") {
		t.Errorf("completing dec: %q", out)
	}
	_, out, _ = run(t, "", cobra.ShellCompRequestCmd, "rules", "show", "ssh-brute")
	if !strings.HasPrefix(out, "ssh-bruteforce\t") {
		t.Errorf("completing rules show ssh-brute: %q", out)
	}
}
