package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
)

func (e *env) bouncersCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "bouncers",
		Short: "Manage the API keys of bouncers (CrowdSec-compatible clients of the local API)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a bouncer and print its API key (shown once; only its hash is stored)",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			key, err := query.AddBouncer(c.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, key)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registered bouncers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.ListBouncers(c.Context(), cfg, e.stdout)
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a bouncer; its key stops working and its open push streams end within a second",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.DeleteBouncer(c.Context(), cfg, args[0])
		},
	}
	c.AddCommand(add, list, del)
	return c
}

// argsExactly is cobra.ExactArgs returning a usage error.
func argsExactly(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: needs exactly %d argument(s) (see %s --help)", cmdName(c), n, c.CommandPath())}
		}
		return nil
	}
}
