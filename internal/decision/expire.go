package decision

import (
	"context"
	"log/slog"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Expirer is a store whose ended decisions ExpireEvery deletes.
type Expirer interface {
	ExpireDecisions(ctx context.Context, now time.Time) (int, error)
}

// ExpireOptions configure ExpireEvery.
type ExpireOptions struct {
	Every   time.Duration // how often
	Store   Expirer       // nil: the set alone
	Clock   clock.Clock   // the ticker's and the store's time; nil = clock.Real
	Changed func()        // called when the store deleted decisions; may be nil
	Logger  *slog.Logger
}

// ExpireEvery, until ctx ends, takes the ended decisions out of the set
// (and so the firewall, which also expires them by itself) and the store
// every o.Every. A store error is logged and retried at the next tick.
func (s *Set) ExpireEvery(ctx context.Context, o ExpireOptions) error {
	clk := clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := clk.NewTicker(o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if ended := s.Expire(); len(ended) > 0 {
			o.Logger.Info("agent: decisions ended", "count", len(ended))
		}
		if o.Store == nil {
			continue
		}
		if n, err := o.Store.ExpireDecisions(ctx, clk.Now()); err != nil && ctx.Err() == nil {
			o.Logger.Error("agent: expiring stored decisions", "err", err)
		} else if n > 0 && o.Changed != nil {
			o.Changed()
		}
	}
}
