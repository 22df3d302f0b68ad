package detect_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/evidence"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

func newDetector(t testing.TB, loc *time.Location, ref time.Time) *detect.Detector {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(detect.Options{
		Rules: set, Location: loc, Reference: ref,
		NeverBan: ipx.NewNeverBan(nil, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newEvidenceDetector(t testing.TB, ref time.Time) *detect.Detector {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(detect.Options{
		Rules: set, Location: time.UTC, Reference: ref,
		NeverBan: ipx.NewNeverBan(nil, nil), Evidence: detect.DefaultEvidence,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Interleaved attackers: each alert carries the lines of its own source
// that fed it, in order, as many as it counted events; none of another
// source, none of an earlier fill, none that fed no scenario of it.
func TestAlertsCarryTheirLines(t *testing.T) {
	d := newEvidenceDetector(t, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	attackers := []netip.Addr{
		netip.MustParseAddr("192.0.2.7"),
		netip.MustParseAddr("198.51.100.23"),
		netip.MustParseAddr("203.0.113.5"),
	}
	fed := map[netip.Addr][]string{}
	type got struct {
		scenario string
		events   int
		lines    []string
	}
	alerts := map[netip.Addr][]got{}
	feed := func(line string) {
		res := d.Line([]byte(line), "")
		for _, oc := range res.Outcomes {
			alerts[oc.Alert.Source] = append(alerts[oc.Alert.Source], got{oc.Alert.Scenario, oc.Alert.Events, oc.Lines})
		}
	}
	// An hour earlier, a failure of the first attacker: its bucket has
	// leaked since, so it is no evidence for the alert to come.
	feed("Nov 23 09:00:00 web sshd[100]: Failed password for root from 192.0.2.7 port 30000 ssh2")
	for round := range 8 {
		for i, a := range attackers {
			line := fmt.Sprintf("Nov 23 10:00:%02d web sshd[%d]: Failed password for root from %s port %d ssh2", round, 200+i, a, 40000+round)
			if round < 6 || i != 0 {
				feed(line)
				fed[a] = append(fed[a], line)
			}
			// Noise between them: a user logging in, an unrelated
			// failure, a line no parser takes.
			feed(fmt.Sprintf("Nov 23 10:00:%02d web sshd[300]: Accepted password for alice from 198.51.100.%d port 50000 ssh2", round, 100+i))
			feed(fmt.Sprintf("Nov 23 10:00:%02d web sshd[301]: Failed password for bob from 198.51.100.%d port %d ssh2", round, 200+round, 50000+i))
			feed(fmt.Sprintf("Nov 23 10:00:%02d web cron[1]: job ran for %s", round, a))
		}
	}
	for _, a := range attackers {
		as := alerts[a]
		if len(as) != 1 || as[0].scenario != "ssh-bruteforce" {
			t.Fatalf("%s: alerts %+v, want one ssh-bruteforce", a, as)
		}
		al := as[0]
		if len(al.lines) != al.events {
			t.Errorf("%s: %d lines for %d events:\n%s", a, len(al.lines), al.events, strings.Join(al.lines, "\n"))
		}
		// The lines of the fill: the source's first events of the burst.
		if want := fed[a][:al.events]; !slices.Equal(al.lines, want) {
			t.Errorf("%s: lines\n%s\nwant\n%s", a, strings.Join(al.lines, "\n"), strings.Join(want, "\n"))
		}
	}
	if len(alerts) != len(attackers) {
		t.Errorf("alerts of %d sources, want %d: %+v", len(alerts), len(attackers), alerts)
	}
}

// More events than an alert keeps: the newest evidence.MaxLines, the one
// that raised the alert last.
func TestAlertLinesAreBounded(t *testing.T) {
	d := newEvidenceDetector(t, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	var fed []string
	var lines []string
	events := 0
	// ssh-slow-bruteforce: capacity 10, one leaks a minute. One failure
	// every 50 seconds raises the level by a sixth each time, so the fill
	// counts some 60 events before it overflows.
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := 0; events == 0 && i < 200; i++ {
		l := fmt.Sprintf("%s web sshd[7]: Failed password for root from 192.0.2.9 port %d ssh2", t0.Add(time.Duration(i)*50*time.Second).Format(time.Stamp), 40000+i)
		fed = append(fed, l)
		for _, oc := range d.Line([]byte(l), "").Outcomes {
			if oc.Alert.Scenario == "ssh-slow-bruteforce" {
				lines, events = oc.Lines, oc.Alert.Events
			}
		}
	}
	if events <= 32 {
		t.Fatalf("ssh-slow-bruteforce counted %d events; the test needs more than 32", events)
	}
	if want := fed[len(fed)-32:]; !slices.Equal(lines, want) {
		t.Errorf("got %d lines, want the newest 32 of %d events:\n%s", len(lines), events, strings.Join(lines, "\n"))
	}
}

// herd.yaml's alert_lines_bytes states the evidence ring's bounds.
func TestAlertLinesBytesBounds(t *testing.T) {
	if config.DefaultAlertLinesBytes != detect.DefaultEvidence || config.MinAlertLinesBytes != evidence.MinBytes {
		t.Errorf("config says %d (min %d), the evidence ring %d (min %d)",
			config.DefaultAlertLinesBytes, config.MinAlertLinesBytes, detect.DefaultEvidence, evidence.MinBytes)
	}
}
