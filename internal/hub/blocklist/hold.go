package blocklist

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// List is one of the hub's lists as an agent follows and holds it.
type List struct {
	Name     string // for logs
	Path     string // under the hub's URL
	Origin   string // of the decisions taken from it
	Scenario string // of the decisions taken from it
}

// The hub's lists an agent follows: the community blocklist, and the hub's
// predictions (the same machinery: renewal while in step, lapse when cut
// off; a list and an origin of their own).
var (
	Community = List{"community blocklist", "v1/blocklist/", event.OriginCommunity, CommunityScenario}
	Predicted = List{"predictions", "v1/predicted/", event.OriginPredicted, PredictedScenario}
)

const (
	// CommunityScenario is the scenario of community decisions.
	CommunityScenario = "community-blocklist"
	// PredictedScenario is the scenario of predicted decisions.
	PredictedScenario = "hub-prediction"
	// Duration is how long a decision of a list lasts. While the agent
	// follows the hub, decisions of listed addresses are renewed before
	// half of it is left, so an address stays banned until the hub
	// unlists it; an agent cut off from its hub lets them lapse.
	Duration = 24 * time.Hour
	// renewEvery is how often the renewal runs.
	renewEvery = time.Hour
	// Resume is how long after its last sync a restarted agent may resume
	// from its stored version: within it every listed decision is still
	// live in the store (renewal keeps them past half their duration,
	// less one renewal period). Older, it takes a snapshot.
	Resume = Duration/2 - 2*renewEvery
)

// Set is the agent's decision set as a Holder uses it.
type Set interface {
	Get(p netip.Prefix) (event.Decision, bool)
	Delete(p netip.Prefix) bool
	// Put adds d; refused says the never-ban set covers it, invalid that
	// it is not usable.
	Put(d event.Decision) (refused, invalid bool)
}

// Store is the agent's store as a Holder uses it.
type Store interface {
	// AddDecisions stores ds, created at created, and returns their ids.
	AddDecisions(ctx context.Context, ds []event.Decision, created time.Time) ([]int64, error)
	// DeleteDecisions deletes the rows ids of origin.
	DeleteDecisions(ctx context.Context, ids []int64, origin string) error
	// SaveVersion saves the version of the list held, synced at synced.
	SaveVersion(ctx context.Context, version uint64, synced time.Time) error
}

// HolderOptions configure a Holder.
type HolderOptions struct {
	List      List
	URL       string
	PublicKey ed25519.PublicKey
	Client    *http.Client
	// Version is the version held at start and Synced when it was; a
	// version older than Resume is dropped for a snapshot.
	Version uint64
	Synced  time.Time
	// Held are the store ids of the live decisions of the list's origin,
	// by scope, at start.
	Held    map[netip.Prefix][]int64
	Set     Set
	Store   Store
	Clock   clock.Clock // nil = clock.Real
	Logger  *slog.Logger
	Changed func() // called when decisions were added or deleted; may be nil
}

// Holder applies one of the hub's lists to an agent's decisions.
type Holder struct {
	o   HolderOptions
	clk clock.Clock
	f   *Follower

	mu        sync.Mutex
	listed    map[netip.Prefix][]int64 // listed scope → store ids of its live decisions (nil: refused)
	version   uint64
	connected bool
	lostAt    time.Time // when the stream last failed, while not connected
}

// NewHolder returns the holder of o.List.
func NewHolder(o HolderOptions) (*Holder, error) {
	h := newHolder(o)
	if h.version != 0 && h.clk.Now().Sub(o.Synced) > Resume {
		h.o.Logger.Info("agent: "+o.List.Name+" held too old to resume; taking a snapshot", "version", h.version, "synced", o.Synced)
		h.version = 0
	}
	var err error
	h.f, err = NewFollower(FollowerOptions{
		URL: o.URL, Path: o.List.Path, PublicKey: o.PublicKey, Client: o.Client, Version: h.version,
		Apply: h.Apply, Connected: h.Connected, Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	h.o.Logger.Info("agent: following the hub's "+o.List.Name, "hub", o.URL, "version", h.version, "held", len(h.listed))
	return h, nil
}

func newHolder(o HolderOptions) *Holder {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Changed == nil {
		o.Changed = func() {}
	}
	h := &Holder{o: o, clk: clock.Or(o.Clock), listed: map[netip.Prefix][]int64{}, version: o.Version}
	for p, ids := range o.Held {
		h.listed[p] = append([]int64(nil), ids...)
	}
	h.lostAt = h.clk.Now()
	return h
}

// Run follows the hub and renews the listed decisions until ctx ends.
func (h *Holder) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		t := h.clk.NewTicker(renewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				if err := h.renew(ctx); err != nil && ctx.Err() == nil {
					h.o.Logger.Error("agent: renewing community decisions", "err", err)
				}
			}
		}
	}()
	return h.f.Run(ctx)
}

