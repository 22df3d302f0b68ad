package lapi

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/herd-ips/herd/internal/store"
)

// decisions answers GET /v1/decisions from the mirror: a JSON array of the
// live decisions the query selects, ordered by id, or null when none (as
// CrowdSec answers). HEAD gets the status only.
func (s *Server) decisions(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r, false); !ok || s.notLoaded(w) {
		return
	}
	f, err := parseDecisionQuery(r.URL.RawQuery)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.now()
	var out []store.DecisionRecord
	m := s.m
	m.mu.RLock()
	if f.ip.IsValid() {
		// The usual live-mode query: a handful of map probes.
		ids := m.covering(nil, f.ip)
		for _, id := range ids {
			if d := m.live[id]; d.Until.After(now) && f.match(&d) {
				out = append(out, d)
			}
		}
		slices.SortFunc(out, func(x, y store.DecisionRecord) int { return cmpInt(x.ID, y.ID) })
	} else {
		for _, d := range m.sortedLive(now) {
			if f.match(&d) {
				out = append(out, d)
			}
		}
	}
	m.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	if len(out) == 0 {
		_, _ = w.Write([]byte("null"))
		return
	}
	c := chunkWriter{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout, buf: make([]byte, 0, min(flushBytes+512, 256*len(out)))}
	c.buf = append(c.buf, '[')
	for i := range out {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendDecision(c.buf, &out[i], now)
		c.maybeFlush()
	}
	c.buf = append(c.buf, ']')
	c.flush()
}

// bouncerState is where one bouncer is in the decision stream.
type bouncerState struct {
	mu      sync.Mutex // one poll of a bouncer at a time
	started bool
	cursor  int64     // the store cursor its last answer reached
	last    time.Time // when that answer was computed
}

func (s *Server) bouncer(name string) *bouncerState {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	b, ok := s.bouncers[name]
	if !ok {
		b = &bouncerState{}
		s.bouncers[name] = b
	}
	return b
}

// stream answers GET /v1/decisions/stream with {"new":[...],"deleted":[...]}.
//
// With startup=true, or on a bouncer's first call since herd started, "new"
// holds every live decision the query selects and "deleted" is empty.
// Afterwards "new" holds the decisions added since the bouncer's previous
// answer and still live, and "deleted" those it was given that were deleted
// since or whose Until passed since (whether or not the store has marked
// them yet). A decision both added and gone between two polls appears in
// neither. HEAD answers the status and leaves the cursor where it is.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	name, ok := s.authenticate(w, r, false)
	if !ok || s.notLoaded(w) {
		return
	}
	f, err := parseStreamQuery(r.URL.RawQuery)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		return
	}
	b := s.bouncer(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	// Bring the mirror up to at least the bouncer's cursor, so that every
	// decision it was given and that is still live is in the mirror.
	if err := s.Sync(r.Context()); err != nil {
		s.log.Error("lapi: stream", "bouncer", name, "err", err)
		writeMessage(w, http.StatusInternalServerError, "internal error")
		return
	}
	now := s.now()
	var added, deleted []store.DecisionRecord
	var cursor int64
	m := s.m
	if f.startup || !b.started {
		m.mu.RLock()
		added, cursor = m.sortedLive(now), m.cursor
		m.mu.RUnlock()
	} else {
		var gone []store.DecisionRecord
		added, gone, err = s.st.DecisionsSince(r.Context(), b.cursor)
		if err != nil {
			s.log.Error("lapi: stream", "bouncer", name, "err", err)
			writeMessage(w, http.StatusInternalServerError, "internal error")
			return
		}
		cursor = store.NextCursor(b.cursor, added, gone)
		seen := make(map[int64]struct{}, len(gone))
		for _, d := range gone {
			// One whose Until passed before the previous answer was
			// reported then as expired, or never given.
			if d.Until.After(b.last) {
				deleted = append(deleted, d)
				seen[d.ID] = struct{}{}
			}
		}
		m.mu.RLock()
		for _, d := range m.live {
			if _, dup := seen[d.ID]; !dup && d.ID <= b.cursor && d.Until.After(b.last) && !d.Until.After(now) {
				deleted = append(deleted, d)
			}
		}
		m.mu.RUnlock()
	}

	w.Header().Set("Content-Type", "application/json")
	c := chunkWriter{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout, buf: make([]byte, 0, 4096)}
	c.buf = append(c.buf, `{"new":[`...)
	n := 0
	for i := range added {
		d := &added[i]
		if !d.Until.After(now) || !f.match(d) {
			continue
		}
		if n > 0 {
			c.buf = append(c.buf, ',')
		}
		n++
		c.buf = appendDecision(c.buf, d, now)
		c.maybeFlush()
	}
	c.buf = append(c.buf, `],"deleted":[`...)
	n = 0
	for i := range deleted {
		d := &deleted[i]
		if !f.match(d) {
			continue
		}
		if n > 0 {
			c.buf = append(c.buf, ',')
		}
		n++
		c.buf = appendDecision(c.buf, d, now)
		c.maybeFlush()
	}
	c.buf = append(c.buf, "]}"...)
	c.flush()
	if c.err != nil {
		// The bouncer did not get it: it will be given the same changes
		// again, as CrowdSec does when an answer fails.
		return
	}
	b.started, b.cursor, b.last = true, cursor, now
}
