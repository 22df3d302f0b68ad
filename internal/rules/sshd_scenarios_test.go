package rules_test

import (
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// SSH scenarios count attempts, not lines: these cases pour every line sshd,
// PAM and the connection's end leave for an attempt, as the default parsers
// classify them, and check that people's mistakes never alert while
// guessing does.
func TestSSHScenariosCountAttempts(t *testing.T) {
	scan := func(reason string) event.Event {
		return event.Event{Service: "ssh", Kind: event.KindScan, Reason: reason, Bytes: -1}
	}
	// One mistyped password: sshd's line, PAM's two views of it.
	typo := func(at time.Duration, user string) []timed {
		return []timed{
			{at, sshFail("pam_failure", user)},
			{at, sshFail("pam_error", user)},
			{at, sshFail("failed_password", user)},
		}
	}
	var passwordTypos []timed
	// Twice wrong, then the client gives up; twice again a minute later.
	for _, at := range []time.Duration{0, 4 * time.Second, time.Minute, time.Minute + 4*time.Second} {
		passwordTypos = append(passwordTypos, typo(at, "alice")...)
	}
	passwordTypos = append(passwordTypos,
		timed{6 * time.Second, scan("preauth_close")},
		timed{6 * time.Second, event.Event{Service: "ssh", Kind: event.KindNone, Bytes: -1}}, // "Received disconnect ...: 11: disconnected by user"
		timed{time.Minute + 6*time.Second, scan("preauth_close")})

	// A wrong user name typed twice: each connection logs "Invalid user",
	// one refused password for it and the client's hang-up.
	var userTypos []timed
	for _, at := range []time.Duration{0, 8 * time.Second} {
		userTypos = append(userTypos,
			timed{at, sshFail("invalid_user", "alcie")},
			timed{at + 2*time.Second, sshFail("pam_failure", "alcie")},
			timed{at + 2*time.Second, sshFail("invalid_user", "alcie")}, // Failed password for invalid user
			timed{at + 3*time.Second, scan("preauth_close")})
	}

	// Keys offered by an agent before the password prompt.
	var keys []timed
	for i := range 6 {
		keys = append(keys, timed{time.Duration(i) * 100 * time.Millisecond, sshFail("failed_publickey", "git")})
	}

	// Guessing at 2 a minute for 11 minutes (CrowdSec's ssh-slow-bf sample).
	slow := every(22, 30*time.Second, sshFail("invalid_user", "hadoop"))

	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"mistyped passwords with PAM's lines", passwordTypos, nil},
		{"a wrong user name twice", userTypos, nil},
		{"an agent offering six keys", keys, nil},
		{"guessing at 2 a minute", slow, []string{"ssh-slow-bruteforce"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := pourDefaults(t, c.evs); !slices.Equal(got, c.want) {
				t.Errorf("alerts from %v, want %v", got, c.want)
			}
		})
	}
}
