// Package hubstore keeps the hub's reporters, signals, listing and listing
// change log in SQLite or PostgreSQL behind one API.
//
// Several hub nodes may share one PostgreSQL database: signals are appended
// by any node, and the listing is rewritten by one node at a time under an
// advisory lock, so the change log has neither gaps nor duplicates. With
// SQLite, one process owns the file (one writer connection, WAL readers).
package hubstore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Errors returned by the store, to be tested with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrTooOld is returned by Since when the change log no longer holds
	// the changes after the requested version.
	ErrTooOld = errors.New("version older than the kept history")
)

// Advisory lock keys (PostgreSQL): recomputation of the listing, and the
// ingest/read barrier of the signal ids.
const (
	lockListing = 0x6865726401
	lockSignals = 0x6865726402
)

// Options configures Open.
type Options struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string
	// DSN is the SQLite file's path or a PostgreSQL URL / key=value string.
	DSN string
}

// Store is an open hub database, safe for concurrent use.
type Store struct {
	pg bool
	db *sqldb.DB
	w  *sql.DB // writes (one connection for SQLite): db.W
	r  *sql.DB // reads: db.R
	q  queries
}

// Reporter is an enrolled reporter.
type Reporter struct {
	ID       wire.ReporterID
	Key      ed25519.PublicKey
	Network  netip.Prefix // /24 or /48 it enrolled from
	Enrolled time.Time
}

