// Package storeview is the agent's store and decision set as each part
// declares them: the
// report queue (report.Queue), the decision change stream (decision.Follow),
// the holders of the hub's lists (blocklist.Store), and the commit of a
// detector's batch. Each view converts between the store's rows and the
// parts' event values; none holds logic of its own beyond that.
package storeview

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/store"
)

// Queue is the reporter's queue over the agent's store: this host's
// alerts by id, their live decisions, and the mark in the offsets table.
//
// The agent commits a batch's alerts and then its decisions, in two
// transactions; ready is the highest alert id whose batch is fully
// committed, so that an alert is never sent (and the mark moved past it)
// before its decision is stored.
type Queue struct {
	st    *store.Store
	ready atomic.Int64
}

var _ report.Queue = (*Queue)(nil)

func (q *Queue) Pending(ctx context.Context, after int64, n int) ([]report.Alert, error) {
	recs, err := q.st.LocalAlertsAfter(ctx, after, n)
	if err != nil {
		return nil, err
	}
	ready := q.ready.Load()
	for i := range recs {
		if recs[i].ID > ready {
			recs = recs[:i]
			break
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	ds, err := q.st.DecisionsOfAlerts(ctx, ids)
	if err != nil {
		return nil, err
	}
	byAlert := make(map[int64][]event.Decision, len(ds))
	for i := range ds {
		byAlert[ds[i].AlertID] = append(byAlert[ds[i].AlertID], ds[i].Decision)
	}
	out := make([]report.Alert, len(recs))
	for i := range recs {
		out[i] = report.Alert{ID: recs[i].ID, Alert: recs[i].Alert, Lines: recs[i].Lines, Decisions: byAlert[recs[i].ID]}
	}
	return out, nil
}

func (q *Queue) LoadMark(ctx context.Context) (report.Mark, error) {
	m, err := q.st.Marks(ctx)
	if err != nil {
		return report.Mark{}, err
	}
	return report.Mark{Instance: m.Report.Instance, Sent: m.Report.Sent}, nil
}

func (q *Queue) SaveMark(ctx context.Context, m report.Mark) error {
	return q.st.SaveReportMark(ctx, store.ReportMark{Instance: m.Instance, Sent: m.Sent})
}

// NewQueue returns the queue over st. Alerts stored before it are
// complete: a batch's decisions were committed with it, or never will be
// (a restart dropped them).
func NewQueue(ctx context.Context, st *store.Store) (*Queue, error) {
	q := &Queue{st: st}
	newest, err := st.Alerts(ctx, store.AlertFilter{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(newest) > 0 {
		q.ready.Store(newest[0].ID)
	}
	return q, nil
}

// Ready says the alerts up to id, and their decisions, are committed.
func (q *Queue) Ready(id int64) { q.ready.Store(id) }

// Stream is the store's decision change stream as decision.Follow
// declares it.
type Stream struct{ St *store.Store }

func (s Stream) Since(ctx context.Context, cursor int64) ([]event.Decision, []decision.Ended, int64, error) {
	added, deleted, err := s.St.ChangesSince(ctx, cursor)
	if err != nil {
		return nil, nil, cursor, err
	}
	a := make([]event.Decision, len(added))
	for i := range added {
		a[i] = added[i].Decision
	}
	d := make([]decision.Ended, len(deleted))
	for i := range deleted {
		d[i] = decision.Ended{Scope: deleted[i].Scope, Until: deleted[i].Until}
	}
	return a, d, store.NextCursor(cursor, added, deleted), nil
}

// HubList is the store as blocklist.Holder declares it, saving the
// version held under mark.
type HubList struct {
	St   *store.Store
	Mark store.HubList
}

func (s HubList) AddDecisions(ctx context.Context, ds []event.Decision, created time.Time) ([]int64, error) {
	recs := make([]store.DecisionRecord, len(ds))
	for i := range ds {
		recs[i] = store.DecisionRecord{Decision: ds[i], Created: created}
	}
	return s.St.AddDecisions(ctx, recs)
}

func (s HubList) DeleteDecisions(ctx context.Context, ids []int64, origin string) error {
	_, err := s.St.DeleteDecisions(ctx, store.DecisionFilter{IDs: ids, Origin: origin})
	return err
}

func (s HubList) SaveVersion(ctx context.Context, version uint64, synced time.Time) error {
	return s.St.SaveHubMark(ctx, s.Mark, store.HubMark{Version: version, Synced: synced})
}

// Writer commits a detector's batches to the store, its storage reused
// from batch to batch.
type Writer struct {
	St *store.Store
	c  store.Batch
}

// Commit stores b in one transaction (store.CommitBatch) and returns the
// ids of its alerts; decided says a decision came with them.
func (w *Writer) Commit(ctx context.Context, b *detect.Batch) (ids []int64, decided bool, err error) {
	c := &w.c
	c.Alerts, c.Offsets = c.Alerts[:0], c.Offsets[:0]
	for i := range b.Alerts {
		pa := &b.Alerts[i]
		ba := store.BatchAlert{Alert: store.AlertRecord{Alert: pa.Alert, Lines: pa.Lines}}
		if pa.Decision != nil {
			ba.Decision = &store.DecisionRecord{Decision: *pa.Decision}
			decided = true
		}
		c.Alerts = append(c.Alerts, ba)
	}
	for _, p := range b.Offsets {
		c.Offsets = append(c.Offsets, store.Offset{Source: p.Path, Inode: p.Inode, Dev: p.Dev, Offset: p.Offset, Fingerprint: p.Fingerprint})
	}
	if len(b.Cursor) > 0 {
		c.Offsets = append(c.Offsets, store.JournalOffset(string(b.Cursor)))
	}
	ids, err = w.St.CommitBatch(ctx, *c)
	clear(c.Alerts) // drop the lines' references until the next batch
	return ids, decided, err
}

// Allowlist returns allow and the administrator's address of the first
// start: the one kept in st's marks, or, at a first start (an empty store)
// over SSH, the SSH client's address found by getenv, which it keeps in st
// for every later start.
func Allowlist(ctx context.Context, st *store.Store, allow []netip.Prefix, getenv func(string) string, log *slog.Logger) ([]netip.Prefix, error) {
	allow = append([]netip.Prefix(nil), allow...)
	m, err := st.Marks(ctx)
	if err != nil {
		return nil, err
	}
	if p := m.Admin; p.IsValid() {
		log.Info("agent: allowlisting the administrator's SSH address of the first start", "prefix", p)
		return append(allow, p), nil
	}
	cur, err := st.Cursor(ctx)
	if err != nil {
		return nil, err
	}
	if cur != 0 || !m.Empty() {
		return allow, nil // not a first start
	}
	p, ok := sshClient(getenv)
	if !ok {
		return allow, nil
	}
	if err := st.SaveAdmin(ctx, p); err != nil {
		return nil, err
	}
	log.Warn("agent: first start over SSH: the client address is allowlisted and kept in the store for every later start", "prefix", p)
	return append(allow, p), nil
}

// sshClient returns the client address of the SSH session getenv shows.
func sshClient(getenv func(string) string) (netip.Prefix, bool) {
	for _, name := range []string{"SSH_CONNECTION", "SSH_CLIENT"} {
		f := strings.Fields(getenv(name))
		if len(f) == 0 {
			continue
		}
		if ad, err := netip.ParseAddr(f[0]); err == nil {
			ad = ad.Unmap().WithZone("")
			return netip.PrefixFrom(ad, ad.BitLen()), true
		}
	}
	return netip.Prefix{}, false
}

// Own returns report.Own over st: this host's own live decisions at now().
func Own(st *store.Store, now func() time.Time) func(ctx context.Context) ([]event.Decision, error) {
	return func(ctx context.Context) ([]event.Decision, error) {
		live, err := st.LiveDecisions(ctx, now())
		out := make([]event.Decision, len(live))
		for i := range live {
			out[i] = live[i].Decision
		}
		return out, err
	}
}

// SetView is the decision set as report.SetSink declares it.
type SetView struct{ S *decision.Set }

func (v SetView) Get(p netip.Prefix) (event.Decision, bool) { return v.S.Get(p) }

func (v SetView) Put(d event.Decision) (changed, refused bool) {
	verdict := v.S.Add(d)
	return verdict == decision.Added || verdict == decision.Extended, verdict == decision.Refused
}

func (v SetView) DeleteEnding(p netip.Prefix, until time.Time) bool {
	return v.S.DeleteEnding(p, until)
}

// ListSet is the decision set as blocklist.Holder declares it.
type ListSet struct{ S *decision.Set }

func (v ListSet) Get(p netip.Prefix) (event.Decision, bool) { return v.S.Get(p) }
func (v ListSet) Delete(p netip.Prefix) bool                { return v.S.Delete(p) }
func (v ListSet) Put(d event.Decision) (refused, invalid bool) {
	verdict := v.S.Add(d)
	return verdict == decision.Refused, verdict == decision.Invalid
}
