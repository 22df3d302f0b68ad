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

// AddBouncer registers a bouncer named name with a new random API key and
// returns the key. Only its SHA-256 hash is stored: the key is shown once.
func AddBouncer(ctx context.Context, cfg *config.Config, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("bouncers add: empty name")
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	key, err := lapi.NewKey()
	if err != nil {
		return "", fmt.Errorf("bouncers add: %w", err)
	}
	if err := st.AddBouncer(ctx, name, lapi.HashKey(key)); err != nil {
		return "", fmt.Errorf("bouncers add %s: %w", name, err)
	}
	return key, nil
}

// ListBouncers writes the registered bouncers as a table (name, when it
// was added), or "no bouncers".
func ListBouncers(ctx context.Context, cfg *config.Config, w io.Writer) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	bs, err := st.Bouncers(ctx)
	if err != nil {
		return err
	}
	t := newTable(w, "no bouncers (add one with herd bouncers add NAME)", "NAME", "ADDED")
	for _, b := range bs {
		t.row(termtext.String(b.Name), b.Created.UTC().Format(time.RFC3339))
	}
	return t.flush()
}

// DeleteBouncer removes a bouncer; its key stops working within a second
// on a running agent.
func DeleteBouncer(ctx context.Context, cfg *config.Config, name string) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteBouncer(ctx, name); err != nil {
		return fmt.Errorf("bouncers delete %s: %w", name, err)
	}
	return nil
}
