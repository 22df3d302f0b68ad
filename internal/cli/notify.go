package cli

import (
	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) notifyCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "notify",
		Short: "Check the notification channels (docs/notifications.md)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	test := &cobra.Command{
		Use:   "test",
		Short: "Send a sample notification through every configured channel and say which delivered it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return app.TestNotifications(c.Context(), cfg, e.time(), termtext.Lines(e.stdout))
		},
	}
	c.AddCommand(test)
	return c
}
