package config

import (
	"strings"
	"testing"
	"time"
)

func TestNotifications(t *testing.T) {
	none := func(string) bool { return false }
	c, err := parse("herd.yaml", []byte(`
notifications:
  - name: hook
    type: webhook
    url: https://hooks.example.org/herd
    alerts: true
    rate: 3
    window: 30s
    retries: -1
    backoff: 2s
    title: "{{.Source}}"
  - name: mail
    type: email
    smtp: mail.example.org:587
    from: herd@example.org
    to: [ops@example.org]
    username: herd
    password_file: /etc/herd/smtp.password
`), none)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notifications) != 2 {
		t.Fatalf("notifications %+v", c.Notifications)
	}
	h, m := c.Notifications[0], c.Notifications[1]
	if h.Name != "hook" || h.Type != "webhook" || !h.Alerts || h.Rate != 3 || h.Window != 30*time.Second || h.Retries != -1 || h.Backoff != 2*time.Second || h.Title != "{{.Source}}" || h.Line != 3 {
		t.Errorf("hook %+v", h)
	}
	if m.SMTP != "mail.example.org:587" || m.From != "herd@example.org" || len(m.To) != 1 || m.Username != "herd" || m.PasswordFile != "/etc/herd/smtp.password" {
		t.Errorf("mail %+v", m)
	}
	for _, c := range []struct{ yaml, want string }{
		{"notifications:\n  - type: webhook\n    url: https://x/\n", "needs a name"},
		{"notifications:\n  - name: x\n    type: sms\n", `"sms" is not one of`},
		{"notifications:\n  - name: x\n    type: slack\n    url: file:///etc/passwd\n", "needs an http:// or https:// url"},
		{"notifications:\n  - name: x\n    type: email\n    smtp: h:25\n    from: a@b\n", "needs smtp (host:port), from and to"},
		{"notifications:\n  - name: x\n    type: email\n    smtp: h:25\n    from: a@b\n    to: [c@d]\n    username: u\n    password_file: /p\n    plain_text: true\n", "only sent over TLS"},
		{"notifications:\n  - name: x\n    type: email\n    smtp: h:25\n    from: a@b\n    to: [c@d]\n    username: u\n", "go together"},
		{"notifications:\n  - name: x\n    type: ntfy\n    url: https://ntfy.sh/t\n    shell: rm -rf /\n", "shell"},
	} {
		_, err := parse("herd.yaml", []byte(c.yaml), none)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "herd.yaml:") {
			t.Errorf("%q: err = %v, want one with file:line and %q", c.yaml, err, c.want)
		}
	}
}
