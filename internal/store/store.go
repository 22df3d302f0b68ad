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
	"io/fs"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	// The database/sql drivers of the two dialects, both pure Go.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
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
	// Clock gives the time stamped on rows whose caller left it zero
	// (Created, deletion times). Nil means time.Now; app injects the clock.
	Clock func() time.Time
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
	w       *sql.DB // writes (one connection for SQLite)
	r       *sql.DB // reads; the same pool as w for PostgreSQL
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
		now:          o.Clock,
		maxLines:     o.MaxAlertLines,
		maxLineBytes: o.MaxLineBytes,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxLines <= 0 {
		s.maxLines = DefaultMaxAlertLines
	}
	if s.maxLineBytes <= 0 {
		s.maxLineBytes = DefaultMaxLineBytes
	}
	if o.DSN == "" {
		return nil, errors.New("store: open: empty DSN")
	}
	var err error
	switch o.Driver {
	case "", "sqlite":
		s.dialect = sqlite
		err = s.openSQLite(o.DSN)
	case "postgres":
		s.dialect = postgres
		err = s.openPostgres(o.DSN)
	default:
		return nil, fmt.Errorf("store: open: unknown driver %q (want sqlite or postgres)", o.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", o.Driver, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: migrate: %w", err)
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

// sqliteURI returns the file: URI for path with the given query, so that a
// path holding '?' or '#' still names the right file.
func sqliteURI(path string, query url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + query.Encode()
}

func (s *Store) openSQLite(path string) error {
	// The file holds bouncer key hashes: create it readable by its owner
	// only. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	busy := strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)
	wq := url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "journal_mode(WAL)", "synchronous(NORMAL)"},
		// Take the write lock at BEGIN: a deferred transaction that reads
		// and then writes can fail with SQLITE_BUSY instead of waiting.
		"_txlock": {"immediate"},
	}
	w, err := sql.Open("sqlite", sqliteURI(path, wq))
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect now: it creates the file and switches it to WAL before any
	// reader opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return err
	}
	rq := url.Values{"_pragma": {"busy_timeout(" + busy + ")", "query_only(1)"}}
	r, err := sql.Open("sqlite", sqliteURI(path, rq))
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.w, s.r = w, r
	return nil
}

func (s *Store) openPostgres(dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	if err := db.Ping(); err != nil {
		db.Close()
		return err
	}
	s.w, s.r = db, db
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	dir, gd := "migrations/sqlite", goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.dialect == postgres {
		dir, gd = "migrations/postgres", goose.DialectPostgres
		// Two agents starting at once against one server migrate in turn.
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(gd, s.w, sub, opts...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes the database. With SQLite the last connection to close
// checkpoints the write-ahead log into the database file.
func (s *Store) Close() error {
	var err error
	if s.insertStmt != nil {
		err = s.insertStmt.Close()
	}
	if s.r != nil && s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.w != nil {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

// rebind rewrites the "?" placeholders of q as PostgreSQL's "$1", "$2", ...
// when d is postgres. It skips question marks inside single-quoted literals.
func rebind(d dialect, q string) string {
	if d != postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

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
