package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
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

// TestNotifications sends one sample notification (a ban of 192.0.2.1, a
// documentation address, by the scenario "herd-notify-test") through every
// configured channel and writes, per channel, whether it was delivered
// (herd notify test). A failure is retried as in the agent, within
// notify.DrainTimeout.
func TestNotifications(ctx context.Context, cfg *config.Config, clk clock.Clock, out io.Writer) error {
	if len(cfg.Notifications) == 0 {
		return fmt.Errorf("notify test: %s configures no notifications", cmp.Or(cfg.File, "the configuration"))
	}
	specs := make([]notify.Spec, 0, len(cfg.Notifications))
	for _, c := range cfg.Notifications {
		s, err := notifySpec(c)
		if err != nil {
			return fmt.Errorf("notify test: %q: %w", c.Name, err)
		}
		specs = append(specs, s)
	}
	n, err := notify.New(specs, notify.Options{Time: clk})
	if err != nil {
		return fmt.Errorf("notify test: %w", err)
	}
	now := clock.Or(clk).Now().UTC()
	src := netip.MustParseAddr("192.0.2.1")
	scope := netip.PrefixFrom(src, 32)
	n.Notify(notify.Note{
		Alert:    event.Alert{Scenario: "herd-notify-test", Source: src, Scope: scope, First: now, Last: now, Events: 1, Remedy: true},
		Decision: event.Decision{Type: event.Ban, Scope: scope, Duration: time.Minute, Until: now.Add(time.Minute), Scenario: "herd-notify-test", Origin: event.OriginCLI},
		Decided:  true, Verdict: "decided",
		Lines: []string{"herd notify test: this is a test notification"},
	})
	stopped, cancel := context.WithCancel(ctx)
	cancel() // Run delivers what is queued, then returns
	n.Run(stopped)
	failed := 0
	for _, c := range cfg.Notifications {
		s := n.Stats()[c.Name]
		state := "delivered"
		if s.Sent == 0 {
			state, failed = "NOT delivered (see the log above)", failed+1
		}
		fmt.Fprintf(out, "%s (%s): %s\n", c.Name, c.Type, state)
	}
	if failed > 0 {
		return fmt.Errorf("notify test: %d of %d channels failed", failed, len(cfg.Notifications))
	}
	return nil
}
