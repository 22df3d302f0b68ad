package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
)

func (e *env) statusCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--config FILE] [--json]",
		Short: "Summarise herd on this machine: agent, decisions, alerts, sources, bouncers, nftables",
		Long: `status reads the configuration, asks the agent's metrics endpoint whether it runs (uptime,
lines read), opens the store beside it for the live decisions (by origin and scenario), the alerts
of the last 24 hours, the bouncers and the sources' saved offsets (how far behind their file's end),
and reads herd's nftables table without changing it (root needed).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.WriteStatus(e.stdout, query.GetStatus(c.Context(), cfg, query.StatusOptions{Time: e.time()}), asJSON)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object")
	return c
}

func (e *env) alertsCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "alerts",
		Short: "List and inspect the stored alerts",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")

	var o query.AlertsOptions
	var source string
	list := &cobra.Command{
		Use:   "list [--since 24h] [--scenario S] [--source ADDR] [--limit N] [--json]",
		Short: "List alerts, newest first: id, created, scenario, source, events",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if source != "" {
				a, err := netip.ParseAddr(source)
				if err != nil {
					return usageError{fmt.Errorf("alerts list: --source: %w", err)}
				}
				o.Source = a.Unmap()
			}
			if o.Since < 0 || o.Limit < 0 {
				return usageError{fmt.Errorf("alerts list: --since and --limit must not be negative")}
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			o.Time = e.time()
			return query.ListAlerts(c.Context(), cfg, o, e.stdout)
		},
	}
	list.Flags().DurationVar(&o.Since, "since", 24*time.Hour, "alerts created within this long (0 = any time)")
	list.Flags().StringVar(&o.Scenario, "scenario", "", "only this scenario")
	list.Flags().StringVar(&source, "source", "", "only alerts against this address")
	list.Flags().IntVar(&o.Limit, "limit", 100, "at most this many")
	list.Flags().BoolVar(&o.JSON, "json", false, "one JSON object per line")

	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect ID [--json]",
		Short: "Show an alert, the decisions taken on it and the log lines behind it",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("alerts inspect: %q is not an alert id", args[0])}
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.InspectAlert(c.Context(), cfg, id, asJSON, e.stdout)
		},
	}
	inspect.Flags().BoolVar(&asJSON, "json", false, "one JSON object")
	c.AddCommand(list, inspect)
	return c
}
