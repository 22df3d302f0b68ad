package tlsfiles

import (
	"context"
	"log/slog"
	"os"
)

// ReloadOn reads the certificates of servers again at each signal of
// reload (SIGHUP), until ctx ends. A pair that does not load is logged and
// the one in use kept.
func ReloadOn(ctx context.Context, reload <-chan os.Signal, servers []*Server, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reload:
		}
		if len(servers) == 0 {
			log.Info("agent: SIGHUP: no TLS certificate to read again")
		}
		for _, s := range servers {
			if err := s.Reload(); err != nil {
				log.Error("agent: SIGHUP: certificate not reloaded; keeping the one in use", "err", err)
				continue
			}
			leaf := s.Leaf()
			log.Info("agent: SIGHUP: certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
		}
	}
}
