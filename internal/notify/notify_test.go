package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

// hostile lines: a JSON breakout, a Slack broadcast, HTML, a header
// injection and a terminal escape.
var hostile = []string{
	`GET /"}],"text":"owned","x":[{" HTTP/1.1`,
	"Failed password for <!channel> <@U123> <https://evil.example|click> & co",
	`<script>alert(1)</script><b>bold</b>`,
	"user root\r\nBcc: victim@example.com\r\n\r\nforged body",
	"\x1b[2Jclear screen",
}

func note(src string, decided bool) Note {
	a := netip.MustParseAddr(src)
	n := Note{Alert: event.Alert{Scenario: "ssh-bruteforce", Source: a, Scope: netip.PrefixFrom(a, 32), First: t0, Last: t0.Add(time.Minute), Events: 6, Remedy: true,
		Geo: event.Geo{Country: "FR", ASN: 64500, ASOrg: "Example <Net>"}},
		Decided: decided, Verdict: "decided", Lines: hostile}
	if decided {
		n.Decision = event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(a, 32), Duration: 4 * time.Hour, Until: t0.Add(4 * time.Hour), Scenario: "ssh-bruteforce", Origin: "herd"}
	} else {
		n.Verdict = "no_remedy"
	}
	return n
}

// recorder is an HTTP endpoint that keeps what it receives and answers
// with the statuses it is given, then 200.
type recorder struct {
	mu       sync.Mutex
	bodies   []string
	headers  []http.Header
	statuses []int
	got      chan struct{}
}

func newRecorder(statuses ...int) (*recorder, *httptest.Server) {
	r := &recorder{statuses: statuses, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.headers = append(r.headers, req.Header.Clone())
		st := http.StatusOK
		if len(r.statuses) > 0 {
			st, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(st)
		r.got <- struct{}{}
	}))
	return r, srv
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("request not received")
		}
	}
}

func (r *recorder) body(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i]
}

func start(t *testing.T, specs []Spec, o Options) *Notifier {
	t.Helper()
	n, err := New(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// waitStats polls until cond holds on the channel's stats.
func waitStats(t *testing.T, n *Notifier, name string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s := n.Stats()[name]
		if cond(s) {
			return s
		}
		select {
		case <-deadline:
			t.Fatalf("stats of %s: %+v", name, s)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestWebhookKeepsAttackerTextInsideJSON(t *testing.T) {
	rec, srv := newRecorder()
	t.Cleanup(srv.Close)
	n := start(t, []Spec{{Name: "hook", Type: TypeWebhook, URL: srv.URL}}, Options{})
	n.Notify(note("192.0.2.7", true))
	rec.wait(t, 1)
	var got webhookBody
	if err := json.Unmarshal([]byte(rec.body(0)), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, rec.body(0))
	}
	if strings.Join(got.Lines, "\n") != strings.Join(hostile, "\n") {
		t.Errorf("lines changed on the way:\n%q\nwant\n%q", got.Lines, hostile)
	}
	if got.Source != "192.0.2.7" || got.Country != "FR" || got.ASN != 64500 || got.Decision == nil || got.Decision.Duration != "4h0m0s" {
		t.Errorf("payload %+v", got)
	}
	if !strings.Contains(got.Text, hostile[0]) || strings.Contains(got.Title, "\n") {
		t.Errorf("text %q title %q", got.Text, got.Title)
	}
	if rec.headers[0].Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", rec.headers[0].Get("Content-Type"))
	}
}

func TestSlackEscapesMrkdwn(t *testing.T) {
	rec, srv := newRecorder()
	t.Cleanup(srv.Close)
	n := start(t, []Spec{{Name: "slack", Type: TypeSlack, URL: srv.URL}}, Options{})
	n.Notify(note("192.0.2.7", true))
	rec.wait(t, 1)
	var got struct{ Text string }
	if err := json.Unmarshal([]byte(rec.body(0)), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, rec.body(0))
	}
	for _, bad := range []string{"<!channel>", "<@U123>", "<https://", "<script>", "<b>", "Example <Net>", "\x1b", "\r"} {
		if strings.Contains(got.Text, bad) {
			t.Errorf("slack text holds %q unescaped:\n%s", bad, got.Text)
		}
	}
	for _, want := range []string{"&lt;!channel&gt;", "&lt;script&gt;", "&amp; co", `\x1b[2J`, "Example &lt;Net&gt;", `"}],"text":"owned"`} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, got.Text)
		}
	}
	if !strings.HasPrefix(got.Text, "*herd: ban 192.0.2.7/32 (ssh-bruteforce)*\n") {
		t.Errorf("slack text starts %q", got.Text[:min(60, len(got.Text))])
	}
	// A title made of attacker and database text is escaped once.
	rec2, srv2 := newRecorder()
	t.Cleanup(srv2.Close)
	n2 := start(t, []Spec{{Name: "slack", Type: TypeSlack, URL: srv2.URL, Title: "{{.ASOrg}} {{index .Lines 1}}"}}, Options{})
	n2.Notify(note("192.0.2.7", true))
	rec2.wait(t, 1)
	if err := json.Unmarshal([]byte(rec2.body(0)), &got); err != nil {
		t.Fatal(err)
	}
	if want := "*Example &lt;Net&gt; Failed password for &lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; co*\n"; !strings.HasPrefix(got.Text, want) {
		t.Errorf("slack title line %q, want %q", strings.SplitN(got.Text, "\n", 2)[0], want)
	}
}

