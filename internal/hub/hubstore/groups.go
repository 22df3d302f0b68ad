package hubstore

import (
	"context"
	"fmt"
	"time"

	"github.com/herd-ips/herd/internal/sqldb"
)

// lockBlobs serialises blob inserts on PostgreSQL, so that blobs become
// visible in the order of their sequence numbers and a reader that saw
// seq N never misses a smaller one committed later.
const lockBlobs = 0x6865726403

// Blob is one stored group blob: opaque bytes with the group id and epoch
// the hub files them under.
type Blob struct {
	Seq   int64
	Group [16]byte
	Epoch uint32
	Data  []byte
}

// AddBlob stores a group blob received at received and returns its
// sequence number, once committed.
func (s *Store) AddBlob(ctx context.Context, group [16]byte, epoch uint32, data []byte, received time.Time) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hubstore: add blob: %w", err)
	}
	defer tx.Rollback()
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockBlobs)); err != nil {
			return 0, fmt.Errorf("hubstore: add blob: %w", err)
		}
	}
	var seq int64
	err = tx.QueryRowContext(ctx, s.rebind(`INSERT INTO group_blobs (group_id, epoch, size, blob, received_ns) VALUES (?, ?, ?, ?, ?) RETURNING seq`),
		group[:], int64(epoch), int64(len(data)), data, received.UnixNano()).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("hubstore: add blob: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("hubstore: add blob: %w", err)
	}
	return seq, nil
}

// Blobs returns at most limit blobs of group after seq, in order.
func (s *Store) Blobs(ctx context.Context, group [16]byte, after int64, limit int) ([]Blob, error) {
	rows, err := s.r.QueryContext(ctx, s.rebind(`SELECT seq, epoch, blob FROM group_blobs WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		group[:], after, limit)
	if err != nil {
		return nil, fmt.Errorf("hubstore: blobs: %w", err)
	}
	defer rows.Close()
	var out []Blob
	for rows.Next() {
		b := Blob{Group: group}
		var epoch int64
		if err := rows.Scan(&b.Seq, &epoch, &b.Data); err != nil {
			return nil, fmt.Errorf("hubstore: blobs: %w", err)
		}
		b.Epoch = uint32(epoch)
		out = append(out, b)
	}
	return out, rows.Err()
}

// PruneBlobs deletes the blobs received before before and returns how
// many.
func (s *Store) PruneBlobs(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.rebind(`DELETE FROM group_blobs WHERE received_ns < ?`), before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("hubstore: prune blobs: %w", err)
	}
	return res.RowsAffected()
}

// TableRows returns the number of rows of each of the hub's tables (tests
// and herd hub status check what the hub keeps).
func (s *Store) TableRows(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range []string{"reporters", "signals", "listing", "changes", "group_blobs"} {
		var n int64
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("hubstore: count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

func (s *Store) rebind(q string) string { return sqldb.Rebind(s.pg, q) }
