package cli

import (
	"strings"
	"testing"
)

// rules list stays narrow over the whole default rule set: one rule a
// line, no line wider than a terminal.
func TestRulesListIsNarrow(t *testing.T) {
	code, out, errOut := run(t, "", "rules", "list")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 100 || strings.Join(strings.Fields(lines[0]), " ") != "KIND NAME SERVICE WHERE" {
		t.Fatalf("%d lines, header %q", len(lines), lines[0])
	}
	for i, l := range lines {
		if n := len([]rune(l)); n > 120 {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, l)
		}
		if f := strings.Fields(l); len(f) != 4 {
			t.Errorf("line %d has %d columns, want 4: %q", i+1, len(f), l)
		}
	}
}

// rules show prints all of a rule, including what rules list leaves out.
func TestRulesShow(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"ssh-bruteforce", []string{
			"scenario:            ssh-bruteforce\n",
			"defined at:          defaults/sshd.yaml:",
			"description:         \"Password guessing against SSH",
			"filter.services:     - ssh\n",
			"capacity:            5\n",
			"ipv6_prefix:         64\n",
			"decided by:          profile default-ban (defaults/profiles.yaml:",
		}},
		{"sshd-failed-password", []string{
			"parser:              sshd-failed-password\n",
			"programs:            - sshd\n",
			"prefilter:           - \"Failed \"\n",
			"patterns:            - Failed %{_} for %{user} from %{source} port %{_} ssh2\n",
		}},
		{"default-ban", []string{"profile:             default-ban\n", "duration:            4h0m0s\n", "escalate:            true\n"}},
	} {
		code, out, errOut := run(t, "", "rules", "show", tc.name)
		if code != ExitOK {
			t.Errorf("%s: exit %d: %s", tc.name, code, errOut)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("rules show %s lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
	if code, _, errOut := run(t, "", "rules", "show", "no-such-rule"); code != ExitError || errOut != "herd: rules show: no parser, scenario or profile is named \"no-such-rule\" (see herd rules list)\n" {
		t.Errorf("unknown rule: exit %d, %q", code, errOut)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"GroupBy": "group_by", "IPv6Prefix": "ipv6_prefix", "PathRegexp": "path_regexp", "MaxDuration": "max_duration", "Kinds": "kinds"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
