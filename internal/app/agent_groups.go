package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/store"
)

// groupWait is how long one read of a group's blobs waits at the hub for
// a new one.
const groupWait = 25 * time.Second

// OriginGroupPrefix starts the origin of a decision received from a
// private group: "group:NAME".
const OriginGroupPrefix = "group:"

// groupRelay is the agent's side of its private groups (docs/groups.md):
// one reader per group waits at the hub for the group's blobs, opens them,
// applies the members' decisions as origin group:NAME through the decision
// set (the never-ban set wins; durations capped by hub.group_max_duration)
// and the store, and, at an admin, adds the members whose join requests
// prove an invitation; a sender seals this agent's own decisions to every
// group it belongs to. The groups file (hub.groups_file) is the state,
// shared under its lock with the herd group commands.
type groupRelay struct {
	a    *agent
	path string
	self group.Identity

	mu      sync.Mutex
	clients map[string]*client.Client // by hub URL
	queue   chan group.Decision
	dropped uint64
	journal client.Journal
}

// startGroups starts the relay when a hub is configured. The keys are
// loaded when the groups file first holds a group.
func (a *agent) startGroups(ctx context.Context) (func(), error) {
	h := a.cfg.Hub
	if h.URL == "" || a.o.Stdin != nil {
		return nil, nil
	}
	g := &groupRelay{a: a, path: h.GroupsPath(), clients: map[string]*client.Client{}, queue: make(chan group.Decision, 4096)}
	if a.egress != nil {
		g.journal = a.egress
	}
	a.groups = g
	a.run(g.supervise)
	a.run(g.send)
	return nil, nil
}

// identity loads the agent's keys once.
func (g *groupRelay) identity() (group.Identity, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.self.Sign != nil {
		return g.self, nil
	}
	sk, err := wire.LoadOrCreateKey(g.a.cfg.Hub.KeyFile)
	if err != nil {
		return group.Identity{}, fmt.Errorf("agent: groups: %w", err)
	}
	kem, err := group.LoadOrCreateKEMKey(g.a.cfg.Hub.GroupKeyPath())
	if err != nil {
		return group.Identity{}, fmt.Errorf("agent: groups: %w", err)
	}
	g.self = group.Identity{Sign: sk, KEM: kem}
	return g.self, nil
}

// client returns the enrolled client of the hub at url.
func (g *groupRelay) client(ctx context.Context, url string) (*client.Client, error) {
	g.mu.Lock()
	c := g.clients[url]
	g.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := groupClient(ctx, url, g.a.cfg.Hub.CAFile, g.self.Sign, g.a.o.HubDial, g.a.o.Version, g.a.clk, g.journal)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.clients[url] = c
	g.mu.Unlock()
	return c, nil
}

// Share queues one of this agent's own decisions, with the lines behind
// it, for its groups. It never blocks; a nil relay shares nothing.
func (g *groupRelay) Share(d event.Decision, lines []string) {
	if g == nil || d.Origin != event.OriginHerd || d.Simulated || d.Type != event.Ban {
		return
	}
	g.mu.Lock()
	ready := g.self.Sign != nil
	g.mu.Unlock()
	if !ready {
		return // no group yet
	}
	select {
	case g.queue <- group.Decision{Scope: d.Scope, Scenario: d.Scenario, Duration: d.Duration, Origin: d.Origin, Evidence: lines}:
	default:
		g.mu.Lock()
		g.dropped++
		g.mu.Unlock()
	}
}