// Connected takes a stream's result (FollowerOptions.Connected): nil in
// step, else the error it failed with.
func (h *Holder) Connected(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.connected = true
		return
	}
	if h.connected {
		h.lostAt = h.clk.Now()
	}
	h.connected = false
	h.o.Logger.Warn("agent: "+h.o.List.Name+" stream failed", "err", err)
}

// decision returns the list's decision on scope, from now.
func (h *Holder) decision(scope netip.Prefix, now time.Time) event.Decision {
	return event.Decision{Type: event.Ban, Scope: scope, Duration: Duration, Until: now.Add(Duration),
		Scenario: h.o.List.Scenario, Origin: h.o.List.Origin}
}

// Apply takes one verified update (FollowerOptions.Apply): unlisted scopes lose their decision
// (set and store), listed ones get one through the decision set, which
// refuses the never-ban set, and the store; then the version is stored. A
// snapshot replaces the listing: what the agent held and the snapshot
// lacks is unlisted.
func (h *Holder) Apply(ctx context.Context, u Update) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clk.Now()
	added, removed := u.Added, u.Removed
	if u.Snapshot {
		in := make(map[netip.Prefix]bool, len(u.Added))
		added = added[:0:0]
		for _, p := range u.Added {
			in[p] = true
			if _, held := h.listed[p]; !held {
				added = append(added, p)
			}
		}
		removed = nil
		for p := range h.listed {
			if !in[p] {
				removed = append(removed, p)
			}
		}
	}
	var ids []int64
	for _, p := range removed {
		held, ok := h.listed[p]
		if !ok {
			continue
		}
		ids = append(ids, held...)
		delete(h.listed, p)
		if d, ok := h.o.Set.Get(p); ok && d.Origin == h.o.List.Origin {
			h.o.Set.Delete(p)
		}
	}
	if len(ids) > 0 {
		if err := h.o.Store.DeleteDecisions(ctx, ids, h.o.List.Origin); err != nil {
			return fmt.Errorf("agent: %s: %w", h.o.List.Name, err)
		}
	}
	var ds []event.Decision
	refused := 0
	for _, p := range added {
		if _, held := h.listed[p]; held {
			continue
		}
		d := h.decision(p, now)
		switch ref, inv := h.o.Set.Put(d); {
		case ref:
			refused++
			h.o.Logger.Warn("agent: "+h.o.List.Name+" entry for a protected address; not banned", "scope", p)
			h.listed[p] = nil
		case inv:
			h.o.Logger.Warn("agent: "+h.o.List.Name+" entry not usable", "scope", p)
		default:
			h.listed[p] = nil
			ds = append(ds, d)
		}
	}
	if err := h.store(ctx, ds, u.Version, now); err != nil {
		return err
	}
	if len(ds)+len(ids) > 0 {
		h.o.Changed()
	}
	h.version = u.Version
	h.o.Logger.Info("agent: "+h.o.List.Name, "version", u.Version, "snapshot", u.Snapshot,
		"banned", len(ds), "refused", refused, "unlisted", len(removed), "listed", len(h.listed))
	return nil
}

// store stores ds, notes their ids, and saves the version held. h.mu is
// held.
func (h *Holder) store(ctx context.Context, ds []event.Decision, version uint64, now time.Time) error {
	ids, err := h.o.Store.AddDecisions(ctx, ds, now)
	if err != nil {
		return fmt.Errorf("agent: %s: %w", h.o.List.Name, err)
	}
	for i, id := range ids {
		p := ds[i].Scope
		held := h.listed[p]
		if len(held) >= 2 {
			// A renewal comes after half the duration: the rows before
			// the last two have ended.
			held = held[len(held)-1:]
		}
		h.listed[p] = append(held, id)
	}
	if err := h.o.Store.SaveVersion(ctx, version, now); err != nil {
		return fmt.Errorf("agent: %s: %w", h.o.List.Name, err)
	}
	return nil
}

// Renew gives the listed scopes whose decision ends within half Duration
// a fresh one, while the agent is in step with its hub (or lost it less
// than that long ago). Run calls it every hour.
func (h *Holder) Renew(ctx context.Context) error { return h.renew(ctx) }

func (h *Holder) renew(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clk.Now()
	if !h.connected && now.Sub(h.lostAt) > Duration/2 {
		return nil
	}
	var ds []event.Decision
	for p, ids := range h.listed {
		if ids == nil {
			continue // refused
		}
		if d, ok := h.o.Set.Get(p); ok && d.Origin == h.o.List.Origin && d.Until.Sub(now) > Duration/2 {
			continue
		}
		d := h.decision(p, now)
		if ref, inv := h.o.Set.Put(d); ref || inv {
			continue
		}
		ds = append(ds, d)
	}
	if err := h.store(ctx, ds, h.version, now); err != nil {
		return err
	}
	if len(ds) > 0 {
		h.o.Changed()
		h.o.Logger.Info("agent: "+h.o.List.Name+" decisions renewed", "count", len(ds))
	}
	return nil
}
