package decision

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

// Ended is a decision the stream says was deleted: its scope and the end
// it had, so that only that decision leaves the set (not a longer one
// taken since on the same scope).
type Ended struct {
	Scope netip.Prefix
	Until time.Time
}

// Stream is a store's decision change stream as Follow reads it (declared
// here; the agent adapts its store). Since returns what was added and
// deleted after cursor, and the cursor to ask from next.
type Stream interface {
	Since(ctx context.Context, cursor int64) (added []event.Decision, deleted []Ended, next int64, err error)
}

// DefaultFollowEvery is how often Follow reads the stream by default.
const DefaultFollowEvery = time.Second

// FollowOptions configures Follow.
type FollowOptions struct {
	Stream Stream
	Cursor int64         // where to start; read before the set was loaded, so nothing is missed
	Every  time.Duration // 0 = DefaultFollowEvery
	Logger *slog.Logger  // nil = discard
	// Changed, when set, is told that a read found changes (the local API
	// reads its own view again).
	Changed func()
	// Added, when set, is told of every added decision and the set's
	// verdict (the agent's metrics).
	Added func(d *event.Decision, v Verdict)
	// Clock runs the ticker; nil = clock.Real.
	Clock clock.Clock
}

// Follow keeps s in step with a store's decision stream until ctx ends:
// decisions added by others (herd decisions add, another agent sharing the
// database) enter the set, deleted ones leave it. A failed read is logged
// and tried again at the next tick.
func (s *Set) Follow(ctx context.Context, o FollowOptions) error {
	if o.Every <= 0 {
		o.Every = DefaultFollowEvery
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cursor := o.Cursor
	t := clock.Or(o.Clock).NewTicker(o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		added, deleted, next, err := o.Stream.Since(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("agent: polling the decision stream", "err", err)
			}
			continue
		}
		cursor = next
		if len(added)+len(deleted) > 0 && o.Changed != nil {
			o.Changed()
		}
		for i := range added {
			d := &added[i]
			v := s.Add(*d)
			if o.Added != nil {
				o.Added(d, v)
			}
			switch v {
			case Added, Extended:
				log.Info("decision from the store", "scope", d.Scope, "origin", d.Origin, "until", d.Until, "result", v.String())
			case Refused, Invalid:
				log.Info("decision from the store", "scope", d.Scope, "origin", d.Origin, "until", d.Until, "result", v.String(), "reason", Reason(*d, v, s.now()))
			}
		}
		for _, e := range deleted {
			if s.DeleteEnding(e.Scope, e.Until) {
				log.Info("decision deleted", "scope", e.Scope)
			}
		}
	}
}
