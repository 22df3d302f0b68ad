package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
)

// groupCmd is herd group: private groups, end-to-end encrypted through
// the hub (docs/groups.md).
func (e *env) groupCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "group",
		Short: "Share decisions and evidence with the servers you choose, end-to-end encrypted through the hub (docs/groups.md)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	opts := func() (app.GroupOptions, error) {
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return app.GroupOptions{}, err
		}
		return app.GroupOptions{Config: cfg, Time: e.time(), Out: e.stdout, Version: Version}, nil
	}
	var evidence bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a group with this agent as its admin",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupCreate(c.Context(), o, args[0], evidence)
		},
	}
	create.Flags().BoolVar(&evidence, "evidence", false, "members share the log lines behind their decisions")
	var ttl time.Duration
	invite := &cobra.Command{
		Use:   "invite NAME",
		Short: "Print an invitation code (group id, hub, one-time secret): valid once, until it expires",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupInvite(c.Context(), o, args[0], ttl)
		},
	}
	invite.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the invitation stays valid")
	var label string
	var wait time.Duration
	join := &cobra.Command{
		Use:   "join CODE",
		Short: "Join a group with an invitation; the admin's running agent adds this one",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupJoin(c.Context(), o, args[0], label, wait)
		},
	}
	join.Flags().StringVar(&label, "label", "", "how the other members see this agent (default: the host name)")
	join.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the admin's agent")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the groups this agent belongs to",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupList(o)
		},
	}
	members := &cobra.Command{
		Use:   "members NAME",
		Short: "List a group's members",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupMembers(o, args[0])
		},
	}
	leave := &cobra.Command{
		Use:   "leave NAME",
		Short: "Leave a group and forget its keys (its admin's agent removes this member)",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupLeave(c.Context(), o, args[0])
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME MEMBER",
		Short: "Remove a member (its id or label): a new epoch it cannot read",
		Args:  argsExactly(2),
		RunE: func(c *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			return app.GroupRemove(c.Context(), o, args[0], args[1])
		},
	}
	c.AddCommand(create, invite, join, list, members, leave, remove)
	return c
}

// hubEgressCmd is herd hub egress: what this agent sent to its hub.
func (e *env) hubEgressCmd() *cobra.Command {
	var cfgPath string
	var since time.Duration
	c := &cobra.Command{
		Use:   "egress",
		Short: "Print, decoded, what this agent sent to the hub (from its egress journal)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var from time.Time
			if since > 0 {
				from = e.time().Now().Add(-since)
			}
			return app.HubEgress(cfg, from, e.stdout)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.Flags().DurationVar(&since, "since", 0, "only what was sent within this long (default: all the journal holds)")
	return c
}
