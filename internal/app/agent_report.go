package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/store"
)

// reporter builds the reporter the configuration asks for, and the
// follower of the central's decisions when it receives them, or returns
// nils when it reports nothing.
func (a *agent) reporter(ctx context.Context) (*report.Reporter, *report.Follower, error) {
	rc := a.cfg.Report
	if rc.URL == "" {
		return nil, nil, nil
	}
	tr, err := a.centralTransport()
	if err != nil {
		return nil, nil, err
	}
	fol, err := a.follower(tr)
	if err != nil {
		return nil, nil, err
	}
	pw := rc.Password
	if rc.PasswordFile != "" {
		if pw, err = readSecretFile("password_file", rc.PasswordFile); err != nil {
			return nil, nil, fmt.Errorf("agent: report at %s:%d: %w", a.cfg.File, rc.Line, err)
		}
	}
	// Alerts stored before this start are complete: a batch's decisions
	// were committed with it, or never will be (the restart dropped them).
	q := &storeQueue{st: a.st}
	newest, err := a.st.Alerts(ctx, store.AlertFilter{Limit: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("agent: report: %w", err)
	}
	if len(newest) > 0 {
		q.ready.Store(newest[0].ID)
	}
	a.queue = q
	r, err := report.New(report.Options{URL: rc.URL, Machine: rc.Machine, Password: pw,
		Queue: q, Clock: a.now, Logger: a.log,
		Client: &http.Client{Timeout: report.DefaultTimeout, Transport: tr}})
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	return r, fol, nil
}

// alertsCommitted tells the reporter that the alerts up to id, and their
// decisions, are committed.
func (a *agent) alertsCommitted(id int64) {
	if a.rep != nil {
		a.queue.ready.Store(id)
		a.rep.Notify()
	}
}

// readSecretFile reads a file holding a secret (a machine password, a
// bouncer key), refusing one that users other than its owner and group may
// read; what names its configuration key in errors.
func readSecretFile(what, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s %s is readable by every user (mode %v); chmod o-r it", what, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	pw := string(bytes.TrimSpace(b))
	if pw == "" {
		return "", fmt.Errorf("%s %s is empty", what, path)
	}
	return pw, nil
}

// storeQueue is the reporter's queue over the agent's store: this host's
// alerts by id, their live decisions, and the mark in the offsets table.
//
// The agent commits a batch's alerts and then its decisions, in two
// transactions; ready is the highest alert id whose batch is fully
// committed, so that an alert is never sent (and the mark moved past it)
// before its decision is stored.
type storeQueue struct {
	st    *store.Store
	ready atomic.Int64
}

var _ report.Queue = (*storeQueue)(nil)

func (q *storeQueue) Pending(ctx context.Context, after int64, n int) ([]report.Alert, error) {
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

func (q *storeQueue) LoadMark(ctx context.Context) (report.Mark, error) {
	m, err := q.st.Marks(ctx)
	if err != nil {
		return report.Mark{}, err
	}
	return report.Mark{Instance: m.Report.Instance, Sent: m.Report.Sent}, nil
}

func (q *storeQueue) SaveMark(ctx context.Context, m report.Mark) error {
	return q.st.SaveReportMark(ctx, store.ReportMark{Instance: m.Instance, Sent: m.Sent})
}