// Open opens (creating if needed) the database and migrates it.
func Open(ctx context.Context, o Options) (*Store, error) {
	db, err := sqldb.Open(ctx, sqldb.Options{
		Driver:       o.Driver,
		DSN:          o.DSN,
		Migrations:   migrations,
		Dir:          "migrations",
		VersionTable: "hub_goose_version",
		Readers:      4,
		Conns:        16,
		BusyTimeout:  10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("hubstore: %w", err)
	}
	return &Store{pg: db.Postgres, db: db, w: db.W, r: db.R, q: buildQueries(db.Postgres)}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// queries holds the fixed statements, with their placeholders rewritten
// once for the dialect.
type queries struct {
	enroll, reporter                              string
	signals, purgeSignals                         string
	addRemoved, deleteListed, addAdded, addListed string
	changesSince, purgeChanges, addedSince        string
}

func buildQueries(pg bool) queries {
	r := func(q string) string { return sqldb.Rebind(pg, q) }
	return queries{
		enroll:       r(`INSERT INTO reporters (id, pubkey, network, enrolled_ns) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		reporter:     r(`SELECT id, pubkey, network, enrolled_ns FROM reporters WHERE id = ?`),
		signals:      r(`SELECT id, reporter, source, class, minute FROM signals WHERE id > ? AND id <= ? AND minute >= ? ORDER BY id`),
		purgeSignals: r(`DELETE FROM signals WHERE minute < ?`),
		addRemoved:   r(`INSERT INTO changes (seq, prefix, added, at_ns) VALUES (?, ?, 0, ?)`),
		deleteListed: r(`DELETE FROM listing WHERE prefix = ?`),
		addAdded:     r(`INSERT INTO changes (seq, prefix, added, at_ns) VALUES (?, ?, 1, ?)`),
		addListed:    r(`INSERT INTO listing (prefix, since_ns) VALUES (?, ?)`),
		changesSince: r(`SELECT prefix, added FROM changes WHERE seq > ? ORDER BY seq`),
		purgeChanges: r(`DELETE FROM changes WHERE at_ns < ? AND seq < (SELECT MAX(seq) FROM changes)`),
		addedSince:   r(`SELECT DISTINCT prefix FROM changes WHERE added = 1 AND at_ns >= ?`),
	}
}

// Enroll records r unless its id is known, and returns the stored reporter
// (the first enrollment wins: enrolling again does not reset the age).
func (s *Store) Enroll(ctx context.Context, r Reporter) (Reporter, error) {
	_, err := s.w.ExecContext(ctx, s.q.enroll,
		r.ID[:], []byte(r.Key), r.Network.String(), r.Enrolled.UnixNano())
	if err != nil {
		return Reporter{}, fmt.Errorf("hubstore: enroll: %w", err)
	}
	return s.reporter(ctx, s.w, r.ID)
}

// Reporter returns the reporter with id, or ErrNotFound.
func (s *Store) Reporter(ctx context.Context, id wire.ReporterID) (Reporter, error) {
	return s.reporter(ctx, s.r, id)
}

func (s *Store) reporter(ctx context.Context, db *sql.DB, id wire.ReporterID) (Reporter, error) {
	row := db.QueryRowContext(ctx, s.q.reporter, id[:])
	r, err := scanReporter(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("hubstore: reporter %s: %w", id, ErrNotFound)
	}
	return r, err
}

func scanReporter(scan func(...any) error) (Reporter, error) {
	var (
		r          Reporter
		id, key    []byte
		nw         string
		enrolledNs int64
	)
	if err := scan(&id, &key, &nw, &enrolledNs); err != nil {
		return r, err
	}
	if len(id) != len(r.ID) || len(key) != ed25519.PublicKeySize {
		return r, errors.New("hubstore: reporter: corrupt row")
	}
	p, err := netip.ParsePrefix(nw)
	if err != nil {
		return r, fmt.Errorf("hubstore: reporter network: %w", err)
	}
	copy(r.ID[:], id)
	r.Key = ed25519.PublicKey(key)
	r.Network = p
	r.Enrolled = time.Unix(0, enrolledNs).UTC()
	return r, nil
}

// Reporters returns every enrolled reporter, oldest enrollment first.
func (s *Store) Reporters(ctx context.Context) ([]Reporter, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, pubkey, network, enrolled_ns FROM reporters ORDER BY enrolled_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("hubstore: reporters: %w", err)
	}
	defer rows.Close()
	var out []Reporter
	for rows.Next() {
		r, err := scanReporter(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("hubstore: reporters: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// maxRowsPerInsert keeps a multi-row INSERT under SQLite's 32766 bound
// parameters and PostgreSQL's 65535.
const maxRowsPerInsert = 512

// AddSignals stores the signals of one batch from reporter, received at
// received from network, in one transaction: when AddSignals returns nil,
// the batch is committed and survives a crash.
func (s *Store) AddSignals(ctx context.Context, reporter wire.ReporterID, network netip.Prefix, received time.Time, sigs []wire.Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hubstore: add signals: %w", err)
	}
	defer tx.Rollback()
	if s.pg {
		// Shared with other ingests, exclusive against SafeSignalID.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, int64(lockSignals)); err != nil {
			return fmt.Errorf("hubstore: add signals: lock: %w", err)
		}
	}
	nw, rec := network.String(), received.UnixNano()
	args := make([]any, 0, 6*min(len(sigs), maxRowsPerInsert))
	var b strings.Builder
	for len(sigs) > 0 {
		n := min(len(sigs), maxRowsPerInsert)
		b.Reset()
		args = args[:0]
		b.WriteString(`INSERT INTO signals (reporter, source, class, minute, network, received_ns) VALUES `)
		for i, sg := range sigs[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?, ?, ?, ?, ?, ?)`)
			args = append(args, reporter[:], sg.Source.Unmap().AsSlice(), int64(sg.Class), int64(sg.Minute), nw, rec)
		}
		if _, err := tx.ExecContext(ctx, sqldb.Rebind(s.pg, b.String()), args...); err != nil {
			return fmt.Errorf("hubstore: add signals: %w", err)
		}
		sigs = sigs[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hubstore: add signals: commit: %w", err)
	}
	return nil
}

// StoredSignal is a signal as stored, with its reporter.
type StoredSignal struct {
	ID       int64
	Reporter wire.ReporterID
	wire.Signal
}

// SafeSignalID returns an id such that every signal with a smaller or equal
// id is committed (or rolled back) for good: reading up to it never skips a
// row that commits later. With PostgreSQL, ids are taken before commit, so
// this waits for the ingests in flight.
func (s *Store) SafeSignalID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if !s.pg {
		// One writer commits in id order; a WAL reader sees every commit
		// (and does not wait for the writer, which UpdateListing holds).
		err := s.r.QueryRowContext(ctx, `SELECT MAX(id) FROM signals`).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("hubstore: max signal id: %w", err)
		}
		return id.Int64, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hubstore: max signal id: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockSignals)); err != nil {
		return 0, fmt.Errorf("hubstore: max signal id: lock: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM signals`).Scan(&id); err != nil {
		return 0, fmt.Errorf("hubstore: max signal id: %w", err)
	}
	return id.Int64, tx.Commit()
}

