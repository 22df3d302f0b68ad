package rules_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// Mail and FTP servers log one failed attempt several times (login process,
// password database, PAM; SASL failure, dropped connection, connection
// counters). These cases keep the promise that the default scenarios count
// attempts, not lines: honest users are never caught, guessers are.

func mailEv(service string, kind event.Kind, reason, user string) event.Event {
	return event.Event{Service: service, Kind: kind, Reason: reason, User: []byte(user), Bytes: -1}
}

// dovecotAttempt is one failed IMAP login as Dovecot with PAM logs it: the
// login process's line, the password database's and pam_unix's (which names
// no user).
func dovecotAttempt(at time.Duration, loginUser, passdbUser string) []timed {
	return []timed{
		{at, mailEv("imap", event.KindAuthFailure, "passdb_failure", passdbUser)},
		{at, mailEv("imap", event.KindAuthFailure, "pam_failure", "")},
		{at + time.Second, mailEv("imap", event.KindAuthFailure, "failed_password", loginUser)},
	}
}

// smtpAttempt is one failed SMTP AUTH by a client that tries PLAIN and then
// LOGIN with the same password, and drops the connection.
func smtpAttempt(at time.Duration) []timed {
	return []timed{
		{at, mailEv("smtp", event.KindAuthFailure, "sasl_failure", "")},
		{at, mailEv("smtp", event.KindAuthFailure, "sasl_failure", "")},
		{at, mailEv("smtp", event.KindScan, "auth_abort", "")},
		{at, mailEv("smtp", event.KindAuthFailure, "auth_session", "")},
	}
}

// spam is one message a content filter judged (reason spam, spam_high,
// virus or blacklisted).
func spam(reason string) event.Event {
	return mailEv("smtp", event.KindAbuse, reason, "")
}

func TestMailScenarioThresholds(t *testing.T) {
	var phone, household, typos, renamed, smtpTypos, slowEnum, passdbEnum []timed
	for i := range 60 {
		phone = append(phone, dovecotAttempt(time.Duration(i)*3*time.Minute, "alice@example.org", "alice@example.org")...)
	}
	for i := range 40 {
		at := time.Duration(i) * 4 * time.Minute
		household = append(household, dovecotAttempt(at, "alice@example.org", "alice")...)
		household = append(household, dovecotAttempt(at+time.Minute, "bob@example.org", "bob")...)
	}
	for _, at := range []time.Duration{0, 5 * time.Second, 2 * time.Minute, 2*time.Minute + 4*time.Second} {
		typos = append(typos, dovecotAttempt(at, "carol@example.org", "carol")...)
		smtpTypos = append(smtpTypos, smtpAttempt(at)...)
	}
	// The password database strips the domain: two users, four names.
	for i := range 3 {
		at := time.Duration(i) * 10 * time.Second
		renamed = append(renamed, dovecotAttempt(at, "toto@example.org", "toto")...)
		renamed = append(renamed, dovecotAttempt(at+time.Second, "titi@example.org", "titi")...)
	}
	for i, u := range []string{"alice@example.org", "info@example.org", "sales@example.org", "office@example.org"} {
		slowEnum = append(slowEnum, timed{time.Duration(i) * 30 * time.Minute, mailEv("imap", event.KindAuthFailure, "failed_password", u)})
		passdbEnum = append(passdbEnum, timed{time.Duration(i) * time.Second, mailEv("imap", event.KindAuthFailure, "passdb_failure", u)})
	}
	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"phone with an old password, every view logged", phone, nil},
		{"two phones with old passwords behind one address", household, nil},
		{"a user mistypes twice, twice", typos, nil},
		{"the password database renames users", renamed, nil},
		{"an SMTP client mistypes twice, twice, trying two mechanisms", smtpTypos, nil},
		{"slow mailbox guessing", slowEnum, []string{"mail-user-enum"}},
		{"mailbox guessing seen by the password database", passdbEnum, []string{"mail-passdb-user-enum"}},
		{"one failed SMTP login as a trap name", []timed{{0, mailEv("smtp", event.KindAuthFailure, "sasl_failure", "postmaster@example.org")}}, []string{"mail-trap-login"}},
		{"one failed IMAP login as a numbered probe name", []timed{{0, mailEv("imap", event.KindAuthFailure, "failed_password", "Nonexistent_User_26@example.org")}}, []string{"mail-trap-login"}},
		{"a real mailbox named admin: its phone's stale password after a login", append([]timed{{0, mailEv("imap", event.KindAuthSuccess, "login", "admin@example.org")}},
			every(40, 5*time.Minute, mailEv("imap", event.KindAuthFailure, "failed_password", "admin@example.org"))...), nil},
		{"a real mailbox named support, logged in through SMTP, failing on POP3 later", append([]timed{{0, mailEv("smtp", event.KindAuthSuccess, "login", "support")}},
			every(10, 7*time.Minute, mailEv("pop3", event.KindAuthFailure, "failed_password", "Support@example.org"))...), nil},
		{"a trap name failing after another name logged in", []timed{{0, mailEv("imap", event.KindAuthSuccess, "login", "alice@example.org")},
			{time.Minute, mailEv("smtp", event.KindAuthFailure, "sasl_failure", "admin@example.org")}}, []string{"mail-trap-login"}},
		{"an SSH login as admin does not make a mailbox admin", []timed{{0, mailEv("ssh", event.KindAuthSuccess, "", "admin")},
			{time.Minute, mailEv("imap", event.KindAuthFailure, "failed_password", "admin")}}, []string{"mail-trap-login"}},
		{"a trap name failing 91 days after its last login", []timed{{0, mailEv("imap", event.KindAuthSuccess, "login", "test")},
			{91 * 24 * time.Hour, mailEv("imap", event.KindAuthFailure, "failed_password", "test")}}, []string{"mail-trap-login"}},
		{"a user whose name only starts like a trap name", every(3, time.Minute, mailEv("imap", event.KindAuthFailure, "failed_password", "administration.office@example.org")), nil},
		{"a trap name in another domain's address is not the local part", every(3, time.Minute, mailEv("smtp", event.KindAuthFailure, "sasl_failure", "alice@admin.example.org")), nil},
		{"one high-scoring spam message", every(1, time.Second, spam("spam_high")), nil},
		{"a provider relaying a high-scoring message every 45 minutes", every(8, 45*time.Minute, spam("spam_high")), nil},
		{"high-scoring spam twice within the hour", every(2, 20*time.Minute, spam("spam_high")), []string{"mail-spam-repeated"}},
		{"a provider relaying ordinary spam every 6 minutes for a day", every(240, 6*time.Minute, spam("spam")), nil},
		{"a spam run", every(21, 10*time.Second, spam("spam")), []string{"mail-spam-flood"}},
		{"one infected message informs", every(1, time.Second, spam("virus")), []string{"mail-malware-received"}},
		{"malware twice within the hour", every(2, 10*time.Minute, spam("virus")), []string{"mail-malware-received", "mail-spam-repeated"}},
		{"a blacklisted sender, again and again, informs only", every(10, time.Minute, spam("blacklisted")), []string{"mail-blacklisted-sender"}},
		{"password database view of a brute force", every(11, time.Second, mailEv("imap", event.KindAuthFailure, "passdb_failure", "")), []string{"mail-passdb-bruteforce"}},
		{"PAM view of a brute force", every(11, time.Second, mailEv("imap", event.KindAuthFailure, "pam_failure", "")), []string{"mail-pam-bruteforce"}},
		{"SMTP connections failing AUTH", every(6, time.Second, mailEv("smtp", event.KindAuthFailure, "auth_session", "")), []string{"postfix-auth-sessions"}},
		{"HTTP request to the SMTP port", every(1, time.Second, mailEv("smtp", event.KindScan, "non_smtp_http", "")), []string{"postfix-http-probe"}},
		{"TLS garbage on the SMTP port once", every(1, time.Second, mailEv("smtp", event.KindScan, "non_smtp", "")), nil},
		{"mail scanner", every(6, time.Second, mailEv("imap", event.KindScan, "login_aborted", "")), []string{"mail-scanner"}},
		{"a server without reverse DNS retrying", every(12, 5*time.Minute, mailEv("smtp", event.KindAbuse, "rejected_temp", "")), nil},
		{"FTP with an old password, PAM lines too", append(every(30, 3*time.Minute, mailEv("ftp", event.KindAuthFailure, "failed_password", "dave")),
			every(30, 3*time.Minute, mailEv("ftp", event.KindAuthFailure, "pam_failure", "dave"))...), nil},
		{"FTP brute force seen by PAM", every(6, time.Second, mailEv("ftp", event.KindAuthFailure, "pam_failure", "")), []string{"ftp-pam-bruteforce"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			slices.SortStableFunc(c.evs, func(a, b timed) int { return int(a.at - b.at) })
			if got := pourDefaults(t, c.evs); !slices.Equal(got, c.want) {
				t.Errorf("alerts from %v, want %v", got, c.want)
			}
		})
	}
}

