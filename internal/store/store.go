// Package store keeps herd's alerts, decisions, offsets and bouncer keys in
// SQLite or PostgreSQL behind one API.
//
// Both dialects share their SQL; only the schema files (migrations/<dialect>)
// and the placeholders differ ("?" for SQLite, "$n" for PostgreSQL, see
// rebind). Times are stored as UTC unix nanoseconds and addresses as the
// canonical text of a netip.Prefix or netip.Addr.
//
// A Store is safe for concurrent use. With SQLite, every write goes through
// one connection (SQLite allows one writer at a time; queueing in Go is
// cheaper than retrying on SQLITE_BUSY) while reads use a small pool of
// read-only connections that WAL mode lets run beside the writer.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Errors returned by the store, to be tested with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrEmptyFilter = errors.New("empty filter")
)

// Defaults for Options.
const (
	DefaultMaxAlertLines = 32
	DefaultMaxLineBytes  = 2048
	defaultAlertsLimit   = 100
	sqliteBusyTimeout    = 10 * time.Second
	sqliteReaders        = 4
	postgresConns        = 8
	maxInterned          = 1024
)

// Options configures Open.
type Options struct {
	// Driver is "sqlite" (the default when empty) or "postgres".
	Driver string
	// DSN is the database file's path for SQLite, created if missing, and a
	// connection URL (postgres://user:pass@host:port/db?sslmode=...) or
	// key=value string for PostgreSQL.
	DSN string
	// Time gives the time stamped on rows whose caller left it zero
	// (Created, deletion times). Nil means clock.Real; app injects the
	// clock.
	Time clock.Clock
	// MaxAlertLines bounds the log lines kept per alert (the first ones are
	// kept); 0 means DefaultMaxAlertLines.
	MaxAlertLines int
	// MaxLineBytes bounds each kept line, cut at that many bytes; 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
}

type dialect uint8

const (
	sqlite dialect = iota
	postgres
)

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	dialect dialect
	db      *sqldb.DB
	w       *sql.DB // writes (one connection for SQLite): db.W
	r       *sql.DB // reads; the same pool as w for PostgreSQL: db.R
	now     func() time.Time

	maxLines     int
	maxLineBytes int

	q          queries
	insertStmt *sql.Stmt // the insertChunk-row INSERT on the SQLite writer; nil for PostgreSQL
}

// Open opens (creating if needed) the database o describes and brings its
// schema up to date with the embedded migrations. SQLite runs in WAL mode
// with synchronous=NORMAL: a committed write survives a crash of herd, and
// at worst the last transactions are lost on a power failure.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{
		now:          clock.Or(o.Time).Now,
		maxLines:     o.MaxAlertLines,
		maxLineBytes: o.MaxLineBytes,
	}
	if s.maxLines <= 0 {
		s.maxLines = DefaultMaxAlertLines
	}
	if s.maxLineBytes <= 0 {
		s.maxLineBytes = DefaultMaxLineBytes
	}
	db, err := sqldb.Open(ctx, sqldb.Options{
		Driver:      o.Driver,
		DSN:         o.DSN,
		Migrations:  migrations,
		Dir:         "migrations",
		Readers:     sqliteReaders,
		Conns:       postgresConns,
		BusyTimeout: sqliteBusyTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.db, s.w, s.r = db, db.W, db.R
	if db.Postgres {
		s.dialect = postgres
	}
	s.q = buildQueries(s.dialect)
	if s.dialect == sqlite {
		// Prepared once on the one writer connection: parsing and planning
		// a 500-row INSERT costs about as much as running it. (pgx caches
		// prepared statements per connection by itself.)
		if s.insertStmt, err = s.w.PrepareContext(ctx, s.q.insertDecisions); err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open: prepare: %w", err)
		}
	}
	return s, nil
}

// Close closes the database. With SQLite the last connection to close
// checkpoints the write-ahead log into the database file.
func (s *Store) Close() error {
	var err error
	if s.insertStmt != nil {
		err = s.insertStmt.Close()
	}
	if s.db != nil {
		err = errors.Join(err, s.db.Close())
	}
	return err
}

// rebind rewrites the "?" placeholders of q as PostgreSQL's "$1", "$2", ...
// when d is postgres, skipping question marks inside single-quoted literals.
func rebind(d dialect, q string) string { return sqldb.Rebind(d == postgres, q) }

// Times are stored as UTC unix nanoseconds; 0 stands for the zero time.
// Times past what int64 nanoseconds can hold (year 2262) are clamped.
var (
	maxNanoTime = time.Unix(0, math.MaxInt64)
	minNanoTime = time.Unix(0, math.MinInt64+1)
)

func nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.After(maxNanoTime):
		return math.MaxInt64
	case t.Before(minNanoTime):
		return math.MinInt64 + 1
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// interner hands out one string per distinct value, so that loading a
// million decisions does not allocate a million copies of a few scenario
// names. It is used by one call at a time.
type interner map[string]string

func (m interner) get(s string) string {
	if t, ok := m[s]; ok {
		return t
	}
	if len(m) < maxInterned {
		m[s] = s
	}
	return s
}

// rollback ends tx when a commit did not happen; its error is the lesser
// one and is dropped.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
