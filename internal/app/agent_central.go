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
	f, err := report.NewFollower(report.FollowOptions{URL: rc.URL, Key: key, Sink: centralSink{a},
		Client: &http.Client{Transport: tr}, Clock: a.now, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return f, nil
}

// echoSlack is how much later than a live decision on the same scope a
// decision from the central must end to replace it.
const echoSlack = 2 * time.Second

// centralLogEach is the most decisions received at once that are logged
// one by one.
const centralLogEach = 20

// centralSink puts the central API's decisions into the agent's decision
// set, and so into its firewall. They are not stored here: the central
// keeps them, and gives them again at every connection. The set's
// never-ban check applies to them as to any other decision.
type centralSink struct{ a *agent }

func (s centralSink) Add(ds []event.Decision) {
	a := s.a
	// One line per decision for the changes of everyday; a snapshot of
	// thousands is summed up in one.
	each := len(ds) <= centralLogEach
	var changed, refused int
	for i := range ds {
		d := ds[i]
		// This host's own ban, reported and coming back, ends a moment
		// later on the central's count: not worth replacing in the
		// firewall.
		if old, ok := a.set.Get(d.Scope); ok && (old.Until.IsZero() || !d.Until.After(old.Until.Add(echoSlack))) {
			continue
		}
		v := a.set.Add(d)
		a.m.fromStore(&d, v)
		switch v {
		case decision.Added, decision.Extended:
			changed++
			if each {
				a.log.Info("decision from the central API", "scope", d.Scope, "origin", d.Origin, "scenario", d.Scenario,
					"until", d.Until.UTC().Format(time.RFC3339), "result", v.String())
			}
		case decision.Refused:
			refused++
			if each {
				a.log.Warn("decision from the central API not enforced: the scope is never banned here", "scope", d.Scope)
			}
		}
	}
	if !each {
		a.log.Info("decisions from the central API", "received", len(ds), "added_or_extended", changed, "never_banned_here", refused)
	}
}

// Delete lifts a scope only while the set holds the central's decision
// on it (this host's own ban on the same scope, whether kept or replaced,
// is not the central's to lift); a ban of this host's own store that the
// central's outlasted is then put back.
func (s centralSink) Delete(ds []event.Decision) {
	a := s.a
	lifted := map[netip.Prefix]bool{}
	for _, d := range ds {
		cur, ok := a.set.Get(d.Scope)
		if !ok || !cur.Until.Equal(d.Until) || cur.Origin != d.Origin || cur.Scenario != d.Scenario {
			continue
		}
		if a.set.DeleteEnding(d.Scope, d.Until) {
			lifted[d.Scope] = true
			if len(ds) <= centralLogEach {
				a.log.Info("decision lifted by the central API", "scope", d.Scope)
			}
		}
	}
	if len(lifted) == 0 {
		return
	}
	if len(ds) > centralLogEach {
		a.log.Info("decisions lifted by the central API", "count", len(lifted))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	live, err := a.st.LiveDecisions(ctx, a.now())
	if err != nil {
		a.log.Error("agent: reading this host's bans after a central deletion", "err", err)
		return
	}
	for i := range live {
		if lifted[live[i].Scope] {
			a.set.Add(live[i].Decision)
		}
	}
}
