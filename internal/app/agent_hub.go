package app

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/profile"
)

// openHub builds the hub client when the configuration names a hub and
// shares signals (hub.url, hub.share); the reporter key (hub.key_file) is
// created with mode 0600 on first start. a.hub stays nil otherwise.
func (a *agent) openHub() error {
	h := a.cfg.Hub
	if h.URL == "" || !h.Share {
		return nil
	}
	key, err := wire.LoadOrCreateKey(h.KeyFile)
	if err != nil {
		return fmt.Errorf("agent: hub: %w", err)
	}
	hc, err := client.NewHTTPClient(h.CAFile)
	if err != nil {
		return fmt.Errorf("agent: hub: %w", err)
	}
	if tr, ok := hc.Transport.(*http.Transport); ok && a.o.HubDial != nil {
		tr.DialContext = a.o.HubDial
	}
	c, err := client.New(client.Options{URL: h.URL, Key: key, HTTP: hc, Version: a.o.Version, Clock: a.now, Logger: a.log})
	if err != nil {
		return fmt.Errorf("agent: hub: %w", err)
	}
	a.hub = c
	a.log.Info("agent: sharing signals with the hub", "url", h.URL, "reporter", wire.IDOf(key.Public().(ed25519.PublicKey)).String())
	return nil
}

// share queues the signal of a decision the agent took itself: origin
// "herd", not simulated, a scenario with a class. The signal names one
// address: the decision's when it covers one, else src, the alert's source,
// when the decision's prefix holds it (an IPv6 source's /64). Community and
// manual decisions, and ranges without a source inside, are never shared.
// It never blocks.
func (a *agent) share(d event.Decision, src netip.Addr) {
	if a.hub == nil || d.Origin != profile.Origin || d.Simulated {
		return
	}
	p := d.Scope
	if !p.IsValid() {
		return
	}
	if p.Bits() != p.Addr().BitLen() {
		src = src.Unmap().WithZone("")
		if !src.IsValid() || !p.Contains(src) {
			return
		}
		p = netip.PrefixFrom(src, src.BitLen())
	}
	class, ok := client.ClassOf(d.Scenario)
	if !ok {
		return
	}
	a.hub.Report(wire.Signal{Source: p.Addr(), Class: class, Minute: minuteOf(a.now())})
}

func minuteOf(t time.Time) uint32 {
	if m := t.Unix() / 60; m > 0 {
		return uint32(m)
	}
	return 0
}
