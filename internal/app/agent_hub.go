package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// startEgress opens the egress journal (hub.egress_journal), where the
// hub clients write every request they send, when a hub is configured.
func (a *agent) startEgress(context.Context) (func(), error) {
	if a.cfg.Hub.URL == "" || a.o.Stdin != nil {
		return nil, nil
	}
	j, err := client.OpenJournal(a.cfg.Hub.EgressPath(), 0)
	if err != nil {
		// The requests go out all the same; herd hub egress will not
		// show them.
		a.log.Warn("agent: hub: no egress journal: herd hub egress will not show what this agent sends", "err", err)
		return nil, nil
	}
	a.egress = j
	return func() { j.Close() }, nil
}

// shareClasses returns the classes hub.share names, nil for all.
func shareClasses(names []string) ([]wire.Class, error) {
	if names == nil {
		return nil, nil
	}
	out := []wire.Class{}
	for _, n := range names {
		c, err := wire.ParseClass(n)
		if err != nil {
			return nil, fmt.Errorf("hub.share: %q is not a class (docs/hub.md lists them)", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// openHub builds the hub client when the configuration names a hub and
// shares signals (hub.url, hub.share); the reporter key (hub.key_file) is
// created with mode 0600 on first start. a.hub stays nil otherwise.
func (a *agent) openHub() error {
	h := a.cfg.Hub
	if h.URL == "" {
		return nil
	}
	if !h.Share {
		a.log.Info("agent: sharing no signals with the hub (hub.share): the community blocklist is still received, but this agent has no trust and no vote at the hub")
		return nil
	}
	classes, err := shareClasses(h.ShareClasses)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
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
	o := client.Options{URL: h.URL, Key: key, HTTP: hc, Version: a.o.Version, Time: a.clk, Logger: a.log, Classes: classes}
	if a.egress != nil {
		o.Journal = a.egress
	}
	c, err := client.New(o)
	if err != nil {
		return fmt.Errorf("agent: hub: %w", err)
	}
	a.hub = c
	if classes != nil {
		a.log.Info("agent: sharing signals with the hub, some classes only (hub.share); trust and votes come only from what is shared", "url", h.URL, "classes", h.ShareClasses, "reporter", wire.IDOf(key.Public().(ed25519.PublicKey)).String())
		return nil
	}
	a.log.Info("agent: sharing signals with the hub", "url", h.URL, "reporter", wire.IDOf(key.Public().(ed25519.PublicKey)).String())
	return nil
}