func TestNtfyTitleIsOneLine(t *testing.T) {
	rec, srv := newRecorder()
	t.Cleanup(srv.Close)
	// A template that puts attacker text in the title.
	n := start(t, []Spec{{Name: "ntfy", Type: TypeNtfy, URL: srv.URL + "/herd-alerts", Token: "tk_secret", Title: `{{index .Lines 3}}`}}, Options{})
	n.Notify(note("192.0.2.7", true))
	rec.wait(t, 1)
	title := rec.headers[0].Get("Title")
	if strings.ContainsAny(title, "\r\n") || !strings.HasPrefix(title, `user root`) {
		t.Errorf("title %q", title)
	}
	if got := rec.headers[0].Get("Authorization"); got != "Bearer tk_secret" {
		t.Errorf("authorization %q", got)
	}
	if rec.headers[0].Get("Bcc") != "" {
		t.Error("a header was injected")
	}
	body := rec.body(0)
	if strings.Contains(body, "\x1b") || !strings.Contains(body, `\x1b[2Jclear screen`) || strings.Contains(body, "\r") {
		t.Errorf("ntfy body %q", body)
	}
}

func TestAlertsOnlyWhenAsked(t *testing.T) {
	rec, srv := newRecorder()
	t.Cleanup(srv.Close)
	n := start(t, []Spec{{Name: "decisions", Type: TypeWebhook, URL: srv.URL}, {Name: "all", Type: TypeWebhook, URL: srv.URL, Alerts: true}}, Options{})
	n.Notify(note("192.0.2.7", false))
	rec.wait(t, 1)
	waitStats(t, n, "all", func(s Stats) bool { return s.Sent == 1 })
	if s := n.Stats()["decisions"]; s.Sent != 0 {
		t.Errorf("a decisions-only channel sent an alert without decision: %+v", s)
	}
}

func TestRetryWithExponentialBackoff(t *testing.T) {
	rec, srv := newRecorder(500, 503, 429)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	n := start(t, []Spec{{Name: "hook", Type: TypeWebhook, URL: srv.URL, Backoff: time.Second}}, Options{Time: clk})
	n.Notify(note("192.0.2.7", true))
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		rec.wait(t, 1)
		clk.BlockUntil(1)
		if w := clk.Waits(); len(w) != 1 || w[0] != want {
			t.Fatalf("waits %v, want [%v]", w, want)
		}
		clk.Advance(want)
	}
	rec.wait(t, 1)
	s := waitStats(t, n, "hook", func(s Stats) bool { return s.Sent == 1 })
	if s.Retried != 3 || s.Failed != 0 {
		t.Errorf("stats %+v, want 3 retries and no failure", s)
	}
}

func TestGiveUpAfterRetriesAndOnRefusal(t *testing.T) {
	rec, srv := newRecorder(500, 500, 400)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	n := start(t, []Spec{{Name: "hook", Type: TypeWebhook, URL: srv.URL, Retries: 1}}, Options{Time: clk})
	n.Notify(note("192.0.2.7", true))
	rec.wait(t, 1)
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	rec.wait(t, 1)
	waitStats(t, n, "hook", func(s Stats) bool { return s.Failed == 1 && s.Retried == 1 })
	// A 400 is not retried.
	n.Notify(note("192.0.2.8", true))
	rec.wait(t, 1)
	s := waitStats(t, n, "hook", func(s Stats) bool { return s.Failed == 2 })
	if s.Retried != 1 || s.Sent != 0 || clk.Pending() != 0 {
		t.Errorf("stats %+v, pending %d", s, clk.Pending())
	}
}