// One infected message or one blacklisted sender is a fact worth showing,
// not an attack: these scenarios inform and never decide.
func TestMailVerdictScenariosInformOnly(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mail-malware-received", "mail-blacklisted-sender"} {
		i := slices.IndexFunc(set.Scenarios, func(s rules.ScenarioSpec) bool { return s.Name == name })
		if i < 0 {
			t.Errorf("%s: no such default scenario", name)
			continue
		}
		if r := set.Scenarios[i].Remedy; r == nil || *r {
			t.Errorf("%s: remedy is not false: one message must not ban its sender", name)
		}
	}
}

// A real mailbox with a trap name and a guesser, as their servers log them:
// the laptop's success (Dovecot) makes admin@ real, so the phone's stale
// password is left to the rates; the guesser's one try at support@, a name
// no one logged in with, bans it.
func TestMailTrapLoginFromLogLines(t *testing.T) {
	lines := []string{
		"Nov 23 08:00:00 mx dovecot[900]: imap-login: Login: user=<admin@example.org>, method=PLAIN, rip=198.51.100.30, lip=192.0.2.1, mpid=51, TLS, session=<a>",
		"Nov 23 08:02:01 mx dovecot[900]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin@example.org>, method=PLAIN, rip=203.0.113.45, lip=192.0.2.1, TLS, session=<b>",
		"Nov 23 08:02:30 mx postfix/submission/smtpd[53]: warning: unknown[203.0.113.45]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=admin@example.org",
		"Nov 23 08:03:00 mx postfix/smtps/smtpd[54]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=support@example.org",
	}
	path := filepath.Join(t.TempDir(), "mail.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, read, alerts := replayDefaults(t, path)
	if read != n {
		t.Fatalf("%d of %d lines read", read, n)
	}
	var got []string
	for _, a := range alerts {
		got = append(got, a.Scenario+" "+a.Source.String())
	}
	if want := []string{"mail-trap-login 192.0.2.66"}; !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}
