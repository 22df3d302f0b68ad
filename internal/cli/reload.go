package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) reloadCmd() *cobra.Command {
	var cfgPath, socket string
	c := &cobra.Command{
		Use:   "reload [--config FILE] [--socket PATH]",
		Short: "Make the running agent read its rules and configuration again",
		Long: `reload asks the running agent, through its control socket (control_socket in herd.yaml,
default ` + config.DefaultControlSocket + `), to read its rule files and its configuration
file again, as SIGHUP does. Scenarios whose rule is unchanged keep their live buckets; new and
changed ones start empty. A rule set or configuration with an error is refused and the one in
force keeps running: the errors are printed with their file:line and reload exits with status 1.
Configuration keys that a running agent cannot change (listen addresses, sources, the database,
the firewall, the hub) are listed as needing a restart.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if socket == "" {
				cfg, err := loadConfig(cfgPath)
				if err != nil {
					return err
				}
				if socket = cfg.ControlSocket; socket == "" {
					return errors.New("reload: the configuration turns the control socket off (control_socket: \"\"); send the agent SIGHUP")
				}
			}
			res, err := app.Reload(c.Context(), socket)
			if err != nil {
				return err
			}
			w := termtext.Lines(e.stderr)
			if !res.OK {
				for _, l := range res.Errors {
					fmt.Fprintln(w, l)
				}
				return silentError{fmt.Errorf("reload refused: %d error(s); the rules and configuration in force keep running", len(res.Errors))}
			}
			fmt.Fprintf(e.stdout, "reloaded: %d scenario(s) kept with %d live bucket(s), %d started fresh, %d dropped\n",
				len(res.Kept), res.Buckets, len(res.Fresh), len(res.Dropped))
			if len(res.Fresh) > 0 {
				fmt.Fprintf(e.stdout, "fresh: %s\n", strings.Join(res.Fresh, ", "))
			}
			if len(res.Dropped) > 0 {
				fmt.Fprintf(e.stdout, "dropped: %s\n", strings.Join(res.Dropped, ", "))
			}
			if len(res.Applied) > 0 {
				fmt.Fprintf(e.stdout, "applied: %s\n", strings.Join(res.Applied, ", "))
			}
			if len(res.NeedsRestart) > 0 {
				fmt.Fprintf(e.stdout, "needs restart: %s\n", strings.Join(res.NeedsRestart, ", "))
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file naming the control socket (default "+config.DefaultPath+" if it exists)")
	c.Flags().StringVar(&socket, "socket", "", "the agent's control socket (default: control_socket of the configuration)")
	return c
}
