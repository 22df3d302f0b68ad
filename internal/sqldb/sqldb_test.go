package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"},
		{strings.Repeat("?,", 10) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	}
	for _, tt := range tests {
		if got := Rebind(false, tt.in); got != tt.in {
			t.Errorf("Rebind(false, %q) = %q, want it unchanged", tt.in, got)
		}
		if got := Rebind(true, tt.in); got != tt.want {
			t.Errorf("Rebind(true, %q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	migrations := fstest.MapFS{
		"m/sqlite/00001_init.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE t (v INTEGER NOT NULL);\n-- +goose Down\nDROP TABLE t;\n")},
		"m/postgres/00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (v BIGINT NOT NULL);\n-- +goose Down\nDROP TABLE t;\n")},
	}
	path := filepath.Join(t.TempDir(), "x.db")
	o := Options{DSN: path, Migrations: migrations, Dir: "m", VersionTable: "v_version", Readers: 2, Conns: 2, BusyTimeout: 1500 * time.Millisecond}
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if db.Postgres || db.W == db.R {
		t.Fatalf("Postgres = %v, W == R: %v; want a SQLite writer/reader pair", db.Postgres, db.W == db.R)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	if _, err := db.W.ExecContext(ctx, Rebind(db.Postgres, "INSERT INTO t (v) VALUES (?)"), 7); err != nil {
		t.Fatalf("insert into the migrated table: %v", err)
	}
	var v int
	if err := db.R.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 7 {
		t.Fatalf("read back: %d, %v; want 7", v, err)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM v_version").Scan(&n); err != nil || n == 0 {
		t.Errorf("version table v_version: %d rows, %v", n, err)
	}
	for pragma, want := range map[string]string{"busy_timeout": "1500", "query_only": "1", "journal_mode": "wal"} {
		var got string
		if err := db.R.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("reader PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	if _, err := db.R.ExecContext(ctx, "INSERT INTO t (v) VALUES (1)"); err == nil {
		t.Error("the reader pool accepted a write")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening runs the migrations again and changes nothing.
	db, err = Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.R.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 7 {
		t.Fatalf("after reopening: %d, %v; want 7", v, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Options{}); err == nil || !strings.Contains(err.Error(), "empty DSN") {
		t.Errorf("empty DSN: %v", err)
	}
	if _, err := Open(ctx, Options{Driver: "mysql", DSN: "x"}); err == nil || !strings.Contains(err.Error(), "unknown driver") {
		t.Errorf("unknown driver: %v", err)
	}
	dir := t.TempDir()
	if _, err := Open(ctx, Options{DSN: filepath.Join(dir, "x.db"), Migrations: fstest.MapFS{}, Readers: 1}); err == nil {
		t.Error("Open with no sqlite/ migrations directory succeeded")
	}
}

// TestOpenPostgres opens a fresh schema of the HERD_TEST_POSTGRES server as
// one pool and applies the postgres/ migration with the locker.
func TestOpenPostgres(t *testing.T) {
	base := os.Getenv("HERD_TEST_POSTGRES")
	if base == "" {
		t.Skip("HERD_TEST_POSTGRES is not set (scripts/pg-test-server.sh start prints it): PostgreSQL test skipped")
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("sqldb_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	migrations := fstest.MapFS{
		"sqlite/00001_init.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE t (v INTEGER NOT NULL);\n")},
		"postgres/00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (v BIGINT NOT NULL, s TEXT NOT NULL);\n")},
	}
	db, err := Open(ctx, Options{Driver: "postgres", DSN: u.String(), Migrations: migrations, VersionTable: "v_version", Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.Postgres || db.W != db.R {
		t.Fatalf("Postgres = %v, W == R: %v; want one PostgreSQL pool", db.Postgres, db.W == db.R)
	}
	if _, err := db.W.ExecContext(ctx, Rebind(true, "INSERT INTO t (v, s) VALUES (?, '?')"), 7); err != nil {
		t.Fatalf("insert into the migrated table: %v", err)
	}
	var v int
	var s string
	if err := db.R.QueryRowContext(ctx, "SELECT v, s FROM t").Scan(&v, &s); err != nil || v != 7 || s != "?" {
		t.Fatalf("read back: %d %q, %v; want 7 \"?\"", v, s, err)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM v_version").Scan(&n); err != nil || n == 0 {
		t.Errorf("version table v_version: %d rows, %v", n, err)
	}
}
