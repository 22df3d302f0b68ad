// Package cli is herd's command tree: it turns arguments and flags into
// options for package app and maps the outcome to an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/termtext"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed, or found errors (rules check)
	ExitUsage = 2 // bad arguments or flags
)

// Version is herd's version, set at build time with -ldflags "-X".
var Version = defaultVersion

type usageError struct{ error }

// env is what every command reads and writes through, so tests can run the
// command tree in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// clock gives the commands their time and timers; nil = clock.Real.
	clock clock.Clock
	// progressMin overrides the input size from which replay shows a
	// progress bar (0 = progressMin); tests lower it.
	progressMin int64
}

// time returns the clock of the commands.
func (e *env) time() clock.Clock { return clock.Or(e.clock) }

// Main runs herd with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, clock: clock.Real{}}
	root := e.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(termtext.Lines(stderr), errorLine(err))
		return ExitUsage
	}
	var quiet silentError
	if !errors.As(err, &quiet) {
		fmt.Fprintln(termtext.Lines(stderr), errorLine(err))
	}
	return ExitError
}

// errorLine is how every failure reaches the user: one prefix, "herd: ",
// added here and nowhere else. Commands name themselves without the root's
// name (cmdName), and a message that still starts with the prefix (from a
// library that names the program) does not get it twice.
func errorLine(err error) string {
	msg := err.Error()
	for {
		rest, ok := strings.CutPrefix(msg, "herd: ")
		if !ok {
			rest, ok = strings.CutPrefix(msg, "herd ")
		}
		if !ok {
			break
		}
		msg = rest
	}
	return "herd: " + msg
}

// isCobraUsage reports whether err is cobra's own complaint about the
// arguments (an unknown subcommand, or arguments given to a command that
// takes none), which is a usage error like those of argsExactly.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ") ||
		strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "invalid argument ")
}

// cmdName is how a command names itself in its errors: its path without
// the root's name ("decisions add"), since Main prefixes every error with
// "herd: ".
func cmdName(c *cobra.Command) string {
	if !c.HasParent() {
		return c.Name()
	}
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// silentError is a failure already reported to the user.
type silentError struct{ error }

func (e *env) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herd",
		Short:         "herd recognises attacks in logs and bans their sources",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w (see %s --help)", cmdName(c), err, c.CommandPath())}
	})
	root.AddCommand(e.replayCmd(), e.explainCmd(), e.rulesCmd(), e.agentCmd(), e.reloadCmd(), e.firewallCmd(), e.decisionsCmd(), e.bouncersCmd(), e.statusCmd(), e.alertsCmd(), e.machinesCmd(), e.importCmd(), e.hubCmd(), e.groupCmd(), e.consoleCmd(), e.sensorCmd(), e.geoipCmd(), e.notifyCmd(), e.versionCmd(), e.manCmd())
	// cobra adds completion (bash, zsh, fish, powershell) when the tree
	// runs; added here, it is in the tree that the man pages and the docs'
	// test see as well. It binds the output it writes to now.
	if e.stdout != nil {
		root.SetOut(e.stdout)
	}
	root.InitDefaultCompletionCmd()
	return root
}

// argsAtLeast is cobra.MinimumNArgs returning a usage error.
func argsAtLeast(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s: needs at least %d argument(s) (see %s --help)", cmdName(c), n, c.CommandPath())}
		}
		return nil
	}
}
