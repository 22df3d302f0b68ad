package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/storeview"
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
		if pw, err = config.ReadSecretFile("password_file", rc.PasswordFile); err != nil {
			return nil, nil, fmt.Errorf("agent: report at %s:%d: %w", a.cfg.File, rc.Line, err)
		}
	}
	// Alerts stored before this start are complete: a batch's decisions
	// were committed with it, or never will be (the restart dropped them).
	q, err := storeview.NewQueue(ctx, a.st)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: report: %w", err)
	}
	a.queue = q
	r, err := report.New(report.Options{URL: rc.URL, Machine: rc.Machine, Password: pw,
		Queue: q, Time: a.clk, Logger: a.log,
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
		a.queue.Ready(id)
		a.rep.Notify()
	}
}
