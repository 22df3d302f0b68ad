package app

import (
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
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
	c, err := client.New(client.Options{URL: h.URL, Key: key, HTTP: hc, Version: a.o.Version, Time: a.clk, Logger: a.log})
	if err != nil {
		return fmt.Errorf("agent: hub: %w", err)
	}
	a.hub = c
	a.log.Info("agent: sharing signals with the hub", "url", h.URL, "reporter", wire.IDOf(key.Public().(ed25519.PublicKey)).String())
	return nil
}
