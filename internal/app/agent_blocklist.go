package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"github.com/herd-ips/herd/internal/storeview"
	"net"
	"net/http"
	"net/netip"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// holder returns the holder of one of the hub's lists (blocklist.Holder),
// or nil when the configuration does not receive it. live are the
// decisions loaded at start: those of the list's origin are what the
// agent holds of it.
func (a *agent) holder(ctx context.Context, live []store.DecisionRecord, list blocklist.List) (*blocklist.Holder, error) {
	h := a.cfg.Hub
	if h.URL == "" || !h.Receive || (list.Origin == event.OriginPredicted && !h.Predictions) {
		return nil, nil
	}
	pub, err := base64.StdEncoding.DecodeString(h.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("agent: hub.public_key: not a base64 ed25519 public key")
	}
	client, err := hubClient(h.CAFile, a.o.HubDial)
	if err != nil {
		return nil, err
	}
	o := a.holderOptions(list, live)
	m, err := a.st.Marks(ctx)
	if err != nil {
		return nil, err
	}
	held := m.Community
	if list.Origin == event.OriginPredicted {
		held = m.Predicted
	}
	o.URL, o.PublicKey, o.Client, o.Version, o.Synced = h.URL, pub, client, held.Version, held.Synced
	return blocklist.NewHolder(o)
}

// holderOptions are the parts of a holder of list the agent gives it.
func (a *agent) holderOptions(list blocklist.List, live []store.DecisionRecord) blocklist.HolderOptions {
	mark := store.HubCommunity
	if list.Origin == event.OriginPredicted {
		mark = store.HubPredicted
	}
	held := map[netip.Prefix][]int64{}
	for i := range live {
		if live[i].Origin == list.Origin {
			held[live[i].Scope] = append(held[live[i].Scope], live[i].ID)
		}
	}
	return blocklist.HolderOptions{List: list, Held: held, Set: storeview.ListSet{S: a.set}, Store: storeview.HubList{St: a.st, Mark: mark},
		Clock: a.clk, Logger: a.log, Changed: a.notifyAPI}
}

// hubClient returns the HTTP client for the hub, trusting caFile's
// certificates instead of the system roots when set, and opening its
// connections with dial when set.
func hubClient(caFile string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if dial != nil {
		tr.DialContext = dial
	}
	if caFile != "" {
		tc, err := tlsfiles.ClientConfig(caFile)
		if err != nil {
			return nil, fmt.Errorf("agent: hub.ca_file: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Transport: tr}, nil
}
