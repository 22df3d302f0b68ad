package app

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/source/syslog"
)

// syslogServer opens the syslog listeners the configuration names (or the
// ones AgentOptions passes) and returns the server, or nil when syslog is
// off. Run closes the listeners.
func (a *agent) syslogServer() (srv *syslog.Server, err error) {
	c := a.cfg.Syslog
	udp, tcp := a.o.SyslogUDP, a.o.SyslogTCP
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
	for _, addr := range []string{c.UDP, c.TCP} {
		if addr == "" {
			continue
		}
		// The configuration refuses these already; a Config built in code
		// is held to the same rule.
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, fmt.Errorf("agent: syslog: %q: %w", addr, err)
		}
		if !ap.Addr().IsLoopback() && !c.AllowRemote {
			return nil, fmt.Errorf("agent: syslog: %s is not loopback and allow_remote is off: anyone reaching it could have any address banned", addr)
		}
	}
	if udp == nil && c.UDP != "" {
		if udp, err = net.ListenPacket("udp", c.UDP); err != nil {
			return nil, fmt.Errorf("agent: syslog: %w", err)
		}
	}
	if tcp == nil && c.TCP != "" {
		if tcp, err = net.Listen("tcp", c.TCP); err != nil {
			return nil, fmt.Errorf("agent: syslog: %w", err)
		}
	}
	if udp == nil && tcp == nil {
		return nil, nil
	}
	loc := time.Local
	if a.cfg.Timezone != "" {
		if loc, err = time.LoadLocation(a.cfg.Timezone); err != nil {
			return nil, fmt.Errorf("agent: timezone: %w", err)
		}
	}
	srv, err = syslog.New(syslog.Options{
		UDP: udp, TCP: tcp,
		MaxMessage: c.MaxMessage, MaxConns: c.MaxConnections, IdleTimeout: c.IdleTimeout,
		Clock: a.now, Location: loc, Logger: a.log,
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

// syslogStats returns the syslog listener's counters (zero when it is off),
// for the agent's metrics (the metrics helper wires it).
func (a *agent) syslogStats() syslog.Stats {
	if a.syslog == nil {
		return syslog.Stats{}
	}
	return a.syslog.Stats()
}
