// Package node composes one hub node (herd hub serve): the hub's ingest
// and reputation (internal/hub), its store (internal/hub/hubstore), the
// signed blocklist and predictions pushed to agents (internal/hub/blocklist)
// over the node's change log, its metrics, and the listeners, started in
// order and released in reverse when a later part fails.
package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/hub/export"
)

// Options configures New.
type Options struct {
	// Hub configures the hub node; its Store is required. New sets its
	// Blocklist and Exports; its OnChange, when set, is called after the
	// blocklist server has been woken.
	Hub hub.Options
	// Key is the blocklist-signing key (hub.LoadOrCreateKey); agents hold
	// its public half as hub.public_key.
	Key ed25519.PrivateKey
	// Blocklist tunes the blocklist server; New sets its Log, Key and
	// Logger.
	Blocklist blocklist.ServerOptions
	// Export names what the export formats create (zero: defaults).
	Export export.Options
}

// Hub is a hub node with everything it serves wired together: signal
// ingest and reputation (internal/hub), the signed blocklist pushed to
// agents (internal/hub/blocklist) over the node's change log, and the
// exports (internal/hub/export) of the same listing. A recomputation that
// moves the change log wakes the blocklist server at once.
type Hub struct {
	srv *hub.Server
	bl  *blocklist.Server
	pbl *blocklist.Server // the predictions' (nil: off)
	m   *hubMetrics
}

// predictedHistory is how many changes of the predictions a hub node keeps
// for deltas.
const predictedHistory = 1 << 16

// New builds a hub node from o. Nothing runs before Run.
func New(ctx context.Context, o Options) (*Hub, error) {
	lg := &hubLog{}
	bo := o.Blocklist
	bo.Log, bo.Key, bo.Logger = lg, o.Key, o.Hub.Logger
	bl, err := blocklist.NewServer(bo)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	ho := o.Hub
	ho.Blocklist = bl
	user := o.Hub.OnChange
	ho.OnChange = func(v uint64) {
		bl.Notify()
		if user != nil {
			user(v)
		}
	}
	m := newHubMetrics()
	userRec := o.Hub.OnRecompute
	ho.OnRecompute = func(d time.Duration) {
		m.observe(d)
		if userRec != nil {
			userRec(d)
		}
	}
	ho.Exports = export.Handler(lg.Snapshot, o.Export)
	// The predictions: a list apart, in this node's memory, pushed by a
	// blocklist server of their own at /v1/predicted/.
	var pl *blocklist.MemLog
	var pbl *blocklist.Server
	if !ho.NoPredict {
		pl = blocklist.NewMemLogAt(uint64(clock.Or(o.Hub.Time).Now().UnixNano()))
		po := o.Blocklist
		po.Log, po.Key, po.Logger = pl, o.Key, o.Hub.Logger
		if pbl, err = blocklist.NewServer(po); err != nil {
			return nil, fmt.Errorf("hub: predictions: %w", err)
		}
		ho.Predicted = pbl
		userPred := o.Hub.OnPredict
		ho.OnPredict = func(added, removed []netip.Prefix) {
			pl.List(added...)
			v := pl.Unlist(removed...)
			pl.Forget(v - predictedHistory) // followers further behind take a snapshot
			pbl.Notify()
			if userPred != nil {
				userPred(added, removed)
			}
		}
	}
	srv, err := hub.New(ctx, ho)
	if err != nil {
		return nil, err
	}
	lg.l = srv.Log()
	m.reg.MustRegister(newHubCollector(srv, bl))
	return &Hub{srv: srv, bl: bl, pbl: pbl, m: m}, nil
}

// Server returns the hub node, for Explain, Stats and its Log.
func (h *Hub) Server() *hub.Server { return h.srv }

// Blocklist returns the blocklist server, for its counters.
func (h *Hub) Blocklist() *blocklist.Server { return h.bl }

// Handler returns the whole HTTP API: enrollment, signals, /v1/blocklist/
// and /v1/export/.
func (h *Hub) Handler() http.Handler { return h.srv.Handler() }

// Run recomputes the listing and pushes its changes until ctx ends. When it
// returns, every blocklist stream has been closed, so an http.Server's
// Shutdown started after ctx ended does not wait on them.
func (h *Hub) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.srv.Run(gctx) })
	g.Go(func() error { return h.bl.Run(gctx) })
	if h.pbl != nil {
		g.Go(func() error { return h.pbl.Run(gctx) })
	}
	return g.Wait()
}

// hubLog is the hub's change log as the blocklist server reads it: the
// hub's "too old" error becomes the blocklist's, which makes the server
// answer with a snapshot instead of failing.
type hubLog struct{ l *hub.Log }

func (g *hubLog) Snapshot(ctx context.Context) (uint64, []netip.Prefix, error) {
	return g.l.Snapshot(ctx)
}

func (g *hubLog) Since(ctx context.Context, from uint64) (uint64, []netip.Prefix, []netip.Prefix, error) {
	to, added, removed, err := g.l.Since(ctx, from)
	if errors.Is(err, hub.ErrTooOld) {
		err = fmt.Errorf("%w: %w", blocklist.ErrTooOld, err)
	}
	return to, added, removed, err
}
