package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
)

func (e *env) consoleCmd() *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "console",
		Short: "Manage the web console (docs/console.md)",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "configuration file (default "+config.DefaultPath+" if it exists)")
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Set the console's password (asked twice on a terminal, else read from the first line of standard input); only an Argon2id hash is stored",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			pw, err := e.readPassword()
			if err != nil {
				return fmt.Errorf("console passwd: %w", err)
			}
			if err := app.SetConsolePassword(cfg, pw); err != nil {
				return fmt.Errorf("console passwd: %w", err)
			}
			fmt.Fprintf(e.stdout, "console password set in %s; a running agent takes it at its next start\n", cfg.Console.PasswordFile)
			return nil
		},
	}
	c.AddCommand(passwd)
	return c
}

// readPassword asks for the password twice without echo on a terminal,
// or reads the first line of standard input.
func (e *env) readPassword() (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "New console password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
