package app

import (
	"fmt"
	"github.com/herd-ips/herd/internal/storeview"
	"net/http"

	"github.com/herd-ips/herd/internal/config"
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
		if key, err = config.ReadSecretFile("bouncer_key_file", rc.BouncerKeyFile); err != nil {
			return nil, fmt.Errorf("agent: report at %s:%d: %w", a.cfg.File, rc.Line, err)
		}
	}
	f, err := report.NewFollower(report.FollowOptions{URL: rc.URL, Key: key, Sink: a.centralSink(),
		Client: &http.Client{Transport: tr}, Time: a.clk, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return f, nil
}

// centralSink puts the central API's decisions into the agent's set.
func (a *agent) centralSink() *report.SetSink {
	return &report.SetSink{
		Set:     storeview.SetView{S: a.set},
		Logger:  a.log,
		Own:     storeview.Own(a.st, a.now),
		Changed: func(d *event.Decision) { a.m.Metrics().Decision(d.Scenario, d.Origin) },
	}
}
