package node

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herd-ips/herd/internal/connlimit"
	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/hubstore"
)

// ServeOptions configures Serve (herd hub serve).
type ServeOptions struct {
	DB      hubstore.Options
	KeyFile string // the blocklist-signing key, created on first start
	Listen  string // the hub API's address
	// TLSCert and TLSKey serve the API over TLS when both are set.
	TLSCert, TLSKey    string
	Protected          []netip.Prefix // never listed
	AllowDocumentation bool           // accept documentation ranges (tests, demos)
	MetricsListen      string         // /metrics address, "" for none
	// MaxConns and MaxConnsPerAddr cap the API's connections (0: derived
	// from the file limit).
	MaxConns, MaxConnsPerAddr int
	Logger                    *slog.Logger // nil = discard
	Stdout                    io.Writer    // where the listening addresses and public key are said; nil = discard
}

// Serve runs a hub node until ctx ends. Its parts start in order:
// signing key, store, hub, API listener, metrics listener; when one fails,
// what the earlier ones opened is released.
func Serve(ctx context.Context, o ServeOptions) (err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	log := o.Logger
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	key, err := hub.LoadOrCreateKey(o.KeyFile)
	if err != nil {
		return err
	}
	st, err := hubstore.Open(ctx, o.DB)
	if err != nil {
		return err
	}
	stops = append(stops, func() { st.Close() })
	node, err := New(ctx, Options{
		Hub: hub.Options{Store: st, Protected: o.Protected, AllowDocumentation: o.AllowDocumentation, Logger: log},
		Key: key,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	stops = append(stops, func() { ln.Close() })
	// The hub's listeners are guarded as the agent's are: caps per client
	// and in total, and accept errors back off.
	lim := connlimit.FromFileLimit(connlimit.FileLimit(), 1)
	if o.MaxConns > 0 {
		lim.Total = o.MaxConns
	}
	if o.MaxConnsPerAddr > 0 {
		lim.PerAddr = o.MaxConnsPerAddr
	}
	gln := connlimit.New(ln, connlimit.Options{Limits: lim, Name: "hub", Logger: log})
	node.WatchListener("hub", gln)
	ln = gln
	fmt.Fprintf(o.Stdout, "hub listening on %s (%s)\npublic key (hub.public_key): %s\n", ln.Addr(), map[bool]string{true: "TLS", false: "plain HTTP"}[o.TLSCert != ""],
		base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	var mln net.Listener
	if o.MetricsListen != "" {
		if mln, err = net.Listen("tcp", o.MetricsListen); err != nil {
			return fmt.Errorf("hub: metrics: %w", err)
		}
		stops = append(stops, func() { mln.Close() })
		gmln := connlimit.New(mln, connlimit.Options{Limits: connlimit.Limits{Total: 64, PerAddr: 16}, Name: "hub-metrics", Logger: log})
		node.WatchListener("hub-metrics", gmln)
		mln = gmln
		fmt.Fprintf(o.Stdout, "hub metrics on http://%s/metrics\n", mln.Addr())
	}
	srv := &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	g, gctx := errgroup.WithContext(ctx)
	// run ends with gctx: once node.Run returns, every blocklist stream is
	// closed, and only then does Shutdown wait for the requests still
	// active (a stream ends only when closed).
	runDone := make(chan struct{})
	g.Go(func() error { defer close(runDone); return node.Run(gctx) })
	g.Go(func() error {
		var err error
		if o.TLSCert != "" {
			err = srv.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", node.MetricsHandler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		g.Go(func() error {
			if err := msrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("hub: metrics: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			return msrv.Close()
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		<-runDone
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}
