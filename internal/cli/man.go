package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The man pages are generated from the command tree, so they say what
// --help says: one page per command (herd.1, herd-decisions-add.1, ...),
// in man(7) roff written here (cobra/doc would need go-md2man, which is
// not among the modules herd may use).

func (e *env) manCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write herd's man pages, one per command (herd.1, herd-agent.1, ...), into DIR",
		Long: `man writes a man page in section 1 for herd and for each of its commands into DIR,
generated from the same command tree as --help. The packages install them in
/usr/share/man/man1; to read one from a checkout: herd man /tmp/man && man -l /tmp/man/herd-agent.1`,
		Args: argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			n, err := writeManPages(c.Root(), args[0])
			if err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintf(e.stdout, "%d man page(s) written to %s\n", n, args[0])
			return nil
		},
	}
}

// manCommands returns root and every command under it that a user can
// run or ask for help on (not hidden, not cobra's help command).
func manCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		out = append(out, manCommands(c)...)
	}
	return out
}

// manName is a command's page name: herd-decisions-add.
func manName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-")
}

// writeManPages writes one page per command into dir and returns how many.
func writeManPages(root *cobra.Command, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	cmds := manCommands(root)
	for _, c := range cmds {
		if err := os.WriteFile(filepath.Join(dir, manName(c)+".1"), []byte(manPage(c)), 0o644); err != nil {
			return 0, err
		}
	}
	return len(cmds), nil
}

// manPage renders c as a man(7) page. It carries no date, so that the same
// tree always gives the same bytes (reproducible packages).
func manPage(c *cobra.Command) string {
	var b strings.Builder
	name := manName(c)
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"herd %s\" \"herd manual\"\n", strings.ToUpper(name), roffEscape(Version))
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", name, roffEscape(c.Short))
	b.WriteString(".SH SYNOPSIS\n")
	use := c.UseLine()
	if c.HasAvailableSubCommands() && !c.Runnable() {
		use = c.CommandPath() + " COMMAND"
	}
	fmt.Fprintf(&b, ".B %s\n", roffEscape(use))
	b.WriteString(".SH DESCRIPTION\n")
	text := c.Long
	if text == "" {
		text = c.Short
	}
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		for _, line := range strings.Split(para, "\n") {
			b.WriteString(roffLine(line))
		}
	}
	if subs := availableSubcommands(c); len(subs) > 0 {
		b.WriteString(".SH COMMANDS\n")
		for _, s := range subs {
			fmt.Fprintf(&b, ".TP\n.B %s\n%s", roffEscape(s.Name()), roffLine(s.Short))
			fmt.Fprintf(&b, "See\n.BR %s (1).\n", manName(s))
		}
	}
	writeFlags(&b, "OPTIONS", c.NonInheritedFlags())
	writeFlags(&b, "OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags())
	b.WriteString(".SH EXIT STATUS\n")
	fmt.Fprintf(&b, "0 on success, %d when the command failed, %d for bad arguments or flags.\n", ExitError, ExitUsage)
	b.WriteString(".SH SEE ALSO\n")
	var see []string
	if c.HasParent() {
		see = append(see, ".BR "+manName(c.Parent())+" (1)")
	}
	for _, s := range availableSubcommands(c) {
		see = append(see, ".BR "+manName(s)+" (1)")
	}
	if len(see) == 0 {
		see = append(see, ".BR herd (1)")
	}
	b.WriteString(strings.Join(see, ",\n") + "\n.PP\n")
	b.WriteString("The documentation in /usr/share/doc/herd and docs/ of herd's source.\n")
	return b.String()
}

func availableSubcommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
			out = append(out, s)
		}
	}
	return out
}

// writeFlags lists the flags of fs under a section header (nothing when
// fs holds no visible flag).
func writeFlags(b *strings.Builder, section string, fs *pflag.FlagSet) {
	var items []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "\\-\\-" + roffEscape(f.Name)
		if f.Shorthand != "" {
			name = "\\-" + roffEscape(f.Shorthand) + ", " + name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" {
			name += " " + roffEscape(strings.ToUpper(varname))
		}
		text := usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			text += " (default " + f.DefValue + ")"
		}
		items = append(items, ".TP\n.B "+name+"\n"+roffLine(text))
	})
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, ".SH %s\n%s", section, strings.Join(items, ""))
}

// roffEscape escapes text for roff: a backslash is written \e, a hyphen
// \- (so that it is not broken or turned into a dash where it is an
// option's).
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine is one line of running text: escaped, and with a zero-width
// \& before a leading dot or quote, which roff would read as a request.
func roffLine(s string) string {
	s = roffEscape(strings.TrimRight(s, " \t"))
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s + "\n"
}
