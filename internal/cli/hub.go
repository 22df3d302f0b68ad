package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herd-ips/herd/internal/hub/node"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/export"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/termtext"
)

// parseDB turns --db into store options: "sqlite:PATH", a bare path, or a
// PostgreSQL URL / key=value DSN ("postgres://...", "postgresql://...",
// "postgres:DSN").
func parseDB(s string) (hubstore.Options, error) {
	switch {
	case s == "":
		return hubstore.Options{}, errors.New("--db is required (sqlite:PATH or postgres://...)")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return hubstore.Options{Driver: "postgres", DSN: s}, nil
	case strings.HasPrefix(s, "postgres:"):
		return hubstore.Options{Driver: "postgres", DSN: strings.TrimPrefix(s, "postgres:")}, nil
	case strings.HasPrefix(s, "sqlite:"):
		return hubstore.Options{Driver: "sqlite", DSN: strings.TrimPrefix(s, "sqlite:")}, nil
	}
	return hubstore.Options{Driver: "sqlite", DSN: s}, nil
}

func (e *env) hubCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "hub",
		Short: "Run or query a herd hub: the community server agents share signals with (docs/hub.md)",
	}
	c.AddCommand(e.hubServeCmd(), e.hubExplainCmd(), e.hubExportCmd(), e.hubSimulateCmd(), e.hubEgressCmd())
	return c
}

