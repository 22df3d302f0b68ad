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
var Version = "0.1.0-dev"

type usageError struct{ error }

// env is what every command reads and writes through, so tests can run the
// command tree in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// clock gives the commands their time and timers; nil = clock.Real.
	clock clock.Clock
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
	if errors.As(err, &ue) {
		fmt.Fprintf(termtext.Lines(stderr), "herd: %v\n", err)
		return ExitUsage
	}
	var quiet silentError
	if !errors.As(err, &quiet) {
		fmt.Fprintf(termtext.Lines(stderr), "herd: %v\n", err)
	}
	return ExitError
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
		return usageError{fmt.Errorf("%s: %w (see %s --help)", c.CommandPath(), err, c.CommandPath())}
	})
	root.AddCommand(e.replayCmd(), e.explainCmd(), e.rulesCmd(), e.agentCmd(), e.reloadCmd(), e.firewallCmd(), e.decisionsCmd(), e.bouncersCmd(), e.statusCmd(), e.alertsCmd(), e.machinesCmd(), e.hubCmd())
	return root
}

// argsAtLeast is cobra.MinimumNArgs returning a usage error.
func argsAtLeast(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s: needs at least %d argument(s) (see %s --help)", c.CommandPath(), n, c.CommandPath())}
		}
		return nil
	}
}
