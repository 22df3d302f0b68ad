package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// The community blocklist as the agent applies it.
const (
	// CommunityOrigin is the origin of the decisions taken from the hub's
	// community blocklist.
	CommunityOrigin = event.OriginCommunity
	// CommunityScenario is their scenario.
	CommunityScenario = "community-blocklist"
	// CommunityDuration is how long a community decision lasts. While the
	// agent follows the hub, decisions of listed addresses are renewed
	// before half of it is left, so an address stays banned until the hub
	// unlists it; an agent cut off from its hub lets them lapse.
	CommunityDuration = 24 * time.Hour
	// communityRenew is how often the renewal runs.
	communityRenew = time.Hour
	// communityResume is how long after its last sync a restarted agent
	// may resume from its stored version: within it every listed decision
	// is still live in the store (renewal keeps them past half their
	// duration, less one renewal period). Older, it takes a snapshot.
	communityResume = CommunityDuration/2 - 2*communityRenew
)

// The hub's predictions as the agent applies them: the same machinery as
// the community blocklist (renewal while in step, lapse when cut off), a
// list and an origin of their own.
const (
	// PredictedOrigin is the origin of decisions taken from the hub's
	// predictions.
	PredictedOrigin = event.OriginPredicted
	// PredictedScenario is their scenario.
	PredictedScenario = "hub-prediction"
)

// followedList says which of the hub's lists a community follower takes.
type followedList struct {
	name     string // for logs
	path     string // under the hub's URL
	origin   string
	scenario string
	mark     store.HubList // where the version held is saved
}

var (
	communityList = followedList{"community blocklist", "v1/blocklist/", CommunityOrigin, CommunityScenario, store.HubCommunity}
	predictedList = followedList{"predictions", "v1/predicted/", PredictedOrigin, PredictedScenario, store.HubPredicted}
)

// community applies one of the hub's lists to the agent's decisions.
type community struct {
	a    *agent
	f    *blocklist.Follower
	list followedList

	mu        sync.Mutex
	listed    map[netip.Prefix][]int64 // listed scope → store ids of its live community decisions (nil: refused)
	version   uint64
	connected bool
	lostAt    time.Time // when the stream last failed, while not connected
}

// blocklist returns the follower of one of the hub's lists, or nil when
// the configuration does not receive it. live are the decisions loaded at
// start: those of the list's origin are what the agent holds of it.
func (a *agent) blocklist(ctx context.Context, live []store.DecisionRecord, list followedList) (*community, error) {
	h := a.cfg.Hub
	if h.URL == "" || !h.Receive || (list.origin == PredictedOrigin && !h.Predictions) {
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
	c := &community{a: a, list: list, listed: map[netip.Prefix][]int64{}, lostAt: a.now()}
	for i := range live {
		if live[i].Origin == list.origin {
			c.listed[live[i].Scope] = append(c.listed[live[i].Scope], live[i].ID)
		}
	}
	m, err := a.st.Marks(ctx)
	if err != nil {
		return nil, err
	}
	held := m.Community
	if list.mark == store.HubPredicted {
		held = m.Predicted
	}
	c.version = held.Version
	synced := held.Synced
	if c.version != 0 && a.now().Sub(synced) > communityResume {
		a.log.Info("agent: "+list.name+" held too old to resume; taking a snapshot", "version", c.version, "synced", synced)
		c.version = 0
	}
	c.f, err = blocklist.NewFollower(blocklist.FollowerOptions{
		URL: h.URL, Path: list.path, PublicKey: pub, Client: client, Version: c.version,
		Apply: c.apply, Connected: c.connectedTo, Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.log.Info("agent: following the hub's "+list.name, "hub", h.URL, "version", c.version, "held", len(c.listed))
	return c, nil
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

// run follows the hub and renews the listed decisions until ctx ends.
func (c *community) run(ctx context.Context) error {
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		t := time.NewTicker(communityRenew)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.renew(ctx); err != nil && ctx.Err() == nil {
					c.a.log.Error("agent: renewing community decisions", "err", err)
				}
			}
		}
	}()
	return c.f.Run(ctx)
}

func (c *community) connectedTo(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.connected = true
		return
	}
	if c.connected {
		c.lostAt = c.a.now()
	}
	c.connected = false
	c.a.log.Warn("agent: "+c.list.name+" stream failed", "err", err)
}

// decision returns the list's decision on scope, from now.
func (c *community) decision(scope netip.Prefix, now time.Time) event.Decision {
	return event.Decision{Type: event.Ban, Scope: scope, Duration: CommunityDuration, Until: now.Add(CommunityDuration),
		Scenario: c.list.scenario, Origin: c.list.origin}
}