func TestRateLimitFoldsABurstIntoOneDigest(t *testing.T) {
	rec, srv := newRecorder()
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	n := start(t, []Spec{{Name: "hook", Type: TypeWebhook, URL: srv.URL, Rate: 2, Window: time.Minute}}, Options{Time: clk})
	for i := range 30 {
		n.Notify(note(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String(), true))
	}
	rec.wait(t, 2)
	for n.ch[0].taken.Load() < 30 {
		time.Sleep(time.Millisecond)
	}
	if w := clk.Waits(); len(w) != 1 || w[0] != time.Minute {
		t.Fatalf("digest waits %v, want [1m]", w)
	}
	if s := n.Stats()["hook"]; s.Sent != 2 {
		t.Fatalf("before the window's end: %+v", s)
	}
	clk.Advance(time.Minute)
	rec.wait(t, 1)
	s := waitStats(t, n, "hook", func(s Stats) bool { return s.Digests == 1 })
	if s.Sent != 3 {
		t.Errorf("stats %+v, want 3 messages (2 notes and a digest)", s)
	}
	var d webhookBody
	if err := json.Unmarshal([]byte(rec.body(2)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Digest != 28 || !strings.Contains(d.Text, "herd: 28 more notifications within 1m0s") || !strings.Contains(d.Text, "192.0.2.3") ||
		!strings.Contains(d.Text, "… and 8 more.") {
		t.Errorf("digest %+v", d)
	}
	// The digest opened a new window in which it counts as one: one more
	// note goes out at once, the next waits.
	n.Notify(note("198.51.100.1", true))
	rec.wait(t, 1)
	n.Notify(note("198.51.100.2", true))
	clk.BlockUntil(1)
	if s := n.Stats()["hook"]; s.Sent != 4 {
		t.Errorf("after the digest: %+v", s)
	}
}

func TestQueueOverflowIsCounted(t *testing.T) {
	n, err := New([]Spec{{Name: "hook", Type: TypeWebhook, URL: "http://127.0.0.1:1/"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: the queue fills.
	for range QueueSize + 5 {
		n.Notify(note("192.0.2.7", true))
	}
	if s := n.Stats()["hook"]; s.Dropped != 5 {
		t.Errorf("stats %+v, want 5 dropped", s)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "x", Type: "sms"}, "is not webhook"},
		{Spec{Name: "x", Type: TypeWebhook, URL: "file:///etc/passwd"}, "is not an http(s) URL"},
		{Spec{Name: "x", Type: TypeWebhook, URL: "https://h/", Body: "{{.Nope"}, "body"},
		{Spec{Name: "x", Type: TypeEmail, Email: Email{Addr: "h:25", From: "a@b", To: []string{"c@d"}, Username: "u", PlainText: true}}, "only sent over TLS"},
		{Spec{Name: "x", Type: TypeEmail, Email: Email{Addr: "h", From: "a@b", To: []string{"c@d"}}}, "not host:port"},
		{Spec{Name: "x", Type: TypeEmail, Email: Email{Addr: "h:25", From: "a@b\r\nBcc: x@y", To: []string{"c@d"}}}, "from"},
	} {
		if _, err := New([]Spec{c.spec}, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.spec, err, c.want)
		}
	}
}

// FuzzEscapes: whatever the attacker writes, a title stays one line of at
// most maxTitle bytes, Slack text holds no mrkdwn control character, and
// plain text no control character but newline-free escapes.
func FuzzEscapes(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := headerLine(s)
		if len(h) > maxTitle || strings.ContainsAny(h, "\r\n\x00") || !utf8.ValidString(h) {
			t.Fatalf("headerLine(%q) = %q", s, h)
		}
		if sl := slackText(s); strings.ContainsAny(sl, "<>\r\n\x1b") {
			t.Fatalf("slackText(%q) = %q", s, sl)
		}
		if p := plain(s); strings.ContainsAny(p, "\r\n\x1b\x00") || !utf8.ValidString(p) {
			t.Fatalf("plain(%q) = %q", s, p)
		}
		b, err := json.Marshal(map[string]string{"t": raw(s)})
		if err != nil || !json.Valid(b) {
			t.Fatalf("raw(%q) does not encode: %v", s, err)
		}
	})
}
