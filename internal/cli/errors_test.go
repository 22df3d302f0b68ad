package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// checkErrorLine fails when an error message does not carry exactly one
// "herd: " prefix, or names a part twice in a row ("replay: replay: ...").
func checkErrorLine(t *testing.T, args []string, stderr string) {
	t.Helper()
	if stderr == "" {
		t.Errorf("herd %s: failed without a message", strings.Join(args, " "))
		return
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(args) > 1 && args[0] == "rules" && args[1] == "check" {
		lines = lines[len(lines)-1:] // the lines before are findings in the files checked, then the summary
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "time=") {
			continue // a log line of a command that logs (agent)
		}
		msg, ok := strings.CutPrefix(line, "herd: ")
		if !ok {
			t.Errorf("herd %s: %q lacks the prefix", strings.Join(args, " "), line)
			continue
		}
		parts := strings.Split(msg, ": ")
		for i, p := range parts {
			if p == "herd" || strings.HasPrefix(p, "herd ") {
				t.Errorf("herd %s: %q repeats the prefix", strings.Join(args, " "), line)
			}
			if i > 0 && p == parts[i-1] {
				t.Errorf("herd %s: %q names %q twice", strings.Join(args, " "), line, p)
			}
		}
	}
}

// Every command's error paths (an unknown flag, arguments it does not
// take, a configuration that does not exist) print one line with one
// prefix, and exit 2 for bad usage.
func TestEveryCommandsErrorsHaveOnePrefix(t *testing.T) {
	root := (&env{}).rootCmd()
	root.InitDefaultCompletionCmd()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				walk(s)
			}
		}
		if !c.Runnable() || c.Name() == "help" {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		// An unknown flag, and too many arguments, are usage errors.
		for _, extra := range [][]string{{"--no-such-flag"}, {"a1", "a2", "a3", "a4", "a5"}} {
			args := append(append([]string{}, path...), extra...)
			code, _, errOut := run(t, "", args...)
			want := ExitUsage
			if p := c.CommandPath(); extra[0] == "a1" && (p == "herd replay" || p == "herd explain" || p == "herd rules check" || p == "herd geoip lookup") {
				want = ExitError // commands taking any number of files fail on the first
			}
			if code != want && !(c.Parent().Name() == "completion" && extra[0] == "a1") {
				t.Errorf("herd %s: exit %d, want %d (%s)", strings.Join(args, " "), code, want, errOut)
			}
			if code != ExitOK {
				checkErrorLine(t, args, errOut)
				n++
			}
		}
		// A configuration that does not exist.
		if c.Flags().Lookup("config") != nil {
			for _, nargs := range []int{0, 1} {
				args := append(append([]string{}, path...), "--config", missing)
				for i := range nargs {
					args = append(args, "1"+strings.Repeat("0", i))
				}
				code, _, errOut := run(t, "", args...)
				if code == ExitOK {
					t.Errorf("herd %s: exit 0 with a missing configuration", strings.Join(args, " "))
					continue
				}
				checkErrorLine(t, args, errOut)
				n++
			}
		}
	}
	walk(root)
	// Errors from inside the commands.
	cfg := testConfig(t)
	for _, args := range [][]string{
		{"replay", "/nonexistent/file.log"},
		{"rules", "show", "no-such-rule"},
		{"rules", "list", "--rules", "/nonexistent"},
		{"alerts", "inspect", "99", "--config", cfg},
		{"bouncers", "delete", "nobody", "--config", cfg},
		{"machines", "delete", "nobody", "--config", cfg},
		{"decisions", "add", "--ip", "127.0.0.1", "--config", cfg},
		{"hub", "explain", "192.0.2.1", "--db", "/nonexistent/hub.db"},
	} {
		code, _, errOut := run(t, "", args...)
		if code == ExitOK {
			t.Errorf("herd %s: exit 0", strings.Join(args, " "))
			continue
		}
		checkErrorLine(t, args, errOut)
		n++
	}
	t.Logf("%d error messages checked", n)
}

func TestErrorLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"replay: open x: no such file", "herd: replay: open x: no such file"},
		{"herd replay: needs at least 1 argument(s)", "herd: replay: needs at least 1 argument(s)"},
		{"herd: herd: config: bad", "herd: config: bad"},
	} {
		if got := errorLine(errString(tc.in)); got != tc.want {
			t.Errorf("errorLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
