package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// pgEnv names the environment variable holding the URL of a PostgreSQL
// server the tests may use; scripts/pg-test-server.sh prints it.
const pgEnv = "HERD_TEST_POSTGRES"

// fakeClock is a settable clock for Options.Time (through clock.Func).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// t0 is the fake clock's start: a round UTC time, so expectations read well.
var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// backend opens fresh, empty stores of one dialect.
type backend struct {
	name string
	// dsn returns a DSN naming an empty database, removed when t ends.
	dsn func(t testing.TB) string
}

func (b backend) driver() string {
	if b.name == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// open opens a fresh store on b with clock c (nil for a new fake clock at
// t0) and closes it when t ends.
func (b backend) open(t testing.TB, c *fakeClock) *Store {
	t.Helper()
	return b.openDSN(t, b.dsn(t), c)
}

func (b backend) openDSN(t testing.TB, dsn string, c *fakeClock) *Store {
	t.Helper()
	if c == nil {
		c = &fakeClock{t: t0}
	}
	s, err := Open(context.Background(), Options{Driver: b.driver(), DSN: dsn, Time: clock.Func(c.Now)})
	if err != nil {
		t.Fatalf("Open %s: %v", b.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var sqliteBackend = backend{
	name: "sqlite",
	dsn: func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "herd.db")
	},
}

var pgSchemas atomic.Int64

// postgresBackend gives each test its own schema on the server named by
// HERD_TEST_POSTGRES, through the search_path connection parameter, so
// tests run in parallel and leave nothing behind.
func postgresBackend(base string) backend {
	return backend{
		name: "postgres",
		dsn: func(t testing.TB) string {
			t.Helper()
			admin, err := sql.Open("pgx", base)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			schema := fmt.Sprintf("herd_test_%d_%d", os.Getpid(), pgSchemas.Add(1))
			if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
				t.Fatalf("postgres: create schema: %v", err)
			}
			t.Cleanup(func() {
				admin, err := sql.Open("pgx", base)
				if err != nil {
					return
				}
				defer admin.Close()
				admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			})
			u, err := url.Parse(base)
			if err != nil {
				t.Fatalf("%s: not a URL: %v", pgEnv, err)
			}
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		},
	}
}

// eachBackend runs f as a subtest on SQLite and on PostgreSQL; the
// PostgreSQL subtest skips, saying why, when HERD_TEST_POSTGRES is not set.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend) })
	t.Run("postgres", func(t *testing.T) { f(t, needPostgres(t)) })
}

// needPostgres returns the PostgreSQL backend or skips t.
func needPostgres(t testing.TB) backend {
	t.Helper()
	u := os.Getenv(pgEnv)
	if u == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server URL; eval \"$(bash scripts/pg-test-server.sh start)\" starts a throwaway one", pgEnv)
	}
	return postgresBackend(u)
}
