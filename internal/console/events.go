package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/herd-ips/herd/internal/store"
)

// streamBatch is how many new alerts one look at the store sends at most.
const streamBatch = 100

// events is the live stream (Server-Sent Events): an "alert" event for
// each alert stored after the stream opened (or after Last-Event-ID, when
// the browser reconnects), oldest first, and a "decisions" event when the
// decisions changed. It wakes when the agent calls Notify, and every
// streamPoll for alerts stored by other processes.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	// The stream outlives the server's write timeout (none is set) but not
	// the session: it ends when the session does.
	ctx := r.Context()
	last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if err != nil {
		as, err := s.o.Store.Alerts(ctx, store.AlertFilter{Limit: 1, NoLines: true})
		if err != nil {
			s.fail(w, err)
			return
		}
		last = 0
		if len(as) > 0 {
			last = as[0].ID
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: {\"last\":%d}\n\n", last)
	fl.Flush()
	tick := s.clk.NewTicker(streamPoll)
	defer tick.Stop()
	beats := 0
	for {
		changed := s.wait()
		as, err := s.o.Store.Alerts(ctx, store.AlertFilter{Limit: streamBatch, NoLines: true})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("console: live stream", "err", err)
			}
			return
		}
		slices.Reverse(as) // oldest first
		for i := range as {
			if as[i].ID <= last {
				continue
			}
			b, err := json.Marshal(viewAlert(&as[i]))
			if err != nil {
				return
			}
			fmt.Fprintf(w, "id: %d\nevent: alert\ndata: %s\n\n", as[i].ID, b)
			last = as[i].ID
		}
		fl.Flush()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			fmt.Fprint(w, "event: decisions\ndata: {}\n\n")
		case <-tick.C():
			if beats++; beats%8 == 0 {
				fmt.Fprint(w, ": keep-alive\n\n")
			}
			if id, _ := s.current(r); id == "" {
				return // logged out or expired
			}
		}
	}
}
