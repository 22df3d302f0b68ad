package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/ruletest"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) rulesCmd() *cobra.Command {
	c := &cobra.Command{Use: "rules", Short: "List or check rule files"}
	var dir string
	list := &cobra.Command{
		Use:   "list [--rules DIR]",
		Short: "List the parsers, scenarios and profiles in force (embedded defaults plus DIR)",
		Long: `list prints one line per rule in force: its kind, name, service and where it is defined
(file:line; defaults/ are the embedded defaults). herd rules show NAME prints all of a rule.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			set, err := rules.Load(dir)
			if err != nil {
				return err
			}
			writeRulesList(e.stdout, set)
			return nil
		},
	}
	list.Flags().StringVar(&dir, "rules", "", "directory of user rule files")
	var injection bool
	var lines []string
	check := &cobra.Command{
		Use:   "check FILE... [--injection --lines LINES...]",
		Short: "Check rule files and report every error with file:line",
		Long: `Check rule files and report every error with file:line.

With --injection, also run the injection check on the files' parsers: every
line of the --lines files (annotated "#> PARSER source=ADDR" as in
docs/rules.md) that a parser reads with an address is rewritten with a decoy
address, in every form and in the templates' own text, inside each part of the
line that the client writes; a parser that then blames any other address is
reported with the line that fooled it.`,
		Args: argsAtLeast(1),
		RunE: func(c *cobra.Command, args []string) error {
			n := 0
			for _, f := range args {
				for _, err := range app.CheckRules(f) {
					fmt.Fprintln(termtext.Lines(e.stderr), err)
					n++
				}
			}
			if n > 0 {
				return fmt.Errorf("rules check: %d error(s) in %d file(s)", n, len(args))
			}
			if injection {
				return e.checkInjection(args, lines)
			}
			fmt.Fprintf(e.stdout, "%d file(s) OK\n", len(args))
			return nil
		},
	}
	check.Flags().BoolVar(&injection, "injection", false, "run the injection check on the files' parsers (needs --lines)")
	check.Flags().StringArrayVar(&lines, "lines", nil, "annotated log lines for the injection check (repeatable)")
	c.AddCommand(list, check, e.rulesShowCmd())
	return c
}

// checkInjection runs the injection check on the parsers of files, within the
// defaults they extend, against the annotated lines.
func (e *env) checkInjection(files, lines []string) error {
	if len(lines) == 0 {
		return usageError{fmt.Errorf("--injection needs annotated lines: --lines FILE")}
	}
	own, err := rules.LoadFiles(files...)
	if err != nil {
		return err
	}
	set, err := rules.LoadWith(files...)
	if err != nil {
		return err
	}
	cases, err := ruletest.ReadCaseFiles(lines...)
	if err != nil {
		return err
	}
	only := map[string]bool{}
	for _, p := range own.Parsers {
		only[p.Name] = true
	}
	if len(only) == 0 {
		return fmt.Errorf("rules check --injection: %v: no parsers", files)
	}
	ck, err := ruletest.New(set.Parsers, ruletest.Options{Only: only})
	if err != nil {
		return err
	}
	rep := ck.Run(cases)
	fmt.Fprint(e.stdout, rep.Table())
	for _, f := range rep.Findings {
		fmt.Fprintln(e.stderr, f)
	}
	for _, name := range rep.Uncovered {
		fmt.Fprintf(e.stderr, "parser %s: no line in %v that it reads with an address; add one (#> %s source=ADDR)\n", name, lines, name)
	}
	for _, name := range rep.Untested {
		fmt.Fprintf(e.stderr, "parser %s: its lines in %v hold no client text the check could rewrite; add lines where the client writes its fields\n", name, lines)
	}
	if t := rep.Totals(); t.Fooled > 0 || len(rep.Uncovered) > 0 || len(rep.Untested) > 0 {
		return silentError{fmt.Errorf("injection check: %d mutated line(s) blamed another address, %d parser(s) without lines, %d untested", t.Fooled, len(rep.Uncovered), len(rep.Untested))}
	}
	fmt.Fprintf(e.stdout, "injection check OK: %d line(s), %d mutation(s), none blamed another address\n", rep.Totals().Lines, rep.Totals().Mutations)
	return nil
}
