package ruletest

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/textmatch"
)

// TestCheckFindsEachClass runs the check on the rules the review found
// injectable, one per class, and on their safe forms: the unsafe rule must
// be fooled on its own golden line, the safe one never.
func TestCheckFindsEachClass(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		want     string
		patterns []string
		regexps  []string
		fooled   bool
	}{
		{
			name:     "free text after the address, read greedily (vsftpd message)",
			line:     `Nov 23 08:00:02 ftp vsftpd[1]: [pid 2] [guest] FAIL LOGIN: Client "192.0.2.11", "User is not in the allow user list."`,
			want:     "192.0.2.11",
			patterns: []string{`[pid %{_}] [%{user}] FAIL LOGIN: Client "%{source}", "%{*}"`},
			fooled:   true,
		},
		{
			name:     "the same with the server's message marked",
			line:     `Nov 23 08:00:02 ftp vsftpd[1]: [pid 2] [guest] FAIL LOGIN: Client "192.0.2.11", "User is not in the allow user list."`,
			want:     "192.0.2.11",
			patterns: []string{`[pid %{_:server}] [%{user}] FAIL LOGIN: Client "%{source}", "%{*:server}"`},
		},
		{
			name:     "user name after rhost= (pam_unix)",
			line:     "Nov 23 08:07:00 gw sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.40  user=root",
			want:     "198.51.100.40",
			patterns: []string{"pam_unix(sshd:auth): authentication failure; logname=%{*} rhost=%{source}  user=%{user}"},
			fooled:   true,
		},
		{
			name:    "the same read from the start",
			line:    "Nov 23 08:07:00 gw sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.40  user=root",
			want:    "198.51.100.40",
			regexps: []string{`^pam_unix\(sshd:auth\): authentication failure; logname=\S* (?:uid=\d* euid=\d* tty=\S* ruser=\S* )?rhost=(?P<source>[0-9A-Fa-f.:]+)(?: {1,2}user=(?P<user>.*))?$`},
		},
		{
			name:     "a user name forging a shorter message variant (Dovecot passdb)",
			line:     "Nov 23 08:01:02 mx dovecot[1]: auth: pam(webapps,198.51.100.22): pam_authenticate() failed: Authentication failure",
			want:     "198.51.100.22",
			patterns: []string{"%{*}(%{user},%{source}): pam_authenticate() failed: %{*}", "%{*}(%{user},%{source}): unknown user (%{*})"},
			fooled:   true,
		},
		{
			name:     "user and address with no literal between, free text after (sshd)",
			line:     "Nov 23 08:08:04 gw sshd[1]: ssh_dispatch_run_fatal: Connection from invalid user root 198.51.100.54 port 40404: message authentication code incorrect",
			want:     "198.51.100.54",
			patterns: []string{"ssh_dispatch_run_fatal: Connection from invalid user %{user} %{source} port %{_}: %{*}"},
			fooled:   true,
		},
		{
			name:     "a bracketed address followed by free text (Postfix)",
			line:     "Nov 23 08:06:03 mx postfix/smtpd[1]: lost connection after CONNECT from unknown[192.0.2.63]",
			want:     "192.0.2.63",
			patterns: []string{"lost connection after CONNECT from %{_}[%{source}]%{*}"},
			fooled:   true,
		},
		{
			name:     "an address at a fixed place, client text after it",
			line:     "Nov 23 08:08:00 gw sshd[1]: Unable to negotiate with 198.51.100.70 port 5555: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
			want:     "198.51.100.70",
			patterns: []string{"Unable to negotiate with %{source} port %{_}: %{*}"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog := "sshd"
			for _, p := range []string{"vsftpd", "dovecot", "postfix/smtpd"} {
				if strings.Contains(tc.line, " "+p+"[") {
					prog = p
				}
			}
			spec := rules.ParserSpec{Name: "p", Programs: []string{prog}, Service: "x", Kind: "auth_failure", Patterns: tc.patterns, Regexps: tc.regexps}
			c, err := New([]rules.ParserSpec{spec}, Options{MaxFindings: 1})
			if err != nil {
				t.Fatal(err)
			}
			rep := c.Run([]Case{{File: "t", Line: 1, Text: tc.line, Parser: "p", Want: map[string]string{"source": tc.want}}})
			tot := rep.Totals()
			if tot.Lines != 1 || tot.Mutations == 0 {
				t.Fatalf("the line was not checked: %+v\n%s", tot, rep.Table())
			}
			if got := tot.Fooled > 0; got != tc.fooled {
				t.Errorf("fooled %d times, want fooled=%v\n%s%v", tot.Fooled, tc.fooled, rep.Table(), rep.Findings)
			}
			for _, f := range rep.Findings {
				if f.Want.String() != tc.want || !f.Got.IsValid() || f.Got == f.Want {
					t.Errorf("finding %v", f)
				}
			}
		})
	}
}

// TestDecoyForms: every decoy form that holds an address whole parses as
// one of the decoys (so that the oracle recognises it), and the decoys are
// no address of the golden lines' documentation ranges in use.
func TestDecoyForms(t *testing.T) {
	d4, d6 := netip.MustParseAddr(Decoy4), netip.MustParseAddr(Decoy6)
	parsed := 0
	for _, f := range Forms() {
		a, ok := textmatch.ParseToken([]byte(strings.Trim(f.Text, ` "'()<>\`)))
		if !ok {
			continue
		}
		parsed++
		if a != d4 && a != d6 && !a.IsLinkLocalUnicast() {
			t.Errorf("form %s = %q parses as %v, not a decoy", f.Label, f.Text, a)
		}
	}
	if parsed < 6 {
		t.Errorf("only %d forms parse as an address", parsed)
	}
}

// TestRegexpHoles: a regular expression's free-text runs and attacker
// fields are holes; its digits, the address and the time are not.
func TestRegexpHoles(t *testing.T) {
	rt, err := traceRegexp(`^(?P<time_nginx>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[[a-z]+\] \d+#\d+: user "(?P<user>[^"]*)": password mismatch, client: (?P<source>[0-9A-Fa-f.:]+), server: [^,"]*, request: "(?P<request>[^"]*)"$`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range rt.holes {
		names = append(names, h.name)
	}
	if got := strings.Join(names, " "); got != "user re#1 request" {
		t.Errorf("holes %q, want user, the server run, request", got)
	}
	if rt.source == 0 || !strings.HasSuffix(rt.pre, ", client: ") || rt.post != ", server: " {
		t.Errorf("source group %d, literals %q %q", rt.source, rt.pre, rt.post)
	}
}
