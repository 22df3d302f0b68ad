package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPDoer sends HTTP requests (an *http.Client).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// sender delivers one message.
type sender interface {
	send(ctx context.Context, m *message) error
}

// httpSender posts to a webhook, a Slack or Mattermost incoming webhook, or
// an ntfy topic.
type httpSender struct {
	typ   string
	url   string
	token string
	do    HTTPDoer
}

func newHTTP(s Spec, o Options) (sender, medium, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, medium{}, fmt.Errorf("url %q is not an http(s) URL", s.URL)
	}
	do := o.HTTP
	if do == nil {
		do = &http.Client{Timeout: 30 * time.Second}
	}
	if strings.ContainsAny(s.Token, "\r\n") {
		return nil, medium{}, errors.New("token holds a line break")
	}
	h := &httpSender{typ: s.Type, url: s.URL, token: s.Token, do: do}
	switch s.Type {
	case TypeSlack:
		return h, medium{text: slackText, title: func(t string) string { return headerLine(t) }}, nil
	case TypeNtfy:
		return h, medium{text: plain, title: headerLine}, nil
	}
	return h, medium{text: raw, title: headerLine}, nil
}

// webhookBody is what a webhook channel posts.
type webhookBody struct {
	Title    string        `json:"title"`
	Text     string        `json:"text"`
	Digest   int           `json:"digest,omitempty"` // notes folded into this message
	Scenario string        `json:"scenario,omitempty"`
	Source   string        `json:"source,omitempty"`
	Country  string        `json:"country,omitempty"`
	ASN      uint32        `json:"asn,omitempty"`
	ASOrg    string        `json:"as_org,omitempty"`
	Events   int           `json:"events,omitempty"`
	First    *time.Time    `json:"first,omitempty"`
	Last     *time.Time    `json:"last,omitempty"`
	Decision *decisionBody `json:"decision,omitempty"`
	Verdict  string        `json:"verdict,omitempty"`
	Lines    []string      `json:"lines,omitempty"`
}

type decisionBody struct {
	Type     string    `json:"type"`
	Scope    string    `json:"scope"`
	Duration string    `json:"duration"`
	Until    time.Time `json:"until"`
}

func webhookPayload(m *message) webhookBody {
	b := webhookBody{Title: m.Title, Text: m.Text, Digest: m.Digest}
	if nt := m.Note; nt != nil {
		a := &nt.Alert
		first, last := a.First.UTC(), a.Last.UTC()
		b.Scenario, b.Source, b.Events, b.First, b.Last = a.Scenario, addrText(a.Source), a.Events, &first, &last
		b.Country, b.ASN, b.ASOrg = a.Geo.Country, a.Geo.ASN, raw(a.Geo.ASOrg)
		b.Verdict = nt.Verdict
		for _, l := range nt.Lines {
			b.Lines = append(b.Lines, raw(l))
		}
		if nt.Decided {
			b.Decision = &decisionBody{Type: nt.Decision.Type.String(), Scope: nt.Decision.Scope.String(),
				Duration: nt.Decision.Duration.String(), Until: nt.Decision.Until.UTC()}
		}
	}
	return b
}

func (h *httpSender) send(ctx context.Context, m *message) error {
	var body []byte
	var ctype string
	switch h.typ {
	case TypeWebhook:
		b, err := json.Marshal(webhookPayload(m))
		if err != nil {
			return permanentError{err}
		}
		body, ctype = b, "application/json"
	case TypeSlack:
		text := m.Text
		if m.Title != "" {
			// The title's fields were escaped for mrkdwn before the
			// template ran (View); escaping again would show "&amp;lt;".
			text = "*" + m.Title + "*\n" + text
		}
		b, err := json.Marshal(map[string]string{"text": text})
		if err != nil {
			return permanentError{err}
		}
		body, ctype = b, "application/json"
	case TypeNtfy:
		body, ctype = []byte(m.Text), "text/plain; charset=utf-8"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "herd-notify")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if h.typ == TypeNtfy && m.Title != "" {
		// ntfy reads the title from this header; headerLine made it one line.
		req.Header.Set("Title", m.Title)
	}
	resp, err := h.do.Do(req)
	if err != nil {
		return err // the network: worth retrying
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return fmt.Errorf("POST %s: %s", h.url, resp.Status)
	}
	return permanentError{fmt.Errorf("POST %s: %s", h.url, resp.Status)}
}
