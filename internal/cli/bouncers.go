package cli

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) bouncersCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "bouncers",
		Short: "Manage the API keys of bouncers (CrowdSec-compatible clients of the local API)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	var raw bool
	add := &cobra.Command{
		Use:   "add NAME [--raw]",
		Short: "Register a bouncer and print its API key (shown once; only its hash is stored)",
		Long: `add registers a bouncer and prints its API key, where it goes, and the lines to put in
crowdsec-firewall-bouncer's configuration (api_url from api.listen, api_key). The key is
shown once: only its hash is stored. With --raw it prints the key alone, for scripts:
KEY=$(herd bouncers add fw --raw)`,
		Args: argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			key, err := query.AddBouncer(c.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			if raw {
				fmt.Fprintln(e.stdout, key)
				return nil
			}
			writeBouncerHelp(e.stdout, cfg, args[0], key)
			return nil
		},
	}
	add.Flags().BoolVar(&raw, "raw", false, "print the key alone")
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

// bouncerConfig is crowdsec-firewall-bouncer's override file.
const bouncerConfig = "/etc/crowdsec/bouncers/crowdsec-firewall-bouncer.yaml.local"

// writeBouncerHelp tells where a new bouncer's key goes: the key, the
// local API's URL as a bouncer on this host reaches it, and the lines for
// crowdsec-firewall-bouncer's configuration.
func writeBouncerHelp(w io.Writer, cfg *config.Config, name, key string) {
	fmt.Fprintf(w, "API key for bouncer %s (shown once; only its hash is stored):\n\n    %s\n\n", termtext.String(name), key)
	url := apiURL(cfg.API)
	if url == "" {
		fmt.Fprintf(w, "warning: the local API is off (api.listen is empty in %s): bouncers cannot connect\nuntil it listens; the lines below assume %s.\n\n", cfgName(cfg), config.DefaultListen)
		url = "http://" + config.DefaultListen + "/"
	}
	fmt.Fprintf(w, `A bouncer sends the key in the X-Api-Key header to herd's local API at %s
(docs/lapi.md). For crowdsec-firewall-bouncer, put these lines in
%s
and run: systemctl restart crowdsec-firewall-bouncer

api_url: %s
api_key: %s
update_frequency: 1s
`, url, bouncerConfig, url, key)
}

// apiURL is the local API's base URL as a client on this host reaches it
// ("" when the API is off): an unspecified listen address (0.0.0.0, [::])
// is reached on loopback.
func apiURL(a config.API) string {
	if a.Listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return ""
	}
	switch ip, err := netip.ParseAddr(host); {
	case host == "":
		host = "127.0.0.1"
	case err == nil && ip.IsUnspecified() && ip.Is4():
		host = "127.0.0.1"
	case err == nil && ip.IsUnspecified():
		host = "::1"
	}
	scheme := "http"
	if a.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// cfgName names the configuration in messages.
func cfgName(cfg *config.Config) string {
	if cfg.File == "" {
		return "the built-in defaults"
	}
	return termtext.String(cfg.File)
}
