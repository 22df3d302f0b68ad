package app

import (
	"context"
	"fmt"
	"os"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/notify"
)

// startNotify builds the notification channels of the configuration and
// runs them as a job; the line pipeline hands them each outcome
// (notifyOutcome). Their counts are exported as herd_notifications_total.
func (a *agent) startNotify(context.Context) (func(), error) {
	if len(a.cfg.Notifications) == 0 {
		return nil, nil
	}
	specs := make([]notify.Spec, 0, len(a.cfg.Notifications))
	for _, c := range a.cfg.Notifications {
		s, err := notifySpec(c)
		if err != nil {
			return nil, fmt.Errorf("agent: notification %q (%s:%d): %w", c.Name, a.cfg.File, c.Line, err)
		}
		specs = append(specs, s)
	}
	n, err := notify.New(specs, notify.Options{Time: a.clk, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.notifier = n
	a.m.Metrics().Notifications(func() map[string]metrics.NotifyCounts {
		out := map[string]metrics.NotifyCounts{}
		for name, s := range n.Stats() {
			out[name] = metrics.NotifyCounts{Sent: s.Sent, Failed: s.Failed, Dropped: s.Dropped, Retried: s.Retried, Digests: s.Digests}
		}
		return out
	})
	a.run(n.Run)
	a.log.Info("agent: notifications on", "channels", n.Len())
	return nil, nil
}

// notifySpec turns a configured channel into the notifier's spec, reading
// its password and CA files.
func notifySpec(c config.Notification) (notify.Spec, error) {
	s := notify.Spec{Name: c.Name, Type: c.Type, URL: c.URL, Alerts: c.Alerts, Title: c.Title, Body: c.Body,
		Rate: c.Rate, Window: c.Window, Retries: c.Retries, Backoff: c.Backoff}
	if c.TokenFile != "" {
		tok, err := config.ReadSecretFile("notification token_file", c.TokenFile)
		if err != nil {
			return s, err
		}
		s.Token = tok
	}
	if c.Type != notify.TypeEmail {
		return s, nil
	}
	s.Email = notify.Email{Addr: c.SMTP, From: c.From, To: c.To, Username: c.Username, PlainText: c.PlainText}
	if c.PasswordFile != "" {
		p, err := config.ReadSecretFile("notification password_file", c.PasswordFile)
		if err != nil {
			return s, err
		}
		s.Email.Password = p
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return s, err
		}
		s.Email.RootCAs = b
	}
	return s, nil
}

// notifyOutcome hands an alert and its decision to the notifier, without
// blocking (a full channel drops it and counts it).
func (a *agent) notifyOutcome(oc *detect.Outcome) {
	if a.notifier == nil {
		return
	}
	a.notifier.Notify(notify.Note{Alert: oc.Alert, Decision: oc.Decision, Decided: oc.Decided(), Verdict: oc.Verdict.String(), Lines: oc.Lines})
}
