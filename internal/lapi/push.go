package lapi

import (
	"crypto/sha256"
	"net/http"
	"strconv"
	"time"

	"github.com/herd-ips/herd/internal/store"
)

// snapshotChunk is how many decisions one snapshot event carries.
const snapshotChunk = 1000

// subscriber is one push-stream client. Sync sends it each change as one
// ready-to-write event; when its buffer is full Sync closes ch and forgets
// it, and the client, disconnected, reconnects for a fresh snapshot. revoke
// closes ch too when the bouncer's key is no longer registered.
type subscriber struct {
	ch      chan []byte
	bouncer string            // who opened the stream
	digest  [sha256.Size]byte // with which key (HashKey)
}

// fanOut sends ev to every subscriber. The caller holds m.mu for writing,
// so that a subscriber registering gets either a snapshot without this
// change and then the change, or a snapshot with it.
func (m *mirror) fanOut(ev []byte) {
	for sub := range m.subs {
		select {
		case sub.ch <- ev:
		default:
			close(sub.ch)
			delete(m.subs, sub)
		}
	}
}

// deltaEvent encodes one change as a server-sent event:
//
//	event: delta
//	id: <cursor>
//	data: {"cursor":N,"new":[...],"deleted":[...]}
func deltaEvent(cursor int64, in, out []store.DecisionRecord, now time.Time) []byte {
	b := make([]byte, 0, 64+256*(len(in)+len(out)))
	b = append(b, "event: delta\nid: "...)
	b = strconv.AppendInt(b, cursor, 10)
	b = append(b, "\ndata: {\"cursor\":"...)
	b = strconv.AppendInt(b, cursor, 10)
	b = append(b, `,"new":`...)
	b = appendList(b, in, now)
	b = append(b, `,"deleted":`...)
	b = appendList(b, out, now)
	return append(b, "}\n\n"...)
}

func appendList(b []byte, ds []store.DecisionRecord, now time.Time) []byte {
	b = append(b, '[')
	for i := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDecision(b, &ds[i], now)
	}
	return append(b, ']')
}

// push answers GET /v1/herd/stream, herd's own push stream of server-sent
// events. On connect it sends the live decisions as one or more "snapshot"
// events ({"new":[...]}, at most snapshotChunk each) and a "ready" event
// ({"cursor":N}); then one "delta" event per change ({"cursor":N,"new":[...],
// "deleted":[...]}), and a comment line every Options.KeepAlive. Events carry
// the stream cursor as their id. A client that falls subscriberBuffer changes
// behind is disconnected; on reconnecting it gets a fresh snapshot. The
// stream ends within Options.KeyRefresh of its bouncer's deletion.
//
// The stream has no read deadline (net/http clears it once the request is
// read; push says so again); each event must be taken by the client within
// the server's write timeout, renewed per event.
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	name, ok := s.authenticate(w, r, false)
	if !ok || s.notLoaded(w) {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeMessage(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	sub := &subscriber{ch: make(chan []byte, subscriberBuffer), bouncer: name,
		digest: sha256.Sum256([]byte(r.Header.Get("X-Api-Key")))}
	now := s.now()
	m := s.m
	m.mu.Lock()
	if len(m.subs) >= s.maxSubs {
		m.mu.Unlock()
		writeMessage(w, http.StatusServiceUnavailable, "too many stream clients")
		return
	}
	m.subs[sub] = struct{}{}
	snap, cursor := m.sortedLive(now), m.cursor
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if _, ok := m.subs[sub]; ok {
			delete(m.subs, sub)
		}
		m.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx in front: do not buffer
	w.WriteHeader(http.StatusOK)
	c := chunkWriter{w: w, rc: rc, timeout: s.writeTimeout, buf: make([]byte, 0, flushBytes+4096)}
	for start := 0; start < len(snap); start += snapshotChunk {
		c.buf = append(c.buf, "event: snapshot\ndata: {\"new\":"...)
		c.buf = appendList(c.buf, snap[start:min(start+snapshotChunk, len(snap))], now)
		c.buf = append(c.buf, "}\n\n"...)
		c.maybeFlush()
	}
	c.buf = append(c.buf, "event: ready\nid: "...)
	c.buf = strconv.AppendInt(c.buf, cursor, 10)
	c.buf = append(c.buf, "\ndata: {\"cursor\":"...)
	c.buf = strconv.AppendInt(c.buf, cursor, 10)
	c.buf = append(c.buf, "}\n\n"...)
	c.flush()
	if c.err != nil {
		return
	}
	fl.Flush()
	snap = nil

	t := s.clk.NewTicker(s.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				return // fell behind, or revoked
			}
			_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
			if _, err := w.Write(ev); err != nil {
				return
			}
		case <-t.C():
			_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		}
		fl.Flush()
	}
}
