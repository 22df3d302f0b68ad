package notify

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// sampleNote is the note docs/notifications.md renders.
func sampleNote() Note {
	a := netip.MustParseAddr("203.0.113.45")
	at := time.Date(2026, 11, 22, 9, 0, 26, 0, time.UTC)
	return Note{
		Alert: event.Alert{Scenario: "ssh-bruteforce", Source: a, Scope: netip.PrefixFrom(a, 32), First: at.Add(-10 * time.Second), Last: at, Events: 6, Remedy: true,
			Geo: event.Geo{Country: "NL", ASN: 64496, ASOrg: "Example Hosting BV"}},
		Decision: event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(a, 32), Duration: 4 * time.Hour, Until: at.Add(4 * time.Hour), Scenario: "ssh-bruteforce", Origin: "herd"},
		Decided:  true, Verdict: "decided",
		Lines: []string{"Nov 22 09:00:26 web1 sshd[4242]: Failed password for <!channel> from 203.0.113.45 port 50000 ssh2"},
	}
}

// docBlock returns the body of the fenced block of docs/notifications.md
// whose info string is info.
func docBlock(t *testing.T, info string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "notifications.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```"+info+"\n")
	if !ok {
		t.Fatalf("docs/notifications.md has no ```%s block", info)
	}
	body, _, _ := strings.Cut(rest, "```\n")
	return body
}

// TestDocsExamples renders the sample note as docs/notifications.md shows
// it, for each medium.
func TestDocsExamples(t *testing.T) {
	nt := sampleNote()
	for _, c := range []struct {
		info string
		spec Spec
		show func(m *message) string
	}{
		{"text email-example", Spec{Name: "x", Type: TypeEmail, Email: Email{Addr: "h:587", From: "a@b", To: []string{"c@d"}}},
			func(m *message) string { return "Subject: " + m.Title + "\n\n" + m.Text }},
		{"json slack-example", Spec{Name: "x", Type: TypeSlack, URL: "https://h/"},
			func(m *message) string {
				b, _ := json.Marshal(map[string]string{"text": "*" + m.Title + "*\n" + m.Text})
				return string(b) + "\n"
			}},
		{"json webhook-example", Spec{Name: "x", Type: TypeWebhook, URL: "https://h/"},
			func(m *message) string {
				b, _ := json.MarshalIndent(webhookPayload(m), "", "  ")
				return string(b) + "\n"
			}},
	} {
		n, err := New([]Spec{c.spec}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := n.ch[0].render(&nt)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.show(m), docBlock(t, c.info); got != want {
			t.Errorf("```%s block shows\n%s\nbut the channel renders\n%s", c.info, want, got)
		}
	}
}
