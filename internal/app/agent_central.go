package app

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// centralTransport returns the HTTP transport to the central API: its
// certificate verified with report.ca_file, or the system roots.
func (a *agent) centralTransport() (*http.Transport, error) {
	rc := a.cfg.Report
	tc, err := tlsfiles.ClientConfig(rc.CAFile)
	if err != nil {
		return nil, fmt.Errorf("agent: report.ca_file at %s:%d: %w", a.cfg.File, rc.Line, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.ResponseHeaderTimeout = report.DefaultTimeout
	return tr, nil
}

// follower builds the follower of the central API's decisions, or returns
// nil when the configuration does not receive them (report.receive).
func (a *agent) follower(tr *http.Transport) (*report.Follower, error) {
	rc := a.cfg.Report
	if rc.URL == "" || !rc.Receive {
		return nil, nil
	}
	key := rc.BouncerKey
	if rc.BouncerKeyFile != "" {
		var err error
		if key, err = readSecretFile("bouncer_key_file", rc.BouncerKeyFile); err != nil {
			return nil, fmt.Errorf("agent: report at %s:%d: %w", a.cfg.File, rc.Line, err)
		}
	}
	f, err := report.NewFollower(report.FollowOptions{URL: rc.URL, Key: key, Sink: a.centralSink(),
		Client: &http.Client{Transport: tr}, Clock: a.now, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return f, nil
}

// setView is the decision set as report.SetSink declares it.
type setView struct{ s *decision.Set }

func (v setView) Get(p netip.Prefix) (event.Decision, bool) { return v.s.Get(p) }

func (v setView) Put(d event.Decision) (changed, refused bool) {
	verdict := v.s.Add(d)
	return verdict == decision.Added || verdict == decision.Extended, verdict == decision.Refused
}

func (v setView) DeleteEnding(p netip.Prefix, until time.Time) bool {
	return v.s.DeleteEnding(p, until)
}

// centralSink puts the central API's decisions into the agent's set.
func (a *agent) centralSink() *report.SetSink {
	return &report.SetSink{
		Set:    setView{a.set},
		Logger: a.log,
		Own: func(ctx context.Context) ([]event.Decision, error) {
			live, err := a.st.LiveDecisions(ctx, a.now())
			out := make([]event.Decision, len(live))
			for i := range live {
				out[i] = live[i].Decision
			}
			return out, err
		},
		Changed: func(d *event.Decision) { a.m.Metrics().Decision(d.Scenario, d.Origin) },
	}
}
