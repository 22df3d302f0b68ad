package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// The herd group commands (docs/groups.md). Each reads and writes the
// groups file under its lock, and talks to the hub with the agent's
// reporter key; the running agent relays and applies the groups' blobs
// (agent_groups.go).

// GroupOptions are what the group commands need beside the
// configuration.
type GroupOptions struct {
	Config *config.Config
	Time   clock.Clock // nil = clock.Real
	Out    io.Writer
	// Dial, when set, opens the connections to the hub (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Version is sent in the User-Agent.
	Version string
}

// groupEnv is what every group command opens: the identity and a hub
// client.
type groupEnv struct {
	o    GroupOptions
	clk  clock.Clock
	self group.Identity
	path string
}

func openGroups(o GroupOptions) (*groupEnv, error) {
	h := o.Config.Hub
	if h.URL == "" {
		return nil, errors.New("group: no hub configured (hub.url in herd.yaml)")
	}
	sk, err := wire.LoadOrCreateKey(h.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	kem, err := group.LoadOrCreateKEMKey(h.GroupKeyPath())
	if err != nil {
		return nil, err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return &groupEnv{o: o, clk: clock.Or(o.Time), self: group.Identity{Sign: sk, KEM: kem}, path: h.GroupsPath()}, nil
}

// client returns a hub client for url, enrolled.
func (e *groupEnv) client(ctx context.Context, url string) (*client.Client, error) {
	var j client.Journal
	if fj, err := client.OpenJournal(e.o.Config.Hub.EgressPath(), 0); err == nil {
		j = fj // closed at exit: the commands are short-lived
	}
	return groupClient(ctx, url, e.o.Config.Hub.CAFile, e.self.Sign, e.o.Dial, e.o.Version, e.clk, j)
}

func groupClient(ctx context.Context, url, caFile string, key ed25519.PrivateKey, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	version string, clk clock.Clock, j client.Journal) (*client.Client, error) {
	hc, err := client.NewHTTPClient(caFile)
	if err != nil {
		return nil, err
	}
	if tr, ok := hc.Transport.(*http.Transport); ok && dial != nil {
		tr.DialContext = dial
	}
	hc.Timeout = time.Minute // reads wait at most 30 s at the hub
	c, err := client.New(client.Options{URL: url, Key: key, HTTP: hc, Version: version, Time: clk, Journal: j})
	if err != nil {
		return nil, err
	}
	if err := c.Enroll(ctx); err != nil {
		return nil, fmt.Errorf("group: enroll at the hub: %w", err)
	}
	return c, nil
}

// GroupCreate makes a group named name, with this agent as its admin.
func GroupCreate(ctx context.Context, o GroupOptions, name string, evidence bool) error {
	e, err := openGroups(o)
	if err != nil {
		return err
	}
	if _, err := e.client(ctx, o.Config.Hub.URL); err != nil {
		return err
	}
	var s *group.State
	err = group.Update(e.path, func(f *group.File) error {
		if f.Find(name) != nil {
			return fmt.Errorf("group %q exists", name)
		}
		s, err = group.Create(e.self, name, o.Config.Hub.URL, evidence)
		if err != nil {
			return err
		}
		f.Groups = append(f.Groups, s)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "group %s created (id %s, epoch 1); invite members with: herd group invite %s\n", name, s.Group, name)
	return nil
}

// GroupInvite prints an invitation to the group named name, valid once
// for ttl.
func GroupInvite(ctx context.Context, o GroupOptions, name string, ttl time.Duration) error {
	e, err := openGroups(o)
	if err != nil {
		return err
	}
	var code string
	err = group.Update(e.path, func(f *group.File) error {
		s := f.Find(name)
		if s == nil {
			return fmt.Errorf("no group %q", name)
		}
		s.Expire(e.clk.Now())
		code, err = s.Invite(e.self, e.clk.Now(), ttl)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, code)
	return nil
}

// GroupJoin answers an invitation: it posts the join request and waits
// up to wait for the admin's agent to add this agent.
func GroupJoin(ctx context.Context, o GroupOptions, code, label string, wait time.Duration) error {
	e, err := openGroups(o)
	if err != nil {
		return err
	}
	c, err := group.ParseCode(code)
	if err != nil {
		return err
	}
	if label == "" {
		label, _ = os.Hostname()
		if len(label) > group.MaxLabel {
			label = label[:group.MaxLabel]
		}
	}
	hc, err := e.client(ctx, c.Hub)
	if err != nil {
		return err
	}
	s, req, err := group.Join(e.self, c, label, e.clk.Now())
	if err != nil {
		return err
	}
	err = group.Update(e.path, func(f *group.File) error {
		if old := f.ByID(c.Group); old != nil && old.Joining == nil {
			return fmt.Errorf("already a member of %s", old.Name())
		}
		f.Delete(c.Group)
		f.Groups = append(f.Groups, s)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := hc.PostBlob(ctx, c.Group, req); err != nil {
		return fmt.Errorf("group: join: %w", err)
	}
	fmt.Fprintf(o.Out, "join request sent to group %s; waiting for its admin's agent to add this one\n", c.Group)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		f, err := group.Read(e.path)
		if err != nil {
			return err
		}
		s := f.ByID(c.Group)
		if s == nil {
			return errors.New("group: join: the group left the groups file")
		}
		if s.Joining == nil {
			fmt.Fprintf(o.Out, "joined group %s (epoch %d, %d members)\n", s.Name(), s.Epoch, len(s.Roster.Members))
			return nil
		}
		// Read the group's blobs ourselves: the agent may not run.
		bs, err := hc.Blobs(ctx, c.Group, s.Cursor, 5*time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("group: join: not added within %v (is the admin's agent running?); the request stays valid: the agent completes the join when the admin adds it", wait)
		}
		if err != nil {
			if clock.Sleep(ctx, e.clk, time.Second) != nil {
				return fmt.Errorf("group: join: %w", err)
			}
			continue
		}
		err = group.Update(e.path, func(f *group.File) error {
			s := f.ByID(c.Group)
			if s == nil {
				return nil
			}
			for _, b := range bs {
				if b.Seq <= s.Cursor {
					continue
				}
				s.Cursor = b.Seq
				if ev, err := s.Open(e.self, b.Data, e.clk.Now()); err == nil && ev.Welcome {
					s.Cursor = 0 // the agent reads the epoch's blobs from the start
					break
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// GroupList prints the groups this agent belongs to.
func GroupList(o GroupOptions) error {
	f, err := group.Read(o.Config.Hub.GroupsPath())
	if err != nil {
		return err
	}
	out := o.Out
	if len(f.Groups) == 0 {
		fmt.Fprintln(out, "no groups")
		return nil
	}
	fmt.Fprintf(out, "%-20s %-32s %6s %7s %8s  %s\n", "NAME", "ID", "EPOCH", "MEMBERS", "EVIDENCE", "ROLE")
	for _, s := range f.Groups {
		name, role := s.Name(), "member"
		if s.Joining != nil {
			name, role = "(joining)", "waiting for the admin"
		}
		sk, err := wire.LoadOrCreateKey(o.Config.Hub.KeyFile)
		if err == nil && s.IsAdmin(group.IDOf(sk.Public().(ed25519.PublicKey))) {
			role = "admin"
		}
		fmt.Fprintf(out, "%-20s %-32s %6d %7d %8v  %s\n", name, s.Group, s.Epoch, len(s.Roster.Members), s.Roster.Evidence, role)
	}
	return nil
}

// GroupMembers prints the roster of the group named name.
func GroupMembers(o GroupOptions, name string) error {
	f, err := group.Read(o.Config.Hub.GroupsPath())
	if err != nil {
		return err
	}
	s := f.Find(name)
	if s == nil {
		return fmt.Errorf("no group %q", name)
	}
	ms := append([]group.Member(nil), s.Roster.Members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Label < ms[j].Label })
	fmt.Fprintf(o.Out, "%-32s %-6s %s\n", "MEMBER", "ROLE", "LABEL")
	for _, m := range ms {
		role := "member"
		if m.Admin {
			role = "admin"
		}
		fmt.Fprintf(o.Out, "%-32s %-6s %s\n", m.ID, role, m.Label)
	}
	return nil
}

// GroupRemove removes a member (its id, or its label when one member has
// it) from the group: a new epoch the removed member cannot read.
func GroupRemove(ctx context.Context, o GroupOptions, name, who string) error {
	e, err := openGroups(o)
	if err != nil {
		return err
	}
	var hub string
	if f, err := group.Read(e.path); err == nil && f.Find(name) != nil {
		hub = f.Find(name).Hub
	}
	if hub == "" {
		return fmt.Errorf("no group %q", name)
	}
	hc, err := e.client(ctx, hub)
	if err != nil {
		return err
	}
	var epoch uint32
	err = group.Update(e.path, func(f *group.File) error {
		s := f.Find(name)
		if s == nil {
			return fmt.Errorf("no group %q", name)
		}
		id, err := findMember(s, who)
		if err != nil {
			return err
		}
		blob, err := s.Remove(e.self, id, e.clk.Now())
		if err != nil {
			return err
		}
		// Posted under the lock: the file says the new epoch only once
		// the hub holds the commit.
		if _, err := hc.PostBlob(ctx, s.Group, blob); err != nil {
			return fmt.Errorf("group: remove: %w", err)
		}
		epoch = s.Epoch
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "removed %s from %s: epoch %d, whose key the removed member does not have\n", who, name, epoch)
	return nil
}

func findMember(s *group.State, who string) (group.ID, error) {
	var found []group.ID
	for _, m := range s.Roster.Members {
		if m.ID.String() == strings.ToLower(who) || m.Label == who {
			found = append(found, m.ID)
		}
	}
	switch len(found) {
	case 0:
		return group.ID{}, fmt.Errorf("no member %q in %s", who, s.Name())
	case 1:
		return found[0], nil
	}
	return group.ID{}, fmt.Errorf("several members are labelled %q: name one by its id (herd group members %s)", who, s.Name())
}

// GroupLeave leaves the group named name: it tells the group (an admin's
// agent then removes this member with a new epoch) and forgets the
// group's keys.
func GroupLeave(ctx context.Context, o GroupOptions, name string) error {
	e, err := openGroups(o)
	if err != nil {
		return err
	}
	return group.Update(e.path, func(f *group.File) error {
		s := f.Find(name)
		if s == nil {
			return fmt.Errorf("no group %q", name)
		}
		if s.Joining == nil && !s.IsAdmin(e.self.ID()) {
			hc, err := e.client(ctx, s.Hub)
			if err != nil {
				return err
			}
			blob, err := s.Seal(e.self, group.Body{Leave: true}, e.clk.Now())
			if err != nil {
				return err
			}
			if _, err := hc.PostBlob(ctx, s.Group, blob); err != nil {
				return fmt.Errorf("group: leave: %w", err)
			}
		}
		f.Delete(s.Group)
		fmt.Fprintf(o.Out, "left group %s; its keys are forgotten here\n", name)
		return nil
	})
}
