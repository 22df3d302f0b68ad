package app

import (
	"fmt"

	"github.com/herd-ips/herd/internal/source/syslog"
)

// syslogServer opens the syslog listeners the configuration names (or the
// ones AgentOptions passes) and returns the server, or nil when syslog is
// off. Run closes the listeners.
func (a *agent) syslogServer() (srv *syslog.Server, err error) {
	c := a.cfg.Syslog
	udp, tcp, err := syslog.Listen(c.UDP, c.TCP, c.AllowRemote, a.o.SyslogUDP, a.o.SyslogTCP)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if udp == nil && tcp == nil {
		return nil, nil
	}
	defer func() {
		if err != nil {
			if udp != nil {
				udp.Close()
			}
			if tcp != nil {
				tcp.Close()
			}
		}
	}()
	loc, err := a.cfg.Location()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	srv, err = syslog.New(syslog.Options{
		UDP: udp, TCP: tcp,
		MaxMessage: c.MaxMessage, MaxConns: c.MaxConnections, IdleTimeout: c.IdleTimeout,
		Time: a.clk, Location: loc, Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	args := []any{}
	if udp != nil {
		args = append(args, "udp", udp.LocalAddr().String())
	}
	if tcp != nil {
		args = append(args, "tcp", tcp.Addr().String())
	}
	a.log.Info("agent: syslog listening", args...)
	a.syslog = srv
	return srv, nil
}