// supervise runs one reader per group of the groups file, looking at the
// file every second for groups joined or left.
func (g *groupRelay) supervise(ctx context.Context) error {
	running := map[group.GroupID]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, c := range running {
			c()
		}
		wg.Wait()
	}()
	t := g.a.clk.NewTicker(time.Second)
	defer t.Stop()
	for {
		f, err := &group.File{}, error(nil)
		if _, serr := os.Stat(g.path); serr == nil {
			f, err = group.Read(g.path)
		}
		if err == nil && len(f.Groups) > 0 {
			_, err = g.identity()
		}
		if err != nil {
			g.a.log.Warn("agent: groups", "err", err)
		} else {
			seen := map[group.GroupID]bool{}
			for _, s := range f.Groups {
				seen[s.Group] = true
				if running[s.Group] == nil {
					rctx, cancel := context.WithCancel(ctx)
					running[s.Group] = cancel
					wg.Add(1)
					go func(id group.GroupID) { defer wg.Done(); g.read(rctx, id) }(s.Group)
				}
			}
			for id, c := range running {
				if !seen[id] {
					c()
					delete(running, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// read follows one group's blobs until ctx ends or the group leaves the
// file.
func (g *groupRelay) read(ctx context.Context, id group.GroupID) {
	backoff := time.Second
	retry := func(err error) bool {
		g.a.log.Warn("agent: group relay failed; retrying", "group", id, "err", err, "in", backoff)
		ok := clock.Sleep(ctx, g.a.clk, backoff) == nil
		backoff = min(2*backoff, time.Minute)
		return ok
	}
	for ctx.Err() == nil {
		f, err := group.Read(g.path)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		s := f.ByID(id)
		if s == nil {
			return
		}
		hc, err := g.client(ctx, s.Hub)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		bs, err := hc.Blobs(ctx, id, s.Cursor, groupWait)
		if err != nil {
			if ctx.Err() != nil || !retry(err) {
				return
			}
			continue
		}
		backoff = time.Second
		if len(bs) == 0 {
			continue
		}
		if err := group.Update(g.path, func(f *group.File) error { return g.handle(ctx, hc, f.ByID(id), bs) }); err != nil {
			if !retry(err) {
				return
			}
		}
	}
}

// handle opens the blobs read for s and acts on them. The groups file's
// lock is held; an error leaves the file as it was.
func (g *groupRelay) handle(ctx context.Context, hc *client.Client, s *group.State, bs []client.Blob) error {
	if s == nil {
		return nil
	}
	now := g.a.now()
	for _, b := range bs {
		if b.Seq <= s.Cursor {
			continue
		}
		s.Cursor = b.Seq
		ev, err := s.Open(g.self, b.Data, now)
		if err != nil {
			level := g.a.log.Warn
			if errors.Is(err, group.ErrNoKey) || errors.Is(err, group.ErrReplay) {
				// Not for us (a removal, a join request at another
				// admin), or read again after a welcome.
				level = g.a.log.Info
			}
			level("agent: group blob refused", "group", s.Name(), "seq", b.Seq, "err", err)
			continue
		}
		switch {
		case ev.Own:
		case ev.Joined != nil:
			commit, err := s.Add(g.self, *ev.Joined, now)
			if err != nil {
				g.a.log.Warn("agent: group join refused", "group", s.Name(), "member", ev.Joined.ID, "err", err)
				continue
			}
			if _, err := hc.PostBlob(ctx, s.Group, commit); err != nil {
				return fmt.Errorf("group %s: add %s: %w", s.Name(), ev.Joined.ID, err)
			}
			g.a.log.Info("agent: group member added", "group", s.Name(), "member", ev.Joined.ID, "label", ev.Joined.Label)
		case ev.Accepted:
			g.a.log.Info("agent: group roster", "group", s.Name(), "epoch", s.Epoch, "members", len(s.Roster.Members), "version", s.Roster.Version)
			if ev.Welcome {
				// Admitted: read what the hub holds of the epoch.
				s.Cursor = 0
				return nil
			}
		case ev.Body.Leave:
			if s.IsAdmin(g.self.ID()) {
				commit, err := s.Remove(g.self, ev.Sender.ID, now)
				if err != nil {
					g.a.log.Warn("agent: group leave", "group", s.Name(), "member", ev.Sender.ID, "err", err)
					continue
				}
				if _, err := hc.PostBlob(ctx, s.Group, commit); err != nil {
					return fmt.Errorf("group %s: remove %s: %w", s.Name(), ev.Sender.ID, err)
				}
				g.a.log.Info("agent: group member left", "group", s.Name(), "member", ev.Sender.ID, "epoch", s.Epoch)
			}
		default:
			g.apply(ctx, s.Name(), ev.Sender, ev.Body.Decisions)
		}
	}
	return nil
}

// apply puts a member's decisions in the decision set and the store as
// origin group:NAME.
func (g *groupRelay) apply(ctx context.Context, name string, from group.Member, ds []group.Decision) {
	a := g.a
	now := a.now()
	limit := a.cfg.Hub.GroupCap()
	var recs []store.DecisionRecord
	for _, d := range ds {
		dur := min(d.Duration, limit)
		ed := event.Decision{Type: event.Ban, Scope: d.Scope, Duration: dur, Until: now.Add(dur), Scenario: d.Scenario, Origin: OriginGroupPrefix + name}
		v := a.set.Add(ed)
		if v == decision.Refused {
			a.log.Info("agent: group decision not enforced: the scope is never banned", "group", name, "scope", d.Scope)
			continue
		}
		a.log.Debug("agent: group decision", "group", name, "from", from.Label, "scope", d.Scope, "scenario", d.Scenario, "evidence", len(d.Evidence))
		recs = append(recs, store.DecisionRecord{Decision: ed, Created: now})
	}
	if len(recs) == 0 {
		return
	}
	if _, err := a.st.AddDecisions(ctx, recs); err != nil {
		a.log.Warn("agent: group decisions not stored", "group", name, "err", err)
	}
	a.notifyAPI()
	a.log.Info("agent: group decisions", "group", name, "from", from.Label, "applied", len(recs))
}

// send seals this agent's decisions to each of its groups, in batches of
// what waits, and posts them.
func (g *groupRelay) send(ctx context.Context) error {
	for {
		var ds []group.Decision
		select {
		case <-ctx.Done():
			return nil
		case d := <-g.queue:
			ds = append(ds, d)
		}
	more:
		for len(ds) < group.MaxDecisions {
			select {
			case d := <-g.queue:
				ds = append(ds, d)
			default:
				break more
			}
		}
		type post struct {
			hub  string
			id   group.GroupID
			blob []byte
		}
		var posts []post
		err := group.Update(g.path, func(f *group.File) error {
			for _, s := range f.Groups {
				if s.Joining != nil {
					continue
				}
				if _, ok := s.Roster.Find(g.self.ID()); !ok {
					continue
				}
				body := group.Body{Decisions: make([]group.Decision, len(ds))}
				copy(body.Decisions, ds)
				if !s.Roster.Evidence {
					for i := range body.Decisions {
						body.Decisions[i].Evidence = nil
					}
				}
				blob, err := s.Seal(g.self, body, g.a.now())
				if err != nil {
					return err
				}
				posts = append(posts, post{s.Hub, s.Group, blob})
			}
			return nil
		})
		if err != nil {
			g.a.log.Warn("agent: group decisions not sealed", "err", err)
			continue
		}
		for _, p := range posts {
			g.post(ctx, p.hub, p.id, p.blob)
		}
	}
}

// post posts one blob, retrying a few times.
func (g *groupRelay) post(ctx context.Context, hub string, id group.GroupID, blob []byte) {
	backoff := 250 * time.Millisecond
	for try := 0; ; try++ {
		hc, err := g.client(ctx, hub)
		if err == nil {
			_, err = hc.PostBlob(ctx, id, blob)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		if try == 5 {
			g.a.log.Warn("agent: group decisions not sent", "group", id, "err", err)
			return
		}
		if clock.Sleep(ctx, g.a.clk, backoff) != nil {
			return
		}
		backoff *= 2
	}
}
