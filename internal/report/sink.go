package report

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// Set is what SetSink needs of the agent's live decision set (declared
// here, implemented over decision.Set by the agent).
type Set interface {
	Get(p netip.Prefix) (event.Decision, bool)
	// Put adds d; changed says the set now holds it (a new scope or a
	// longer ban), refused that the never-ban set covers it.
	Put(d event.Decision) (changed, refused bool)
	// DeleteEnding deletes p's decision if it ends at until, and reports
	// whether it did.
	DeleteEnding(p netip.Prefix, until time.Time) bool
}

// Own reads back this host's own live bans (its store), to put back a ban
// the central's decision had replaced and then lifted.
type Own func(ctx context.Context) ([]event.Decision, error)

// EchoSlack is how much later than a live decision on the same scope a
// decision from the central must end to replace it: this host's own ban,
// reported and coming back, ends a moment later on the central's count
// and is not worth replacing in the firewall.
const EchoSlack = 2 * time.Second

// logEach is the most decisions received at once that are logged one by
// one; a snapshot of thousands is summed up in one line.
const logEach = 20

// SetSink is the Sink that puts a central API's decisions into the
// agent's decision set, and so into its firewall. They are not stored:
// the central keeps them and gives them again at every connection. The
// set's never-ban check applies to them as to any other decision.
type SetSink struct {
	Set    Set
	Own    Own
	Logger *slog.Logger // nil = discard
	// Changed, when set, is told of each decision that changed the set
	// (for the agent's metrics).
	Changed func(d *event.Decision)
}

var _ Sink = (*SetSink)(nil)

func (s *SetSink) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Add puts each decision into the set unless the set already holds one
// on its scope ending no more than EchoSlack earlier.
func (s *SetSink) Add(ds []event.Decision) {
	log := s.log()
	each := len(ds) <= logEach
	var changed, refused int
	for i := range ds {
		d := ds[i]
		if old, ok := s.Set.Get(d.Scope); ok && (old.Until.IsZero() || !d.Until.After(old.Until.Add(EchoSlack))) {
			continue
		}
		ch, ref := s.Set.Put(d)
		switch {
		case ch:
			changed++
			if s.Changed != nil {
				s.Changed(&d)
			}
			if each {
				log.Info("decision from the central API", "scope", d.Scope, "origin", d.Origin, "scenario", d.Scenario,
					"until", d.Until.UTC().Format(time.RFC3339))
			}
		case ref:
			refused++
			if each {
				log.Warn("decision from the central API not enforced: the scope is never banned here", "scope", d.Scope)
			}
		}
	}
	if !each {
		log.Info("decisions from the central API", "received", len(ds), "added_or_extended", changed, "never_banned_here", refused)
	}
}

// Delete lifts a scope only while the set holds the central's decision on
// it (this host's own ban on the same scope, whether kept or replaced, is
// not the central's to lift); a ban of this host's own that the central's
// outlasted is then put back.
func (s *SetSink) Delete(ds []event.Decision) {
	log := s.log()
	lifted := map[netip.Prefix]bool{}
	for _, d := range ds {
		cur, ok := s.Set.Get(d.Scope)
		if !ok || !cur.Until.Equal(d.Until) || cur.Origin != d.Origin || cur.Scenario != d.Scenario {
			continue
		}
		if s.Set.DeleteEnding(d.Scope, d.Until) {
			lifted[d.Scope] = true
			if len(ds) <= logEach {
				log.Info("decision lifted by the central API", "scope", d.Scope)
			}
		}
	}
	if len(lifted) == 0 {
		return
	}
	if len(ds) > logEach {
		log.Info("decisions lifted by the central API", "count", len(lifted))
	}
	if s.Own == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	own, err := s.Own(ctx)
	if err != nil {
		log.Error("report: reading this host's bans after a central deletion", "err", err)
		return
	}
	for i := range own {
		if lifted[own[i].Scope] {
			s.Set.Put(own[i])
		}
	}
}