// Signals calls fn for every signal with after < id <= upTo and minute >=
// minMinute, in id order.
func (s *Store) Signals(ctx context.Context, after, upTo int64, minMinute uint32, fn func(StoredSignal)) error {
	rows, err := s.r.QueryContext(ctx, s.q.signals,
		after, upTo, int64(minMinute))
	if err != nil {
		return fmt.Errorf("hubstore: signals: %w", err)
	}
	defer rows.Close()
	var (
		sg          StoredSignal
		rep, src    []byte
		cls, minute int64
	)
	for rows.Next() {
		if err := rows.Scan(&sg.ID, &rep, &src, &cls, &minute); err != nil {
			return fmt.Errorf("hubstore: signals: %w", err)
		}
		a, ok := netip.AddrFromSlice(src)
		if !ok || len(rep) != len(sg.Reporter) {
			return errors.New("hubstore: signals: corrupt row")
		}
		copy(sg.Reporter[:], rep)
		sg.Source, sg.Class, sg.Minute = a, wire.Class(cls), uint32(minute)
		fn(sg)
	}
	return rows.Err()
}

// PruneSignals deletes signals older than minMinute.
func (s *Store) PruneSignals(ctx context.Context, minMinute uint32) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q.purgeSignals, int64(minMinute))
	if err != nil {
		return 0, fmt.Errorf("hubstore: prune signals: %w", err)
	}
	return res.RowsAffected()
}

