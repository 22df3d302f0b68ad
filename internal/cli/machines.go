package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
)

func (e *env) machinesCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "machines",
		Short: "Manage the machines (herd agents on other hosts) that report alerts to this local API",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a machine and print its password (shown once; only its hash is stored)",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			pw, err := query.AddMachine(c.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, pw)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registered machines",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.ListMachines(c.Context(), cfg, e.stdout)
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a machine; its token stops working at its next report",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.DeleteMachine(c.Context(), cfg, args[0])
		},
	}
	c.AddCommand(add, list, del)
	return c
}