// apply takes one verified update: unlisted scopes lose their community
// decision (set and store), listed ones get one through the decision set,
// which refuses the never-ban set, and the store; then the version is
// stored. A snapshot replaces the listing: what the agent held and the
// snapshot lacks is unlisted.
func (c *community) apply(ctx context.Context, u blocklist.Update) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.a
	now := a.now()
	added, removed := u.Added, u.Removed
	if u.Snapshot {
		in := make(map[netip.Prefix]bool, len(u.Added))
		added = added[:0:0]
		for _, p := range u.Added {
			in[p] = true
			if _, held := c.listed[p]; !held {
				added = append(added, p)
			}
		}
		removed = nil
		for p := range c.listed {
			if !in[p] {
				removed = append(removed, p)
			}
		}
	}
	var ids []int64
	for _, p := range removed {
		held, ok := c.listed[p]
		if !ok {
			continue
		}
		ids = append(ids, held...)
		delete(c.listed, p)
		if d, ok := a.set.Get(p); ok && d.Origin == c.list.origin {
			a.set.Delete(p)
		}
	}
	if len(ids) > 0 {
		if _, err := a.st.DeleteDecisions(ctx, store.DecisionFilter{IDs: ids, Origin: c.list.origin}); err != nil {
			return fmt.Errorf("agent: %s: %w", c.list.name, err)
		}
	}
	var recs []store.DecisionRecord
	refused := 0
	for _, p := range added {
		if _, held := c.listed[p]; held {
			continue
		}
		d := c.decision(p, now)
		switch v := a.set.Add(d); v {
		case decision.Refused:
			refused++
			a.log.Warn("agent: "+c.list.name+" entry for a protected address; not banned", "scope", p)
			c.listed[p] = nil
		case decision.Invalid:
			a.log.Warn("agent: "+c.list.name+" entry not usable", "scope", p)
		default:
			c.listed[p] = nil
			recs = append(recs, store.DecisionRecord{Decision: d, Created: now})
		}
	}
	if err := c.store(ctx, recs, u.Version, now); err != nil {
		return err
	}
	if len(recs)+len(ids) > 0 {
		a.notifyAPI()
	}
	c.version = u.Version
	a.log.Info("agent: "+c.list.name, "version", u.Version, "snapshot", u.Snapshot,
		"banned", len(recs), "refused", refused, "unlisted", len(removed), "listed", len(c.listed))
	return nil
}

// store stores recs, notes their ids, and saves the version held. c.mu is
// held.
func (c *community) store(ctx context.Context, recs []store.DecisionRecord, version uint64, now time.Time) error {
	ids, err := c.a.st.AddDecisions(ctx, recs)
	if err != nil {
		return fmt.Errorf("agent: %s: %w", c.list.name, err)
	}
	for i, id := range ids {
		p := recs[i].Scope
		held := c.listed[p]
		if len(held) >= 2 {
			// A renewal comes after half the duration: the rows before
			// the last two have ended.
			held = held[len(held)-1:]
		}
		c.listed[p] = append(held, id)
	}
	if err := c.a.st.SaveHubMark(ctx, c.list.mark, store.HubMark{Version: version, Synced: now}); err != nil {
		return fmt.Errorf("agent: %s: %w", c.list.name, err)
	}
	return nil
}

// renew gives the listed scopes whose community decision ends within half
// CommunityDuration a fresh one, while the agent is in step with its hub
// (or lost it less than that long ago).
func (c *community) renew(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.a.now()
	if !c.connected && now.Sub(c.lostAt) > CommunityDuration/2 {
		return nil
	}
	var recs []store.DecisionRecord
	for p, ids := range c.listed {
		if ids == nil {
			continue // refused
		}
		if d, ok := c.a.set.Get(p); ok && d.Origin == c.list.origin && d.Until.Sub(now) > CommunityDuration/2 {
			continue
		}
		d := c.decision(p, now)
		if v := c.a.set.Add(d); v == decision.Refused || v == decision.Invalid {
			continue
		}
		recs = append(recs, store.DecisionRecord{Decision: d, Created: now})
	}
	if err := c.store(ctx, recs, c.version, now); err != nil {
		return err
	}
	if len(recs) > 0 {
		c.a.notifyAPI()
		c.a.log.Info("agent: "+c.list.name+" decisions renewed", "count", len(recs))
	}
	return nil
}