// UpdateListing rewrites the listing under the listing lock: it reads the
// current listing, calls compute with it, and appends the difference with
// what compute returns to the change log (removals first, then additions,
// each sorted), numbered after the last change, in one transaction. Only
// one node runs it at a time; compute runs inside the lock, so it must read
// every signal committed before it computes. It returns the new version.
func (s *Store) UpdateListing(ctx context.Context, now time.Time, compute func(current []netip.Addr) ([]netip.Addr, error)) (uint64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hubstore: update listing: %w", err)
	}
	defer tx.Rollback()
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockListing)); err != nil {
			return 0, fmt.Errorf("hubstore: update listing: lock: %w", err)
		}
	}
	cur, err := listing(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("hubstore: update listing: %w", err)
	}
	curAddrs := make([]netip.Addr, len(cur))
	have := make(map[netip.Addr]bool, len(cur))
	for i, p := range cur {
		curAddrs[i] = p.Addr()
		have[p.Addr()] = true
	}
	// A listed address is stored as the prefix it stands for
	// (wire.ListingPrefix: an IPv6 /64 by its first address); a removal
	// deletes the row as it was stored.
	want, err := compute(curAddrs)
	if err != nil {
		return 0, err
	}
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&version); err != nil {
		return 0, fmt.Errorf("hubstore: update listing: %w", err)
	}
	wantSet := make(map[netip.Addr]bool, len(want))
	for _, a := range want {
		wantSet[a] = true
	}
	at := now.UnixNano()
	for i, a := range curAddrs { // sorted by listing()
		if wantSet[a] {
			continue
		}
		version++
		p := cur[i].String()
		if _, err := tx.ExecContext(ctx, s.q.addRemoved, version, p, at); err != nil {
			return 0, fmt.Errorf("hubstore: update listing: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteListed, p); err != nil {
			return 0, fmt.Errorf("hubstore: update listing: %w", err)
		}
	}
	for _, a := range want { // sorted by the caller's contract
		if have[a] {
			continue
		}
		version++
		p := wire.ListingPrefix(a).String()
		if _, err := tx.ExecContext(ctx, s.q.addAdded, version, p, at); err != nil {
			return 0, fmt.Errorf("hubstore: update listing: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q.addListed, p, at); err != nil {
			return 0, fmt.Errorf("hubstore: update listing: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("hubstore: update listing: commit: %w", err)
	}
	return uint64(version), nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func listing(ctx context.Context, q querier) ([]netip.Prefix, error) {
	rows, err := q.QueryContext(ctx, `SELECT prefix FROM listing`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []netip.Prefix
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("listing row %q: %w", s, err)
		}
		out = append(out, p)
	}
	sortPrefixes(out)
	return out, rows.Err()
}

// readTx runs fn in one read-only snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Snapshot returns the current listing, sorted, and the change-log sequence
// it reflects.
func (s *Store) Snapshot(ctx context.Context) (version uint64, listed []netip.Prefix, err error) {
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&v); err != nil {
			return err
		}
		version = uint64(v)
		listed, err = listing(ctx, tx)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("hubstore: snapshot: %w", err)
	}
	return version, listed, nil
}

// Since returns the net changes after version from up to the returned
// version: an address added then removed in between appears in neither
// list. It returns an error wrapping ErrTooOld when the log no longer holds
// the changes after from, and when from is ahead of the log.
func (s *Store) Since(ctx context.Context, from uint64) (to uint64, added, removed []netip.Prefix, err error) {
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var lo, hi int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM changes`).Scan(&lo, &hi); err != nil {
			return err
		}
		if from > uint64(hi) {
			return fmt.Errorf("version %d is ahead of the log (%d): %w", from, hi, ErrTooOld)
		}
		if lo > 1 && from < uint64(lo-1) {
			return fmt.Errorf("version %d, oldest kept change %d: %w", from, lo, ErrTooOld)
		}
		to = uint64(hi)
		rows, err := tx.QueryContext(ctx, s.q.changesSince, int64(from))
		if err != nil {
			return err
		}
		defer rows.Close()
		state := map[netip.Prefix]int{} // net effect: +1 added, -1 removed
		var order []netip.Prefix
		for rows.Next() {
			var ps string
			var add int64
			if err := rows.Scan(&ps, &add); err != nil {
				return err
			}
			p, err := netip.ParsePrefix(ps)
			if err != nil {
				return fmt.Errorf("change row %q: %w", ps, err)
			}
			if _, ok := state[p]; !ok {
				order = append(order, p)
			}
			if add == 1 {
				state[p]++
			} else {
				state[p]--
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range order {
			switch {
			case state[p] > 0:
				added = append(added, p)
			case state[p] < 0:
				removed = append(removed, p)
			}
		}
		sortPrefixes(added)
		sortPrefixes(removed)
		return nil
	})
	if err != nil {
		return 0, nil, nil, fmt.Errorf("hubstore: since %d: %w", from, err)
	}
	return to, added, removed, nil
}

// PruneChanges deletes change-log rows older than before, keeping at least
// the latest one so that the version survives.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q.purgeChanges, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("hubstore: prune changes: %w", err)
	}
	return res.RowsAffected()
}

// ListedSince returns the addresses added to the listing at or after t
// (from the kept change log), for the engine's memory of past listings.
func (s *Store) ListedSince(ctx context.Context, t time.Time) ([]netip.Addr, error) {
	rows, err := s.r.QueryContext(ctx, s.q.addedSince, t.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("hubstore: listed since: %w", err)
	}
	defer rows.Close()
	var out []netip.Addr
	for rows.Next() {
		var ps string
		if err := rows.Scan(&ps); err != nil {
			return nil, fmt.Errorf("hubstore: listed since: %w", err)
		}
		if p, err := netip.ParsePrefix(ps); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, rows.Err()
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
