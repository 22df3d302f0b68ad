package cli

import (
	"errors"
	"fmt"
	"github.com/herd-ips/herd/internal/enforce/backend"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/termtext"
)

// loadConfig reads --config, or config.DefaultPath when it exists, or falls
// back to the built-in defaults.
func loadConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	if _, err := os.Stat(config.DefaultPath); err == nil {
		return config.Load(config.DefaultPath)
	}
	return config.Default(), nil
}

func (e *env) agentCmd() *cobra.Command {
	var cfgPath string
	var dryRun, debug, stdin bool
	var program string
	c := &cobra.Command{
		Use:   "agent [--config FILE] [--dry-run] [--stdin [--program NAME]]",
		Short: "Follow the logs, detect attacks and ban their sources in nftables",
		Long: `agent is herd's live job. It restores every live ban into nftables, then follows the
configured log files from where it stopped, and bans the sources of the attacks it recognises
within milliseconds. The configuration is --config, else ` + config.DefaultPath + ` if it exists,
else the built-in defaults. Without root or nftables, or with --dry-run, decisions are printed
instead of enforced. Logs go to standard error; SIGINT or SIGTERM stop it. SIGHUP, or herd reload,
reads the rules and the configuration again without a restart (docs/rules.md, "Reloading").

With --stdin, the lines of standard input are the only source (the configured files, journal,
syslog listener and local API are off): at the end of the input the agent commits what it found,
enforces its decisions and exits. --program names the program of lines that carry no syslog
header, such as an access log: tail -F access.log | herd agent --stdin --program nginx`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if program != "" && !stdin {
				return usageError{errors.New("--program goes with --stdin")}
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(termtext.Lines(e.stderr), &slog.HandlerOptions{Level: level}))
			if cfg.File != "" {
				log.Info("agent: configuration", "file", cfg.File)
			} else {
				log.Info("agent: no configuration file, built-in defaults")
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1) // SIGHUP reloads the rules, the configuration and the TLS certificates
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			o := app.AgentOptions{Config: cfg, Logger: log, DryRun: dryRun, Stdout: e.stdout, Reload: hup, Version: Version, Time: e.time()}
			if stdin {
				o.Stdin, o.StdinProgram = e.stdin, program
			}
			return app.RunAgent(ctx, o)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print decisions instead of enforcing them")
	c.Flags().BoolVar(&debug, "debug", false, "log every firewall update")
	c.Flags().BoolVar(&stdin, "stdin", false, "read log lines from standard input only, and exit at its end")
	c.Flags().StringVar(&program, "program", "", "with --stdin: the program of lines without a syslog header (sshd, nginx, ...)")
	return c
}

func (e *env) firewallCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{Use: "firewall", Short: "Manage herd's firewall rules (nftables, or iptables+ipset)"}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.AddCommand(&cobra.Command{
		Use:   "remove",
		Short: "Delete herd's nftables table, iptables chains and ipsets, lifting every ban until the agent starts again",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			removed, err := backend.Remove(cfg.Firewall.Table)
			if removed != "" {
				fmt.Fprintf(e.stdout, "removed (or absent): %s\n", removed)
			}
			return err
		},
	})
	return c
}

func (e *env) decisionsCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "decisions",
		Short: "List, add and delete decisions in herd's database",
		Long: `decisions works on the database of the configuration. A running agent picks up added and
deleted decisions within a second (it polls the database's decision stream).`,
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the live decisions: id, scope, type, until, origin, reason",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			return query.ListDecisions(c.Context(), cfg, e.time(), e.stdout)
		},
	})
	var ip, rng, reason string
	var dur time.Duration
	scope := func() (p netip.Prefix, err error) {
		switch {
		case ip != "" && rng != "":
			return p, usageError{errors.New("give --ip or --range, not both")}
		case ip != "":
			if p, err = ipx.ParsePrefix(ip); err != nil || !p.IsSingleIP() {
				return p, usageError{fmt.Errorf("--ip %q: not an address", ip)}
			}
			return p, nil
		case rng != "":
			if p, err = ipx.ParsePrefix(rng); err != nil {
				return p, usageError{fmt.Errorf("--range: %w", err)}
			}
			return p, nil
		}
		return p, usageError{errors.New("give --ip ADDRESS or --range PREFIX")}
	}
	add := &cobra.Command{
		Use:   "add (--ip ADDR | --range PREFIX) [--duration 4h] [--reason TEXT]",
		Short: "Ban an address or range",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := scope()
			if err != nil {
				return err
			}
			if dur <= 0 {
				return usageError{errors.New("--duration must be positive")}
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if err := query.AddDecision(c.Context(), cfg, e.time(), p, dur, reason); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "ban %s for %s added\n", p, dur)
			return nil
		},
	}
	add.Flags().StringVar(&ip, "ip", "", "address to ban")
	add.Flags().StringVar(&rng, "range", "", "prefix to ban (192.0.2.0/24)")
	add.Flags().DurationVar(&dur, "duration", 4*time.Hour, "how long")
	add.Flags().StringVar(&reason, "reason", "manual", "why (stored as the decision's scenario)")
	del := &cobra.Command{
		Use:   "delete (--ip ADDR | --range PREFIX)",
		Short: "Lift the live decisions on an address or range",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := scope()
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			n, err := query.DeleteDecisions(c.Context(), cfg, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d decision(s) on %s deleted\n", n, p)
			return nil
		},
	}
	del.Flags().StringVar(&ip, "ip", "", "address")
	del.Flags().StringVar(&rng, "range", "", "prefix")
	c.AddCommand(add, del)
	return c
}
