package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Bouncer is a registered bouncer: a client of the local API that
// authenticates with a key. Only a hash of the key is stored.
type Bouncer struct {
	Name    string
	KeyHash []byte
	Created time.Time
}

// AddBouncer registers a bouncer under name with the hash of its key (the
// caller hashes, for example with SHA-256). It returns an error wrapping
// ErrExists when the name or the hash is already registered.
func (s *Store) AddBouncer(ctx context.Context, name string, keyHash []byte) error {
	if name == "" || len(keyHash) == 0 {
		return errors.New("store: add bouncer: empty name or key hash")
	}
	res, err := s.w.ExecContext(ctx, s.q.addBouncer, name, keyHash, nanos(s.now()))
	if err != nil {
		return fmt.Errorf("store: add bouncer %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: add bouncer %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("store: add bouncer %q: %w", name, ErrExists)
	}
	return nil
}

// BouncerByKeyHash returns the name of the bouncer whose key hashes to hash,
// or an error wrapping ErrNotFound.
func (s *Store) BouncerByKeyHash(ctx context.Context, hash []byte) (string, error) {
	var name string
	err := s.r.QueryRowContext(ctx, s.q.bouncerByKeyHash, hash).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: bouncer by key hash: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: bouncer by key hash: %w", err)
	}
	return name, nil
}

// Bouncers returns every registered bouncer, ordered by name.
func (s *Store) Bouncers(ctx context.Context) ([]Bouncer, error) {
	rows, err := s.r.QueryContext(ctx, s.q.bouncers)
	if err != nil {
		return nil, fmt.Errorf("store: bouncers: %w", err)
	}
	defer rows.Close()
	var out []Bouncer
	for rows.Next() {
		var (
			b       Bouncer
			created int64
		)
		if err := rows.Scan(&b.Name, &b.KeyHash, &created); err != nil {
			return nil, fmt.Errorf("store: bouncers: %w", err)
		}
		b.Created = fromNanos(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: bouncers: %w", err)
	}
	return out, nil
}

// DeleteBouncer removes the bouncer called name, or returns an error
// wrapping ErrNotFound.
func (s *Store) DeleteBouncer(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, s.q.deleteBouncer, name)
	if err != nil {
		return fmt.Errorf("store: delete bouncer %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete bouncer %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete bouncer %q: %w", name, ErrNotFound)
	}
	return nil
}
