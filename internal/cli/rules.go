package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) rulesCmd() *cobra.Command {
	c := &cobra.Command{Use: "rules", Short: "List or check rule files"}
	var dir string
	list := &cobra.Command{
		Use:   "list [--rules DIR]",
		Short: "List the parsers, scenarios and profiles in force (embedded defaults plus DIR)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			set, err := rules.Load(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tSERVICE\tWHERE")
			for _, p := range set.Parsers {
				fmt.Fprintf(tw, "parser\t%s\t%s\t%s:%d\n", p.Name, p.Service, p.Pos.File, p.Pos.Line)
			}
			for _, s := range set.Scenarios {
				fmt.Fprintf(tw, "scenario\t%s\t%s\t%s:%d\n", s.Name, s.Description, s.Pos.File, s.Pos.Line)
			}
			for _, p := range set.Profiles {
				fmt.Fprintf(tw, "profile\t%s\t\t%s:%d\n", p.Name, p.Pos.File, p.Pos.Line)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&dir, "rules", "", "directory of user rule files")
	check := &cobra.Command{
		Use:   "check FILE...",
		Short: "Check rule files and report every error with file:line",
		Args:  argsAtLeast(1),
		RunE: func(c *cobra.Command, args []string) error {
			n := 0
			for _, f := range args {
				for _, err := range app.CheckRules(f) {
					fmt.Fprintln(termtext.Lines(e.stderr), err)
					n++
				}
			}
			if n > 0 {
				return silentError{fmt.Errorf("%d error(s)", n)}
			}
			fmt.Fprintf(e.stdout, "%d file(s) OK\n", len(args))
			return nil
		},
	}
	c.AddCommand(list, check)
	return c
}
