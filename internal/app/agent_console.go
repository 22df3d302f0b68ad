package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/connlimit"
	"github.com/herd-ips/herd/internal/console"
)

// Caps of the console's listener: a few operators' browsers.
var consoleLimits = connlimit.Limits{Total: 64, PerAddr: 16}

// listenConsole builds the web console (internal/console) and its
// listener, or returns nil when console.enabled is off. An enabled console
// without a password, or whose address cannot be bound, stops the agent:
// it does not run half-configured.
func (a *agent) listenConsole() (net.Listener, error) {
	cc := a.cfg.Console
	if !cc.Enabled && a.o.ConsoleListener == nil {
		return nil, nil
	}
	pw, err := console.LoadPassword(cc.PasswordFile)
	if errors.Is(err, console.ErrNoPassword) {
		return nil, fmt.Errorf("agent: console at %s:%d: no password in %s; set one with herd console passwd", a.cfg.File, cc.Line, cc.PasswordFile)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	tc, err := a.serverTLS("console", cc.TLSCert, cc.TLSKey, cc.TLSLine)
	if err != nil {
		return nil, err
	}
	srv, err := console.New(console.Options{
		Store: a.st, NeverBan: a.nb, Password: pw, Secure: true, Time: a.clk, Logger: a.log,
		Scrape: a.m.Metrics().Gather,
		Firewall: func() console.Firewall {
			s := a.enf.State()
			return console.Firewall{Backend: s.Name, InStep: s.InStep, Applies: s.Applies, Failures: s.Failures, LastErr: s.LastErr, Since: s.Since}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	ln := a.o.ConsoleListener
	if ln == nil {
		ap, err := netip.ParseAddrPort(cc.Listen)
		if err != nil {
			return nil, fmt.Errorf("agent: console: %w", err)
		}
		if !ap.Addr().IsLoopback() && !cc.AllowRemote {
			return nil, fmt.Errorf("agent: console: %s is not loopback and console.allow_remote is off", ap)
		}
		if ln, err = net.Listen("tcp", cc.Listen); err != nil {
			return nil, fmt.Errorf("agent: console: %w", err)
		}
	}
	a.console = srv
	scheme := "http"
	if tc != nil {
		scheme = "https"
	}
	a.log.Info("agent: console listening", "url", scheme+"://"+ln.Addr().String()+"/")
	return tlsListener(a.guard("console", ln, consoleLimits), tc), nil
}

func (a *agent) startConsole(context.Context) (func(), error) {
	ln, err := a.listenConsole()
	if err != nil || ln == nil {
		return nil, err
	}
	a.run(func(ctx context.Context) error { return a.console.Serve(ctx, ln) })
	return func() { ln.Close() }, nil
}

// notifyConsole wakes the console's live streams.
func (a *agent) notifyConsole() {
	if a.console != nil {
		a.console.Notify()
	}
}

// SetConsolePassword stores password's hash in the console's password
// file (herd console passwd).
func SetConsolePassword(cfg *config.Config, password string) error {
	return console.SetPassword(cfg.Console.PasswordFile, password)
}
