package lapi

import (
	"context"
	"crypto/sha256"
)

// ReloadKeys reads the bouncers from the store again: keys of deleted
// bouncers stop authenticating at once, their open push streams end and
// their stream cursors are forgotten. Run calls it every
// Options.KeyRefresh; a caller that deletes a bouncer in this process may
// call it to act at once.
func (s *Server) ReloadKeys(ctx context.Context) {
	bs, err := s.st.Bouncers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("lapi: reload bouncers", "err", err)
		}
		return
	}
	s.revoke(s.keys.reload(bs))
}

// revoke ends the push streams whose key is no longer registered to the
// bouncer that opened them, and drops the stream cursors of bouncers gone.
func (s *Server) revoke(hashes map[[sha256.Size]byte]string) {
	names := make(map[string]struct{}, len(hashes))
	for _, n := range hashes {
		names[n] = struct{}{}
	}
	m := s.m
	var ended []string
	m.mu.Lock()
	for sub := range m.subs {
		if n, ok := hashes[sub.digest]; !ok || n != sub.bouncer {
			close(sub.ch)
			delete(m.subs, sub)
			ended = append(ended, sub.bouncer)
		}
	}
	m.mu.Unlock()
	for _, n := range ended {
		s.log.Info("lapi: bouncer key revoked: push stream closed", "bouncer", n)
	}
	s.bmu.Lock()
	for n := range s.bouncers {
		if _, ok := names[n]; !ok {
			delete(s.bouncers, n)
		}
	}
	s.bmu.Unlock()
}