func (e *env) hubServeCmd() *cobra.Command {
	var (
		listen, db, keyPath, cert, tlsKey string
		protect                           []string
		allowDocs                         bool
		metricsListen                     string
		metricsRemote                     bool
		maxConns, maxConnsPerAddr         int
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the hub API (TLS when --tls-cert and --tls-key are given)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o, err := parseDB(db)
			if err != nil {
				return usageError{err}
			}
			if (cert == "") != (tlsKey == "") {
				return usageError{errors.New("--tls-cert and --tls-key go together")}
			}
			var prot []netip.Prefix
			for _, p := range protect {
				pp, err := ipx.ParsePrefix(p)
				if err != nil {
					return usageError{fmt.Errorf("--protect %q: %w", p, err)}
				}
				prot = append(prot, pp)
			}
			if keyPath == "" {
				return usageError{errors.New("--key is required (the blocklist-signing key, created on first start)")}
			}
			if metricsListen != "" {
				ap, err := netip.ParseAddrPort(metricsListen)
				if err != nil {
					return usageError{fmt.Errorf("--metrics-listen %q: %w", metricsListen, err)}
				}
				if !ap.Addr().IsLoopback() && !metricsRemote {
					return usageError{fmt.Errorf("--metrics-listen %s is not loopback; add --metrics-allow-remote to serve it beyond this host", ap)}
				}
			}
			return node.Serve(c.Context(), node.ServeOptions{
				DB: o, KeyFile: keyPath, Listen: listen, TLSCert: cert, TLSKey: tlsKey,
				Protected: prot, AllowDocumentation: allowDocs, MetricsListen: metricsListen,
				MaxConns: maxConns, MaxConnsPerAddr: maxConnsPerAddr,
				Logger: slog.New(slog.NewTextHandler(termtext.Lines(e.stderr), nil)), Stdout: e.stdout,
			})
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	f.StringVar(&db, "db", "", "database: sqlite:PATH or a PostgreSQL URL (postgres://...)")
	f.StringVar(&keyPath, "key", "", "the hub's blocklist-signing key file (ed25519, created 0600 on first start)")
	f.StringVar(&cert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.StringArrayVar(&protect, "protect", nil, "a range of the operator's that is never listed (repeatable)")
	f.BoolVar(&allowDocs, "allow-documentation-ranges", false, "accept sources in the documentation ranges (tests and demos only)")
	f.StringVar(&metricsListen, "metrics-listen", "", "address to serve Prometheus /metrics on, plain HTTP (empty: off; loopback unless --metrics-allow-remote)")
	f.BoolVar(&metricsRemote, "metrics-allow-remote", false, "allow a --metrics-listen address that is not loopback")
	f.IntVar(&maxConns, "max-connections", 0, "connections the hub holds open at once; more are closed at once (0: derived from the file limit)")
	f.IntVar(&maxConnsPerAddr, "max-connections-per-address", 0, "connections one client (IPv4 address, IPv6 /64) holds open at once (0: derived from the file limit)")
	return c
}

func (e *env) hubExplainCmd() *cobra.Command {
	var (
		db      string
		asJSON  bool
		protect []string
	)
	c := &cobra.Command{
		Use:   "explain ADDRESS",
		Short: "Say why the community lists an address or not: reporters, networks, trust, score",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := netip.ParseAddr(args[0])
			if err != nil {
				return usageError{fmt.Errorf("%q is not an IP address", args[0])}
			}
			o, err := parseDB(db)
			if err != nil {
				return usageError{err}
			}
			var prot []netip.Prefix
			for _, p := range protect {
				pp, err := ipx.ParsePrefix(p)
				if err != nil {
					return usageError{fmt.Errorf("--protect %q: %w", p, err)}
				}
				prot = append(prot, pp)
			}
			ctx := c.Context()
			st, err := hubstore.Open(ctx, o)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := hub.New(ctx, hub.Options{Store: st, Protected: prot})
			if err != nil {
				return err
			}
			x, err := s.Explain(ctx, a)
			if err != nil {
				return err
			}
			px, predOn := s.ExplainPrediction(a)
			if asJSON {
				type ev struct {
					Reporter string    `json:"reporter"`
					Network  string    `json:"network"`
					Enrolled time.Time `json:"enrolled"`
					Trust    float64   `json:"trust"`
					Class    string    `json:"class"`
					Last     time.Time `json:"last"`
					Weight   float64   `json:"weight"`
					Counted  bool      `json:"counted"`
				}
				out := struct {
					Address      string  `json:"address"`
					Listed       bool    `json:"listed"`
					Qualifies    bool    `json:"qualifies"`
					Protected    bool    `json:"protected"`
					Noise        bool    `json:"noise"`
					Reason       string  `json:"reason"`
					Reporters    int     `json:"reporters"`
					Networks     int     `json:"networks"`
					Support      float64 `json:"support"`
					Mass         float64 `json:"mass"`
					Score        float64 `json:"score"`
					Quorum       float64 `json:"quorum"`
					MinReporters int     `json:"min_reporters"`
					MinNetworks  int     `json:"min_networks"`
					Evidence     []ev    `json:"evidence"`
					Prediction   any     `json:"prediction"`
				}{a.String(), x.Listed, x.Qualifies, x.Protected, x.Noise, x.Reason, x.Reporters, x.Networks, x.Support, x.Mass, x.Score,
					x.Rules.Quorum, x.Rules.MinReporters, x.Rules.MinNetworks, []ev{}, predictionJSON(px, predOn)}
				for _, v := range x.Evidence {
					out.Evidence = append(out.Evidence, ev{v.Reporter.String(), v.Network.String(), v.Enrolled, v.Trust, v.Class.String(), v.Last, v.Weight, v.Counted})
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := e.stdout
			fmt.Fprintf(w, "%s: %s\n", a, map[bool]string{true: "LISTED", false: "not listed"}[x.Listed])
			fmt.Fprintf(w, "reason: %s\n", x.Reason)
			fmt.Fprintf(w, "trusted reporters: %d (need %d), networks: %d (need %d)\n", x.Reporters, x.Rules.MinReporters, x.Networks, x.Rules.MinNetworks)
			fmt.Fprintf(w, "support %.3f of community trust mass %.3f: score %.3f (quorum %.2f)\n", x.Support, x.Mass, x.Score, x.Rules.Quorum)
			if x.Protected {
				fmt.Fprintln(w, "protected range: never listed")
			}
			if x.Noise {
				fmt.Fprintln(w, "research scanner range (noise class): never listed")
			}
			writePrediction(w, px, predOn)
			for _, v := range x.Evidence {
				counted := ""
				if !v.Counted {
					counted = " (not counted: trust below the minimum)"
				}
				fmt.Fprintf(w, "  reporter %s net %s enrolled %s trust %.2f class %s last %s weight %.2f%s\n",
					v.Reporter, v.Network, v.Enrolled.Format("2006-01-02"), v.Trust, v.Class, v.Last.Format(time.RFC3339), v.Weight, counted)
			}
			return nil
		},
	}
	c.Flags().StringVar(&db, "db", "", "hub database: sqlite:PATH or a PostgreSQL URL")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringArrayVar(&protect, "protect", nil, "the operator's protected ranges, as given to serve (repeatable)")
	return c
}

func (e *env) hubExportCmd() *cobra.Command {
	var db, format, out string
	var names []string
	for _, f := range export.Formats() {
		names = append(names, f.String())
	}
	c := &cobra.Command{
		Use:   "export --db DB --format FORMAT [-o FILE]",
		Short: "Write the community listing for firewalls and other tools (docs/exports.md)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, err := export.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			o, err := parseDB(db)
			if err != nil {
				return usageError{err}
			}
			ctx := c.Context()
			st, err := hubstore.Open(ctx, o)
			if err != nil {
				return err
			}
			defer st.Close()
			_, listed, err := st.Snapshot(ctx)
			if err != nil {
				return err
			}
			opts := export.Options{Now: e.time().Now}
			if out == "" || out == "-" {
				return export.Write(e.stdout, f, listed, opts)
			}
			return writeFileAtomic(out, func(w io.Writer) error { return export.Write(w, f, listed, opts) })
		},
	}
	c.Flags().StringVar(&db, "db", "", "hub database: sqlite:PATH or a PostgreSQL URL")
	c.Flags().StringVar(&format, "format", "text", "one of "+strings.Join(names, ", "))
	c.Flags().StringVarP(&out, "output", "o", "", "file to write (replaced whole, never seen half-written); default standard output")
	return c
}

// writeFileAtomic writes path through a temporary file in its directory
// renamed over it, so that a consumer reading path sees the old or the new
// content, never a cut one.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
