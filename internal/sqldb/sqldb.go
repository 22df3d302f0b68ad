// Package sqldb has one job: open herd's SQLite or PostgreSQL databases as a
// writer/reader pair and apply their embedded migrations.
//
// With SQLite, every write goes through one connection (SQLite allows one
// writer at a time; queueing in Go is cheaper than retrying on SQLITE_BUSY)
// while reads use a small pool of query_only connections that WAL mode lets
// run beside the writer. With PostgreSQL, one pool serves both.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	// The database/sql drivers of the two dialects, both pure Go.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Options configures Open.
type Options struct {
	// Driver is "sqlite" (the default when empty) or "postgres".
	Driver string
	// DSN is the database file's path for SQLite, created mode 0600 if
	// missing, and a connection URL or key=value string for PostgreSQL.
	DSN string
	// Migrations holds the goose migrations of each dialect, in the
	// directories Dir/sqlite and Dir/postgres.
	Migrations fs.FS
	Dir        string
	// VersionTable names goose's version table; empty means goose's default.
	VersionTable string
	// Readers is the size of the SQLite reader pool.
	Readers int
	// Conns is the size of the PostgreSQL pool.
	Conns int
	// BusyTimeout is how long a SQLite connection waits for a lock.
	BusyTimeout time.Duration
}

// DB is an open database: W takes the writes (one connection for SQLite),
// R the reads (the same pool as W for PostgreSQL).
type DB struct {
	W, R     *sql.DB
	Postgres bool
}

// Open opens (creating if needed) the database o describes and brings its
// schema up to date. SQLite runs in WAL mode with synchronous=NORMAL and
// takes its write lock at BEGIN. Errors are not prefixed with the caller's
// name: the caller wraps them.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.DSN == "" {
		return nil, errors.New("open: empty DSN")
	}
	db := &DB{}
	var err error
	switch o.Driver {
	case "", "sqlite":
		err = db.openSQLite(o)
	case "postgres":
		db.Postgres = true
		err = db.openPostgres(o)
	default:
		return nil, fmt.Errorf("open: unknown driver %q (want sqlite or postgres)", o.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.Driver, err)
	}
	if err := db.migrate(ctx, o); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return db, nil
}

// sqliteURI returns the file: URI for file with the given query, so that a
// path holding '?' or '#' still names the right file.
func sqliteURI(file string, query url.Values) string {
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + query.Encode()
}

func (db *DB) openSQLite(o Options) error {
	// The files hold key hashes: create them readable by their owner only.
	// SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(o.DSN, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	busy := "busy_timeout(" + strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10) + ")"
	w, err := sql.Open("sqlite", sqliteURI(o.DSN, url.Values{
		"_pragma": {busy, "journal_mode(WAL)", "synchronous(NORMAL)"},
		// Take the write lock at BEGIN: a deferred transaction that reads
		// and then writes can fail with SQLITE_BUSY instead of waiting.
		"_txlock": {"immediate"},
	}))
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
	r, err := sql.Open("sqlite", sqliteURI(o.DSN, url.Values{"_pragma": {busy, "query_only(1)"}}))
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	db.W, db.R = w, r
	return nil
}

func (db *DB) openPostgres(o Options) error {
	p, err := sql.Open("pgx", o.DSN)
	if err != nil {
		return err
	}
	p.SetMaxOpenConns(o.Conns)
	p.SetMaxIdleConns(o.Conns)
	if err := p.Ping(); err != nil {
		p.Close()
		return err
	}
	db.W, db.R = p, p
	return nil
}

func (db *DB) migrate(ctx context.Context, o Options) error {
	dir, gd := "sqlite", goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if o.VersionTable != "" {
		opts = append(opts, goose.WithTableName(o.VersionTable))
	}
	if db.Postgres {
		dir, gd = "postgres", goose.DialectPostgres
		// Several processes starting at once against one server migrate
		// in turn.
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	if o.Migrations == nil {
		return errors.New("no migrations")
	}
	sub, err := fs.Sub(o.Migrations, path.Join(o.Dir, dir))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(gd, db.W, sub, opts...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes both pools. With SQLite the last connection to close
// checkpoints the write-ahead log into the database file.
func (db *DB) Close() error {
	var err error
	if db.R != nil && db.R != db.W {
		err = db.R.Close()
	}
	if db.W != nil {
		err = errors.Join(err, db.W.Close())
	}
	return err
}

// Rebind rewrites the "?" placeholders of q as PostgreSQL's "$1", "$2", ...
// when postgres is true. It skips question marks inside single-quoted
// literals.
func Rebind(postgres bool, q string) string {
	if !postgres || !strings.Contains(q, "?") {
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
