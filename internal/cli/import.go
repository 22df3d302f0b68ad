package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/migrate"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/rules"
)

// Defaults of herd import.
const (
	defaultFail2banDir = "/etc/fail2ban"
	defaultCrowdsecDir = "/etc/crowdsec"
	// maxImportedBan caps the remaining duration of an imported decision.
	maxImportedBan = 365 * 24 * time.Hour
)

func (e *env) importCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Carry over the configuration and bans of fail2ban or CrowdSec",
	}
	c.AddCommand(e.importFail2banCmd(), e.importCrowdsecCmd())
	return c
}

func (e *env) importFail2banCmd() *cobra.Command {
	var rulesOut string
	c := &cobra.Command{
		Use:   "fail2ban [DIR] [--rules-out FILE]",
		Short: "Print herd configuration for fail2ban's enabled jails (default DIR " + defaultFail2banDir + ")",
		Long: "Reads jail.conf, jail.d/*.conf, jail.local and jail.d/*.local of DIR as fail2ban does, and prints\n" +
			"a herd.yaml fragment (ignoreip as the allowlist) and a rules file of profiles (each jail's\n" +
			"bantime for the herd scenarios that catch the same attacks), saying in comments what has no\n" +
			"equivalent. With --rules-out the rules file is written to FILE instead of printed.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := defaultFail2banDir
			if len(args) == 1 {
				dir = args[0]
			}
			ini, files, err := migrate.ReadFail2banDir(dir)
			if err != nil {
				return fmt.Errorf("%s: %w", cmdName(c), err)
			}
			jails, allow, ignored, err := migrate.Jails(ini)
			if err != nil {
				return fmt.Errorf("%s: %w", cmdName(c), err)
			}
			set, err := rules.Defaults()
			if err != nil {
				return fmt.Errorf("%s: %w", cmdName(c), err)
			}
			known := map[string]bool{}
			for _, s := range set.Scenarios {
				known[s.Name] = true
			}
			ms := migrate.MapJails(jails, func(s string) bool { return known[s] })
			var frag, rf strings.Builder
			migrate.RenderFail2banAllow(&frag, files, allow, ignored)
			migrate.RenderFail2banRules(&rf, files, ms)
			fmt.Fprint(e.stdout, frag.String())
			if rulesOut != "" {
				if err := os.WriteFile(rulesOut, []byte(rf.String()), 0o644); err != nil {
					return fmt.Errorf("%s: %w", cmdName(c), err)
				}
				fmt.Fprintf(e.stdout, "# the rules file is in %s\n", rulesOut)
			} else {
				fmt.Fprintf(e.stdout, "---\n%s", rf.String())
			}
			if len(jails) == 0 {
				fmt.Fprintln(e.stderr, "warning: no enabled jail in", dir)
			}
			return nil
		},
	}
	c.Flags().StringVar(&rulesOut, "rules-out", "", "write the rules file (profiles) to FILE, e.g. /etc/herd/rules.d/50-fail2ban.yaml")
	return c
}

func (e *env) importCrowdsecCmd() *cobra.Command {
	var cfgPath, dir, decisions string
	var community bool
	c := &cobra.Command{
		Use:   "crowdsec [--dir DIR] [--decisions FILE|-] [--community]",
		Short: "Print CrowdSec's allowlists as herd's, and import its live bans (cscli decisions list -o json)",
		Long: "Reads the whitelist parsers of DIR/parsers/s02-enrich/ (default DIR " + defaultCrowdsecDir + ") and prints\n" +
			"their addresses and ranges as a herd.yaml allow: fragment (expressions have no equivalent and\n" +
			"are named). With --decisions, reads the output of cscli decisions list -o json from FILE (- for\n" +
			"standard input) and stores its bans of addresses and ranges in herd's store, origin cli, reason\n" +
			"crowdsec:SCENARIO, for the time they had left; the community's (origins CAPI, lists) only with\n" +
			"--community. A running agent applies them at its next poll of the store.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name := cmdName(c)
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if dir != "" || decisions == "" {
				d := dir
				if d == "" {
					d = defaultCrowdsecDir
				}
				al, err := migrate.ReadCrowdsecWhitelists(d)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				renderCrowdsecAllow(e, d, al)
			}
			if decisions == "" {
				return nil
			}
			in := e.stdin
			src := "standard input"
			if decisions != "-" {
				f, err := os.Open(decisions)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				defer f.Close()
				in, src = f, decisions
			}
			b, err := migrate.ReadAllBounded(in, migrate.MaxDecisionsInput, src)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			imp, err := migrate.ParseCrowdsecDecisions(b, community, maxImportedBan)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", name, src, err)
			}
			added, already, refused, err := query.ImportDecisions(c.Context(), cfg, e.time(), imp.Decisions)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(e.stdout, "imported %d bans from %s (origin cli, reason crowdsec:SCENARIO)\n", added, src)
			if already > 0 {
				fmt.Fprintf(e.stdout, "  %d already banned here, left as they are\n", already)
			}
			for _, p := range refused {
				fmt.Fprintf(e.stdout, "  refused %s: loopback, a host address or the allowlist\n", p)
			}
			reasons := make([]string, 0, len(imp.Skipped))
			for r := range imp.Skipped {
				reasons = append(reasons, r)
			}
			slices.Sort(reasons)
			for _, r := range reasons {
				fmt.Fprintf(e.stdout, "  skipped %d: %s\n", imp.Skipped[r], r)
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.Flags().StringVar(&dir, "dir", "", "CrowdSec's configuration directory (default "+defaultCrowdsecDir+"; read unless only --decisions is given)")
	c.Flags().StringVar(&decisions, "decisions", "", "the output of cscli decisions list -o json: a file, or - for standard input")
	c.Flags().BoolVar(&community, "community", false, "import the community blocklist's decisions too (origins CAPI and lists)")
	return c
}

func renderCrowdsecAllow(e *env, dir string, al migrate.CrowdsecAllowlist) {
	files := make([]string, 0, len(al.Files))
	for _, f := range al.Files {
		if r, err := filepath.Rel(dir, f); err == nil {
			f = r
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		fmt.Fprintf(e.stdout, "# no whitelist parser in %s/parsers/s02-enrich/\n", dir)
		return
	}
	fmt.Fprintf(e.stdout, "# herd.yaml fragment generated by herd import crowdsec from %s (%s):\n", dir, strings.Join(files, ", "))
	if len(al.Prefixes) > 0 {
		fmt.Fprintln(e.stdout, "allow:")
		for _, p := range al.Prefixes {
			fmt.Fprintf(e.stdout, "  - %s\n", p)
		}
	}
	for _, u := range al.Unsupported {
		fmt.Fprintf(e.stdout, "# %s\n", u)
	}
}
