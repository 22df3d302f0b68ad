package query

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/termtext"
)

// AddMachine registers a machine (a herd agent on another host that reports
// to this host's local API) with a new random password, and returns the
// password. Only its SHA-256 hash is stored: the password is shown once.
func AddMachine(ctx context.Context, cfg *config.Config, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("machines add: empty name")
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	pw, err := lapi.NewKey()
	if err != nil {
		return "", fmt.Errorf("machines add: %w", err)
	}
	if err := st.AddMachine(ctx, name, lapi.HashKey(pw)); err != nil {
		return "", fmt.Errorf("machines add %s: %w", name, err)
	}
	return pw, nil
}

// ListMachines writes the registered machines as a table (name, when it
// was added), or "no machines".
func ListMachines(ctx context.Context, cfg *config.Config, w io.Writer) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.Machines(ctx)
	if err != nil {
		return err
	}
	t := newTable(w, "no machines (add one with herd machines add NAME)", "NAME", "ADDED")
	for _, m := range ms {
		t.row(termtext.String(m.Name), m.Created.UTC().Format(time.RFC3339))
	}
	return t.flush()
}

// DeleteMachine removes a machine; its tokens stop working at once (each
// report checks that the machine still exists). Its alerts and decisions
// stay.
func DeleteMachine(ctx context.Context, cfg *config.Config, name string) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteMachine(ctx, name); err != nil {
		return fmt.Errorf("machines delete %s: %w", name, err)
	}
	return nil
}
