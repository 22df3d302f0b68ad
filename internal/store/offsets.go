package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Offset is how far a source has been read, so that a restart neither loses
// nor repeats lines.
type Offset struct {
	Source      string // file path, or "journald"
	Inode, Dev  uint64 // identity of the file read, to notice rotation
	Offset      int64  // bytes read and handled
	Fingerprint uint64 // hash of the file's first bytes, to notice truncation or reuse of the inode
	Cursor      string // journald cursor; empty for files
}

// SaveOffsets stores os in one transaction, replacing the earlier offsets of
// the same sources.
func (s *Store) SaveOffsets(ctx context.Context, os []Offset) error {
	if len(os) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: save offsets: %w", err)
	}
	defer rollback(tx)
	if err := s.saveOffsets(ctx, tx, os); err != nil {
		return fmt.Errorf("store: save offsets: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: save offsets: commit: %w", err)
	}
	return nil
}

// saveOffsets writes os in tx.
func (s *Store) saveOffsets(ctx context.Context, tx *sql.Tx, os []Offset) error {
	now := nanos(s.now())
	stmt, err := tx.PrepareContext(ctx, s.q.saveOffset)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, o := range os {
		// uint64 values are stored bit for bit in signed 64-bit columns.
		if _, err := stmt.ExecContext(ctx, o.Source, int64(o.Inode), int64(o.Dev), o.Offset,
			int64(o.Fingerprint), o.Cursor, now); err != nil {
			return fmt.Errorf("offset %q: %w", o.Source, err)
		}
	}
	return nil
}

// Offsets returns every stored offset, ordered by source.
func (s *Store) Offsets(ctx context.Context) ([]Offset, error) {
	rows, err := s.r.QueryContext(ctx, s.q.offsets)
	if err != nil {
		return nil, fmt.Errorf("store: offsets: %w", err)
	}
	defer rows.Close()
	var out []Offset
	for rows.Next() {
		var (
			o                  Offset
			inode, dev, finger int64
		)
		if err := rows.Scan(&o.Source, &inode, &dev, &o.Offset, &finger, &o.Cursor); err != nil {
			return nil, fmt.Errorf("store: offsets: %w", err)
		}
		o.Inode, o.Dev, o.Fingerprint = uint64(inode), uint64(dev), uint64(finger)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: offsets: %w", err)
	}
	return out, nil
}
