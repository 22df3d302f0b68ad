package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
)

// otherPrograms are program names a syslog line may carry besides the ones
// a default parser names: the other daemons of the same families (Postfix's
// cleanup, qmgr, local, pipe... log text that senders and recipients
// write), and unrelated programs any local user can log as.
var otherPrograms = []string{
	// Postfix: every daemon but smtpd and postscreen, also in a second instance.
	"postfix/cleanup", "postfix/qmgr", "postfix/local", "postfix/pipe", "postfix/bounce",
	"postfix/smtp", "postfix/lmtp", "postfix/pickup", "postfix/anvil", "postfix/master",
	"postfix/error", "postfix/virtual", "postfix/trivial-rewrite", "postfix/sendmail",
	"postfix/postdrop", "postfix/tlsmgr", "postfix/verify", "postfix/scache", "postfix/dnsblog",
	"postfix/tlsproxy", "postfix/postlog", "postfix/discard", "postfix/showq", "postfix/proxymap",
	"postfix/flush", "postfix/oqmgr", "postfix/spawn", "postfix/postsuper", "postfix/postqueue",
	"postfix-in/cleanup", "postfix-in/qmgr", "postfix-in/local", "postfix-out/smtp", "postfix",
	// OpenSSH's other programs.
	"ssh", "ssh-agent", "sshd-keygen", "ssh-keyscan",
	// Dovecot's other processes.
	"imap", "pop3", "lmtp", "dovecot-lda", "deliver", "doveadm", "managesieve", "submission",
	"indexer-worker", "anvil", "config", "log",
	// Unrelated programs.
	"logger", "php-fpm", "php", "cron", "CRON", "su", "sudo", "systemd", "kernel", "root",
	"www-data", "nginx", "apache2", "httpd", "vsftpd", "proftpd", "pure-ftpd", "mysqld",
	"imap-login", "pop3-login", "auth", "auth-worker", "dovecot", "sshd", "postfix/smtpd",
	"postfix/postscreen", "lighttpd", "audit",
}

// TestProgramIdentityIsExact offers every golden line that a parser reads
// from a syslog envelope again under every other program name (the other
// daemons of its family and unrelated programs): the parser must not read
// it. A parser's programs are names or single-segment globs, so that
// smtpd's templates never read a line of postfix/cleanup, whose text is the
// sender's.
func TestProgramIdentityIsExact(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := parse.Compile(set.Parsers, parse.Options{Location: time.UTC, Reference: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]*rules.ParserSpec{}
	for i := range set.Parsers {
		index[set.Parsers[i].Name] = &set.Parsers[i]
	}
	names := append([]string(nil), otherPrograms...)
	for _, s := range set.Parsers {
		for _, prog := range s.Programs {
			if !strings.ContainsAny(prog, "*?") {
				names = append(names, prog)
			}
		}
	}
	ep := envelope.NewParser(envelope.Options{Location: time.UTC})
	lines, tried := 0, 0
	for _, c := range goldenCases(t) {
		spec := index[c.Parser]
		if spec == nil || len(spec.Programs) == 0 {
			continue
		}
		var env envelope.Envelope
		if !ep.Parse([]byte(c.Text), &env) || len(env.Program) == 0 {
			continue
		}
		prog := string(env.Program)
		at := strings.Index(c.Text, " "+prog+"[")
		if at < 0 {
			at = strings.Index(c.Text, " "+prog+":")
		}
		if at < 0 {
			continue
		}
		lines++
		for _, other := range names {
			if slices.Contains(spec.Programs, other) || prog == other {
				continue // the parser names it exactly (a glob is no excuse)
			}
			tried++
			line := c.Text[:at+1] + other + c.Text[at+1+len(prog):]
			var ev event.Event
			ev.Reset()
			res := p.Parse([]byte(line), "", &ev)
			if res.Rule >= 0 && p.Rule(res.Rule).Name == spec.Name {
				t.Errorf("%s:%d: parser %s (programs %v) read the line under program %q\n\t%s", c.File, c.Line, spec.Name, spec.Programs, other, line)
			}
		}
	}
	t.Logf("%d golden lines offered under %d other program names in all", lines, tried)
	if lines == 0 {
		t.Fatal("no golden line with a program")
	}
}
