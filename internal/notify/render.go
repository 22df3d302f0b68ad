package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/termtext"
)

// The default templates. They read View (DigestView for the digest).
const (
	DefaultTitle = `herd: {{if .Decided}}{{.Decision}} {{.Scope}}{{else}}alert {{.Source}}{{end}} ({{.Scenario}})`
	DefaultBody  = `{{.Scenario}} from {{.Source}}{{if .Country}} in {{.Country}}{{end}}{{if .ASN}} (AS{{.ASN}} {{.ASOrg}}){{end}}: {{.Events}} events from {{.First}} to {{.Last}}.
{{if .Decided}}Decision: {{.Decision}} {{.Scope}} for {{.Duration}}.{{else}}No decision ({{.Verdict}}).{{end}}
{{range .Lines}}> {{.}}
{{end}}`
	DefaultDigest = `herd: {{.Count}} more notifications within {{.Window}}:
{{range .Items}}- {{.Scenario}} from {{.Source}}{{if .Country}} ({{.Country}}){{end}}{{if .Decided}}: {{.Decision}} {{.Scope}} for {{.Duration}}{{end}}
{{end}}{{if .More}}… and {{.More}} more.
{{end}}`
)

// View is what a channel's templates see of a note. Every string is
// already escaped for the channel's medium, so a template cannot forget
// to: attacker-written text (Lines) above all.
type View struct {
	Scenario, Source, Scope string
	Country, ASOrg          string
	ASN                     uint32
	Events                  int
	First, Last             string // RFC 3339, UTC
	Decided                 bool
	Decision, Duration      string // "ban", "4h0m0s"
	Verdict                 string
	Lines                   []string
}

// DigestView is what the digest template sees.
type DigestView struct {
	Count  int    // notes folded into the digest
	Window string // the rate limit's window ("1m0s")
	Items  []View
	More   int // notes counted but not listed
}

// medium escapes text for where it is shown.
type medium struct {
	text  func(string) string // a value inserted into the body
	title func(string) string // the rendered title (a header line)
}

// plain is text shown as is: control characters, escape sequences and
// invalid UTF-8 become visible escapes (termtext).
func plain(s string) string { return termtext.String(s) }

// raw leaves text alone: the JSON encoder escapes it.
func raw(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// slackText escapes Slack's and Mattermost's mrkdwn control characters
// (&, <, >: what makes <!channel>, <@user> and links), after making
// control characters visible.
func slackText(s string) string {
	s = termtext.String(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxTitle bounds a title, in bytes.
const maxTitle = 200

// headerLine makes s fit on one header line: every control character
// (CR and LF above all) becomes a space, invalid UTF-8 is replaced, and
// it is cut to maxTitle bytes at a rune boundary.
func headerLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxTitle {
		n := maxTitle
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.TrimSpace(s)
}

// message is a rendered note or digest.
type message struct {
	Title, Text string
	Note        *Note // nil for a digest
	Digest      int   // notes in a digest
}

func (c *channel) view(nt *Note) View {
	e := c.medium.text
	a := &nt.Alert
	v := View{
		Scenario: e(a.Scenario), Source: e(addrText(a.Source)), Scope: e(prefixText(a)),
		Country: e(a.Geo.Country), ASOrg: e(a.Geo.ASOrg), ASN: a.Geo.ASN, Events: a.Events,
		First: a.First.UTC().Format(time.RFC3339), Last: a.Last.UTC().Format(time.RFC3339),
		Decided: nt.Decided, Verdict: e(nt.Verdict),
	}
	if nt.Decided {
		v.Decision, v.Duration = e(nt.Decision.Type.String()), nt.Decision.Duration.String()
		v.Scope = e(nt.Decision.Scope.String())
	}
	for _, l := range nt.Lines {
		v.Lines = append(v.Lines, e(l))
	}
	return v
}

func prefixText(a *event.Alert) string {
	if !a.Scope.IsValid() {
		return ""
	}
	return a.Scope.String()
}

func (c *channel) render(nt *Note) (*message, error) {
	v := c.view(nt)
	var title, body strings.Builder
	if err := c.title.Execute(&title, v); err != nil {
		return nil, err
	}
	if err := c.body.Execute(&body, v); err != nil {
		return nil, err
	}
	return &message{Title: c.medium.title(title.String()), Text: body.String(), Note: nt}, nil
}

func (c *channel) renderDigest(notes []Note, extra int, window time.Duration) *message {
	d := DigestView{Count: len(notes) + extra, Window: window.String(), More: extra}
	for i := range notes {
		d.Items = append(d.Items, c.view(&notes[i]))
	}
	var b strings.Builder
	if err := c.digest.Execute(&b, d); err != nil {
		b.WriteString(fmt.Sprintf("herd: %d more notifications", d.Count))
	}
	return &message{Title: c.medium.title(fmt.Sprintf("herd: %d more notifications", d.Count)), Text: b.String(), Digest: d.Count}
}
