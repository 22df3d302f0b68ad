package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

var ctx = context.Background()

func ban(scope string, d time.Duration, scenario, origin string) DecisionRecord {
	return DecisionRecord{Decision: event.Decision{
		Type: event.Ban, Scope: netip.MustParsePrefix(scope), Duration: d,
		Until: t0.Add(d), Scenario: scenario, Origin: origin,
	}}
}

func ids(ds []DecisionRecord) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func mustAdd(t *testing.T, s *Store, ds ...DecisionRecord) []int64 {
	t.Helper()
	got, err := s.AddDecisions(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRebind(t *testing.T) {
	tests := []struct {
		in, sqlite, postgres string
	}{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = ?", "x = '?' AND y = $1"},
		{"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"},
		{strings.Repeat("?,", 10) + "?", strings.Repeat("?,", 10) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	}
	for _, tt := range tests {
		if got := rebind(sqlite, tt.in); got != tt.sqlite {
			t.Errorf("rebind(sqlite, %q) = %q, want %q", tt.in, got, tt.sqlite)
		}
		if got := rebind(postgres, tt.in); got != tt.postgres {
			t.Errorf("rebind(postgres, %q) = %q, want %q", tt.in, got, tt.postgres)
		}
	}
}

func TestNanos(t *testing.T) {
	tests := []struct {
		in   time.Time
		want time.Time // after the round trip
	}{
		{time.Time{}, time.Time{}},
		{t0, t0},
		{time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), time.Date(2026, 1, 2, 2, 4, 5, 6, time.UTC)},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), maxNanoTime.UTC()},
	}
	for _, tt := range tests {
		got := fromNanos(nanos(tt.in))
		if !got.Equal(tt.want) || got.Location() != time.UTC && !got.IsZero() {
			t.Errorf("fromNanos(nanos(%v)) = %v, want %v in UTC", tt.in, got, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // error substring
	}{
		{"unknown driver", Options{Driver: "mysql", DSN: "x"}, `unknown driver "mysql"`},
		{"empty DSN", Options{}, "empty DSN"},
		{"missing directory", Options{DSN: filepath.Join(t.TempDir(), "no", "such", "dir", "herd.db")}, "store: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenSQLiteSettings(t *testing.T) {
	// A path with characters that mean something in a URI.
	path := filepath.Join(t.TempDir(), "a dir?x#y%z", "herd.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s := sqliteBackend.openDSN(t, path, nil)
	for _, tt := range []struct {
		db     string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "1"}, // NORMAL
		{"writer", "busy_timeout", "10000"},
		{"reader", "journal_mode", "wal"},
		{"reader", "query_only", "1"},
		{"reader", "busy_timeout", "10000"},
	} {
		db := s.w
		if tt.db == "reader" {
			db = s.r
		}
		var got string
		if err := db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s PRAGMA %s = %s, want %s", tt.db, tt.pragma, got, tt.want)
		}
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("database file missing: %v", err)
			continue
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want -rw------- (it holds bouncer key hashes)", filepath.Base(f), m)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		s := b.openDSN(t, dsn, nil)
		want := mustAdd(t, s, ban("192.0.2.1/32", time.Hour, "ssh-bf", "herd"))
		s.Close()
		s = b.openDSN(t, dsn, nil) // migrations run again and change nothing
		live, err := s.LiveDecisions(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(live), want) {
			t.Errorf("after reopen, live ids = %v, want %v", ids(live), want)
		}
	})
}

func TestAddDecisions(t *testing.T) {
	big := make([]DecisionRecord, 1234) // more than two insert chunks
	for i := range big {
		big[i] = ban(fmt.Sprintf("10.%d.%d.1/32", i/256, i%256), time.Hour, "ssh-bf", "herd")
	}
	tests := []struct {
		name  string
		in    []DecisionRecord
		check func(t *testing.T, in, got []DecisionRecord)
		err   string
	}{
		{name: "none", in: nil},
		{
			name: "fields round-trip",
			in: []DecisionRecord{{
				Decision: event.Decision{Type: event.Captcha, Scope: netip.MustParsePrefix("2001:db8::/64"),
					Duration: 4 * time.Hour, Until: t0.Add(4 * time.Hour), Scenario: "http-probing",
					Origin: "community", Simulated: true},
				Created: t0.Add(-time.Minute), AlertID: 42,
			}},
			check: func(t *testing.T, in, got []DecisionRecord) {
				want := in[0]
				want.ID = got[0].ID
				if !equalDecision(got[0], want) {
					t.Errorf("got %+v\nwant %+v", got[0], want)
				}
			},
		},
		{
			name: "defaults from the clock and duration",
			in:   []DecisionRecord{{Decision: event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("192.0.2.7/32"), Duration: time.Hour}}},
			check: func(t *testing.T, in, got []DecisionRecord) {
				if !got[0].Created.Equal(t0) || !got[0].Until.Equal(t0.Add(time.Hour)) {
					t.Errorf("Created %v Until %v, want %v and %v", got[0].Created, got[0].Until, t0, t0.Add(time.Hour))
				}
			},
		},
		{
			name: "scope stored masked",
			in:   []DecisionRecord{ban("198.51.100.77/24", time.Hour, "scan", "herd")},
			check: func(t *testing.T, in, got []DecisionRecord) {
				if want := netip.MustParsePrefix("198.51.100.0/24"); got[0].Scope != want {
					t.Errorf("scope %v, want %v", got[0].Scope, want)
				}
			},
		},
		{
			name: "until beyond 2262 clamped",
			in:   []DecisionRecord{{Decision: event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("192.0.2.8/32"), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}}},
			check: func(t *testing.T, in, got []DecisionRecord) {
				if !got[0].Until.Equal(maxNanoTime) {
					t.Errorf("Until %v, want %v", got[0].Until, maxNanoTime)
				}
			},
		},
		{
			name: "batch across chunks keeps order",
			in:   big,
			check: func(t *testing.T, in, got []DecisionRecord) {
				for i := range in {
					if got[i].Scope != in[i].Scope {
						t.Fatalf("record %d scope %v, want %v", i, got[i].Scope, in[i].Scope)
					}
				}
			},
		},
		{
			name: "invalid scope refuses the whole batch",
			in:   []DecisionRecord{ban("192.0.2.1/32", time.Hour, "a", "herd"), {Decision: event.Decision{Type: event.Ban}}},
			err:  "decision 1: invalid scope",
		},
	}
	eachBackend(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := b.open(t, nil)
				got, err := s.AddDecisions(ctx, tt.in)
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("error %v, want %q", err, tt.err)
					}
					if live, _ := s.LiveDecisions(ctx, t0); len(live) != 0 {
						t.Errorf("failed batch left %d decisions", len(live))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.in) {
					t.Fatalf("%d ids for %d decisions", len(got), len(tt.in))
				}
				for i := 1; i < len(got); i++ {
					if got[i] != got[i-1]+1 {
						t.Fatalf("ids not consecutive: %v", got[i-1:i+1])
					}
				}
				live, err := s.LiveDecisions(ctx, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(live), got) {
					t.Fatalf("stored ids %v, want %v", ids(live), got)
				}
				if tt.check != nil {
					tt.check(t, tt.in, live)
				}
			})
		}
	})
}

func equalDecision(a, b DecisionRecord) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Scope == b.Scope && a.Duration == b.Duration &&
		a.Until.Equal(b.Until) && a.Scenario == b.Scenario && a.Origin == b.Origin &&
		a.Simulated == b.Simulated && a.Created.Equal(b.Created) && a.AlertID == b.AlertID &&
		a.Deleted.Equal(b.Deleted) && a.DeletedSeq == b.DeletedSeq
}

func TestLiveDecisions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		id := mustAdd(t, s,
			ban("192.0.2.1/32", time.Minute, "a", "herd"),
			ban("192.0.2.2/32", time.Hour, "a", "herd"),
			ban("192.0.2.3/32", 2*time.Hour, "a", "cli"),
		)
		if _, err := s.DeleteDecisions(ctx, DecisionFilter{Origin: "cli"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			now  time.Time
			want []int64
		}{
			{t0, id[:2]},
			{t0.Add(time.Minute - 1), id[:2]},
			{t0.Add(time.Minute), id[1:2]}, // Until must be after now
			{t0.Add(time.Hour), nil},
		}
		for _, tt := range tests {
			got, err := s.LiveDecisions(ctx, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("LiveDecisions(t0+%v) = %v, want %v", tt.now.Sub(t0), ids(got), tt.want)
			}
		}
	})
}

func TestDecisionsSince(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &fakeClock{t: t0}
		s := b.open(t, clock)
		cursor, err := s.Cursor(ctx)
		if err != nil || cursor != 0 {
			t.Fatalf("Cursor of an empty store = %d, %v; want 0", cursor, err)
		}
		// A bouncer polls after each step; the table says what it sees.
		steps := []struct {
			name        string
			do          func(t *testing.T)
			added, dels []string // scopes
		}{
			{"nothing yet", func(t *testing.T) {}, nil, nil},
			{"two added", func(t *testing.T) {
				mustAdd(t, s, ban("192.0.2.1/32", time.Hour, "a", "herd"), ban("192.0.2.2/32", time.Minute, "b", "herd"))
			}, []string{"192.0.2.1/32", "192.0.2.2/32"}, nil},
			{"one deleted", func(t *testing.T) {
				deleteOrFail(t, s, DecisionFilter{Scope: netip.MustParsePrefix("192.0.2.1/32")}, 1)
			}, nil, []string{"192.0.2.1/32"}},
			{"added then deleted between polls: neither", func(t *testing.T) {
				mustAdd(t, s, ban("192.0.2.3/32", time.Hour, "c", "herd"))
				deleteOrFail(t, s, DecisionFilter{Scenario: "c"}, 1)
			}, nil, nil},
			{"one expired, one added", func(t *testing.T) {
				clock.Set(t0.Add(time.Minute))
				if n, err := s.ExpireDecisions(ctx, t0.Add(time.Minute)); n != 1 || err != nil {
					t.Fatalf("ExpireDecisions = %d, %v; want 1", n, err)
				}
				mustAdd(t, s, ban("2001:db8::/64", time.Hour, "d", "herd"))
			}, []string{"2001:db8::/64"}, []string{"192.0.2.2/32"}},
			{"deleting nothing changes nothing", func(t *testing.T) {
				deleteOrFail(t, s, DecisionFilter{Scenario: "no-such"}, 0)
			}, nil, nil},
		}
		for _, st := range steps {
			st.do(t)
			added, deleted, err := s.DecisionsSince(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if got := scopes(added); !slices.Equal(got, st.added) {
				t.Errorf("%s: added %v, want %v", st.name, got, st.added)
			}
			if got := scopes(deleted); !slices.Equal(got, st.dels) {
				t.Errorf("%s: deleted %v, want %v", st.name, got, st.dels)
			}
			for _, d := range deleted {
				if d.Deleted.IsZero() || d.DeletedSeq <= cursor {
					t.Errorf("%s: deleted record %d has Deleted %v DeletedSeq %d (cursor %d)", st.name, d.ID, d.Deleted, d.DeletedSeq, cursor)
				}
			}
			cursor = NextCursor(cursor, added, deleted)
		}
		// A bouncer starting now: Cursor then LiveDecisions.
		c, err := s.Cursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c < cursor {
			t.Errorf("Cursor = %d, behind the polling bouncer's %d", c, cursor)
		}
		added, deleted, err := s.DecisionsSince(ctx, c)
		if err != nil || len(added)+len(deleted) != 0 {
			t.Errorf("DecisionsSince(Cursor) = %d added, %d deleted, %v; want nothing", len(added), len(deleted), err)
		}
	})
}

func scopes(ds []DecisionRecord) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Scope.String())
	}
	return out
}

func deleteOrFail(t *testing.T, s *Store, f DecisionFilter, want int) {
	t.Helper()
	n, err := s.DeleteDecisions(ctx, f)
	if err != nil || n != want {
		t.Fatalf("DeleteDecisions(%+v) = %d, %v; want %d", f, n, err, want)
	}
}

func TestDeleteDecisions(t *testing.T) {
	seed := []DecisionRecord{
		ban("192.0.2.1/32", time.Hour, "ssh-bf", "herd"),      // 0
		ban("192.0.2.2/32", time.Hour, "ssh-bf", "community"), // 1
		ban("192.0.2.2/32", time.Hour, "http-probe", "herd"),  // 2
		ban("2001:db8::/64", time.Hour, "http-probe", "cli"),  // 3
	}
	many := make([]DecisionRecord, 1100)
	for i := range many {
		many[i] = ban(fmt.Sprintf("10.0.%d.%d/32", i/256, i%256), time.Hour, "scan", "herd")
	}
	tests := []struct {
		name   string
		filter func(ids []int64) DecisionFilter
		want   []int // indexes into seed of the deleted
		err    error
	}{
		{"empty filter refused", func([]int64) DecisionFilter { return DecisionFilter{} }, nil, ErrEmptyFilter},
		{"by id", func(id []int64) DecisionFilter { return DecisionFilter{IDs: id[1:3]} }, []int{1, 2}, nil},
		{"by unknown id", func(id []int64) DecisionFilter { return DecisionFilter{IDs: []int64{id[3] + 100}} }, nil, nil},
		{"by scope", func([]int64) DecisionFilter {
			return DecisionFilter{Scope: netip.MustParsePrefix("192.0.2.2/32")}
		}, []int{1, 2}, nil},
		{"by scope, unmasked", func([]int64) DecisionFilter {
			return DecisionFilter{Scope: netip.MustParsePrefix("2001:db8::1/64")}
		}, []int{3}, nil},
		{"by scenario", func([]int64) DecisionFilter { return DecisionFilter{Scenario: "ssh-bf"} }, []int{0, 1}, nil},
		{"by origin", func([]int64) DecisionFilter { return DecisionFilter{Origin: "herd"} }, []int{0, 2}, nil},
		{"fields ANDed", func([]int64) DecisionFilter {
			return DecisionFilter{Scope: netip.MustParsePrefix("192.0.2.2/32"), Origin: "herd"}
		}, []int{2}, nil},
		{"ids ANDed with fields", func(id []int64) DecisionFilter {
			return DecisionFilter{IDs: id, Scenario: "http-probe"}
		}, []int{2, 3}, nil},
	}
	eachBackend(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := b.open(t, nil)
				id := mustAdd(t, s, seed...)
				n, err := s.DeleteDecisions(ctx, tt.filter(id))
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if n != len(tt.want) {
					t.Errorf("deleted %d, want %d", n, len(tt.want))
				}
				live, err := s.LiveDecisions(ctx, t0)
				if err != nil {
					t.Fatal(err)
				}
				var want []int64
				for i := range seed {
					if !slices.Contains(tt.want, i) {
						want = append(want, id[i])
					}
				}
				if !slices.Equal(ids(live), want) {
					t.Errorf("live %v, want %v", ids(live), want)
				}
				// Deleting again finds nothing: deleted rows are not counted twice.
				if f := tt.filter(id); tt.err == nil {
					if n, err := s.DeleteDecisions(ctx, f); n != 0 || err != nil {
						t.Errorf("second delete = %d, %v; want 0", n, err)
					}
				}
			})
		}
		t.Run("more ids than one statement takes", func(t *testing.T) {
			s := b.open(t, nil)
			id := mustAdd(t, s, many...)
			if n, err := s.DeleteDecisions(ctx, DecisionFilter{IDs: id}); n != len(id) || err != nil {
				t.Fatalf("deleted %d, %v; want %d", n, err, len(id))
			}
			_, deleted, err := s.DecisionsSince(ctx, id[len(id)-1])
			if err != nil {
				t.Fatal(err)
			}
			seq := deleted[0].DeletedSeq
			for _, d := range deleted {
				if d.DeletedSeq != seq {
					t.Fatalf("one delete got stream numbers %d and %d", seq, d.DeletedSeq)
				}
			}
			if len(deleted) != len(id) {
				t.Errorf("stream shows %d deletions, want %d", len(deleted), len(id))
			}
		})
	})
}

func TestExpireAndPurgeDecisions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &fakeClock{t: t0}
		s := b.open(t, clock)
		mustAdd(t, s,
			ban("192.0.2.1/32", time.Minute, "a", "herd"),
			ban("192.0.2.2/32", time.Minute, "a", "herd"),
			ban("192.0.2.3/32", time.Hour, "a", "herd"),
		)
		c0, _ := s.Cursor(ctx)
		steps := []struct {
			now         time.Duration // after t0
			expire      int
			purgeBefore time.Duration
			purged      int
			live        int
		}{
			{now: 0, expire: 0, purgeBefore: 0, purged: 0, live: 3},
			{now: time.Minute, expire: 2, purgeBefore: time.Minute, purged: 0, live: 1},
			{now: 2 * time.Minute, expire: 0, purgeBefore: time.Minute + 1, purged: 2, live: 1},
			{now: 3 * time.Hour, expire: 1, purgeBefore: time.Hour, purged: 0, live: 0},
		}
		for _, st := range steps {
			now := t0.Add(st.now)
			clock.Set(now)
			before, _ := s.Cursor(ctx)
			n, err := s.ExpireDecisions(ctx, now)
			if err != nil || n != st.expire {
				t.Errorf("t0+%v: ExpireDecisions = %d, %v; want %d", st.now, n, err, st.expire)
			}
			after, _ := s.Cursor(ctx)
			if (after != before) != (st.expire > 0) {
				t.Errorf("t0+%v: cursor moved from %d to %d with %d expired", st.now, before, after, st.expire)
			}
			if n, err := s.PurgeDecisions(ctx, t0.Add(st.purgeBefore)); err != nil || n != st.purged {
				t.Errorf("t0+%v: PurgeDecisions = %d, %v; want %d", st.now, n, err, st.purged)
			}
			live, err := s.LiveDecisions(ctx, now)
			if err != nil || len(live) != st.live {
				t.Errorf("t0+%v: %d live, %v; want %d", st.now, len(live), err, st.live)
			}
		}
		_, deleted, err := s.DecisionsSince(ctx, c0)
		if err != nil || len(deleted) != 1 {
			t.Errorf("after purge, stream shows %d deletions, %v; want the 1 not purged", len(deleted), err)
		}
	})
}

// TestStreamUnderConcurrentWrites checks the cursor contract with writers
// racing a polling bouncer: the bouncer ends up with exactly the live set.
func TestStreamUnderConcurrentWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		const writers, batches, per = 4, 25, 20
		var wg sync.WaitGroup
		errc := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range batches {
					ds := make([]DecisionRecord, per)
					for j := range ds {
						ds[j] = ban(fmt.Sprintf("10.%d.%d.%d/32", w, i, j), time.Hour, fmt.Sprintf("w%d", w), "herd")
					}
					got, err := s.AddDecisions(ctx, ds)
					if err != nil {
						errc <- err
						return
					}
					if i%3 == 0 { // delete some again, by id
						if _, err := s.DeleteDecisions(ctx, DecisionFilter{IDs: got[:per/2]}); err != nil {
							errc <- err
							return
						}
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[int64]bool{}
		var cursor int64
		poll := func() {
			added, deleted, err := s.DecisionsSince(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range added {
				seen[d.ID] = true
			}
			for _, d := range deleted {
				delete(seen, d.ID)
			}
			cursor = NextCursor(cursor, added, deleted)
		}
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				poll()
			}
		}
		poll()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		live, err := s.LiveDecisions(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := writers * batches * per * 5 / 6; len(live) < want-writers*per || len(seen) != len(live) {
			t.Errorf("bouncer holds %d decisions, store has %d live", len(seen), len(live))
		}
		for _, d := range live {
			if !seen[d.ID] {
				t.Fatalf("bouncer missed live decision %d", d.ID)
			}
		}
	})
}

func TestAlerts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &fakeClock{t: t0}
		s := b.open(t, clock)
		src1, src2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
		add := func(scenario string, src netip.Addr, at time.Duration, lines ...string) int64 {
			t.Helper()
			clock.Set(t0.Add(at))
			id, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{
				Scenario: scenario, Source: src, Scope: netip.PrefixFrom(src, src.BitLen()),
				First: t0.Add(at - time.Minute), Last: t0.Add(at), Events: 5, Remedy: true,
			}, Lines: lines})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		a1 := add("ssh-bf", src1, 0, "Failed password for root from 192.0.2.1 port 22 ssh2")
		a2 := add("http-probe", src1, time.Minute)
		a3 := add("ssh-bf", src2, 2*time.Minute)
		a4 := add("ssh-bf", src1, 3*time.Minute)

		got, err := s.Alert(ctx, a1)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != a1 || got.Scenario != "ssh-bf" || got.Source != src1 || got.Scope != netip.MustParsePrefix("192.0.2.1/32") ||
			!got.First.Equal(t0.Add(-time.Minute)) || !got.Last.Equal(t0) || got.Events != 5 || !got.Remedy ||
			!got.Created.Equal(t0) || !slices.Equal(got.Lines, []string{"Failed password for root from 192.0.2.1 port 22 ssh2"}) {
			t.Errorf("Alert(%d) = %+v", a1, got)
		}
		if _, err := s.Alert(ctx, a4+100); !errors.Is(err, ErrNotFound) {
			t.Errorf("Alert(missing) error %v, want ErrNotFound", err)
		}

		tests := []struct {
			name string
			f    AlertFilter
			want []int64
		}{
			{"all, newest first", AlertFilter{}, []int64{a4, a3, a2, a1}},
			{"by scenario", AlertFilter{Scenario: "ssh-bf"}, []int64{a4, a3, a1}},
			{"by source", AlertFilter{Source: src1}, []int64{a4, a2, a1}},
			{"by source v6", AlertFilter{Source: src2}, []int64{a3}},
			{"since", AlertFilter{Since: t0.Add(2 * time.Minute)}, []int64{a4, a3}},
			{"limit", AlertFilter{Limit: 2}, []int64{a4, a3}},
			{"next page", AlertFilter{Limit: 2, BeforeID: a3}, []int64{a2, a1}},
			{"ANDed", AlertFilter{Scenario: "ssh-bf", Source: src1, Since: t0.Add(time.Second)}, []int64{a4}},
			{"none", AlertFilter{Scenario: "nope"}, nil},
		}
		for _, tt := range tests {
			got, err := s.Alerts(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []int64
			for _, a := range got {
				gotIDs = append(gotIDs, a.ID)
			}
			if !slices.Equal(gotIDs, tt.want) {
				t.Errorf("%s: Alerts = %v, want %v", tt.name, gotIDs, tt.want)
			}
		}

		if n, err := s.PurgeAlerts(ctx, t0.Add(time.Minute)); n != 1 || err != nil {
			t.Errorf("PurgeAlerts = %d, %v; want 1", n, err)
		}
		if _, err := s.Alert(ctx, a1); !errors.Is(err, ErrNotFound) {
			t.Errorf("purged alert still there: %v", err)
		}
	})
}

func TestAlertLinesAreBounded(t *testing.T) {
	long := strings.Repeat("A", DefaultMaxLineBytes+100)
	tests := []struct {
		name  string
		lines []string
		check func(t *testing.T, got []string)
	}{
		{"none", nil, func(t *testing.T, got []string) {
			if len(got) != 0 {
				t.Errorf("got %q", got)
			}
		}},
		{"too many lines: first kept", func() []string {
			ls := make([]string, DefaultMaxAlertLines+10)
			for i := range ls {
				ls[i] = fmt.Sprint("line ", i)
			}
			return ls
		}(), func(t *testing.T, got []string) {
			if len(got) != DefaultMaxAlertLines || got[0] != "line 0" {
				t.Errorf("%d lines, first %q", len(got), got[0])
			}
		}},
		{"overlong line cut", []string{long}, func(t *testing.T, got []string) {
			if len(got[0]) != DefaultMaxLineBytes {
				t.Errorf("line of %d bytes kept", len(got[0]))
			}
		}},
		{"hostile bytes", []string{"user \x00root\xff\xfe ' \"; DROP TABLE alerts; -- \n\r\t é"}, func(t *testing.T, got []string) {
			want := "user \x00root\uFFFD ' \"; DROP TABLE alerts; -- \n\r\t é"
			if got[0] != want {
				t.Errorf("got %q, want %q", got[0], want)
			}
		}},
		{"cut inside a rune: the rune goes", []string{strings.Repeat("a", DefaultMaxLineBytes-1) + "é"}, func(t *testing.T, got []string) {
			if got[0] != strings.Repeat("a", DefaultMaxLineBytes-1) {
				t.Errorf("line %q... of %d bytes", got[0][:10], len(got[0]))
			}
		}},
	}
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		for _, tt := range tests {
			id, err := s.AddAlert(ctx, AlertRecord{Alert: event.Alert{Scenario: "x"}, Lines: tt.lines})
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			a, err := s.Alert(ctx, id)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if a.Source.IsValid() || a.Scope.IsValid() {
				t.Errorf("%s: zero source and scope came back as %v %v", tt.name, a.Source, a.Scope)
			}
			t.Run(tt.name, func(t *testing.T) { tt.check(t, a.Lines) })
		}
	})
}

func TestOffsets(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		steps := []struct {
			save []Offset
			want []Offset
		}{
			{nil, nil},
			{
				[]Offset{
					{Source: "/var/log/auth.log", Inode: 1 << 63, Dev: 0xffffffffffffffff, Offset: 1234, Fingerprint: 0xdeadbeefcafef00d},
					{Source: "journald", Cursor: "s=abc;i=1f;b=def"},
				},
				[]Offset{
					{Source: "/var/log/auth.log", Inode: 1 << 63, Dev: 0xffffffffffffffff, Offset: 1234, Fingerprint: 0xdeadbeefcafef00d},
					{Source: "journald", Cursor: "s=abc;i=1f;b=def"},
				},
			},
			{
				[]Offset{{Source: "/var/log/auth.log", Inode: 7, Dev: 8, Offset: 99, Fingerprint: 1}, {Source: "/var/log/nginx/access.log", Offset: 5}},
				[]Offset{
					{Source: "/var/log/auth.log", Inode: 7, Dev: 8, Offset: 99, Fingerprint: 1},
					{Source: "/var/log/nginx/access.log", Offset: 5},
					{Source: "journald", Cursor: "s=abc;i=1f;b=def"},
				},
			},
		}
		for i, st := range steps {
			if err := s.SaveOffsets(ctx, st.save); err != nil {
				t.Fatal(err)
			}
			got, err := s.Offsets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, st.want) {
				t.Errorf("step %d: Offsets = %+v\nwant %+v", i, got, st.want)
			}
		}
	})
}

func TestBouncers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		h1, h2 := []byte{1, 2, 3, 0, 255}, []byte("second key hash")
		steps := []struct {
			name string
			do   func() error
			err  error
		}{
			{"add", func() error { return s.AddBouncer(ctx, "nft", h1) }, nil},
			{"add another", func() error { return s.AddBouncer(ctx, "caddy", h2) }, nil},
			{"same name", func() error { return s.AddBouncer(ctx, "nft", []byte("other")) }, ErrExists},
			{"same hash", func() error { return s.AddBouncer(ctx, "third", h1) }, ErrExists},
			{"delete missing", func() error { return s.DeleteBouncer(ctx, "nope") }, ErrNotFound},
		}
		for _, st := range steps {
			if err := st.do(); !errors.Is(err, st.err) {
				t.Errorf("%s: error %v, want %v", st.name, err, st.err)
			}
		}
		if err := s.AddBouncer(ctx, "", h1); err == nil {
			t.Error("AddBouncer with an empty name succeeded")
		}
		lookups := []struct {
			hash []byte
			name string
			err  error
		}{
			{h1, "nft", nil},
			{h2, "caddy", nil},
			{[]byte{1, 2, 3}, "", ErrNotFound},
			{nil, "", ErrNotFound},
		}
		for _, l := range lookups {
			name, err := s.BouncerByKeyHash(ctx, l.hash)
			if name != l.name || !errors.Is(err, l.err) {
				t.Errorf("BouncerByKeyHash(%x) = %q, %v; want %q, %v", l.hash, name, err, l.name, l.err)
			}
		}
		bs, err := s.Bouncers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 2 || bs[0].Name != "caddy" || string(bs[0].KeyHash) != string(h2) || !bs[0].Created.Equal(t0) || bs[1].Name != "nft" {
			t.Errorf("Bouncers = %+v", bs)
		}
		if err := s.DeleteBouncer(ctx, "nft"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BouncerByKeyHash(ctx, h1); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted bouncer still found: %v", err)
		}
	})
}

func TestDecodeDecision(t *testing.T) {
	row := func(mod func(v []driver.Value)) []driver.Value {
		v := []driver.Value{int64(7), int64(1), "192.0.2.0/24", int64(time.Hour), t0.UnixNano(), "ssh-bf", []byte("herd"), int64(1), t0.UnixNano(), int32(3)}
		if mod != nil {
			mod(v)
		}
		return v
	}
	tests := []struct {
		name string
		v    []driver.Value
		err  string
	}{
		{"good", row(nil), ""},
		{"stream columns", append(row(nil), int64(9), nil), ""},
		{"float id", row(func(v []driver.Value) { v[0] = 7.0 }), "integer column holds float64"},
		{"int scope", row(func(v []driver.Value) { v[2] = int64(1) }), "text column holds int64"},
		{"bad scope", row(func(v []driver.Value) { v[2] = "192.0.2.0/33" }), "decision 7: netip.ParsePrefix"},
	}
	for _, tt := range tests {
		d, err := decodeDecision(tt.v, interner{})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d.ID != 7 || d.Type != event.Ban || d.Scope != netip.MustParsePrefix("192.0.2.0/24") || d.Duration != time.Hour ||
			!d.Until.Equal(t0) || d.Scenario != "ssh-bf" || d.Origin != "herd" || !d.Simulated || d.AlertID != 3 {
			t.Errorf("%s: decoded %+v", tt.name, d)
		}
		if len(tt.v) == 12 && (d.DeletedSeq != 9 || !d.Deleted.IsZero()) {
			t.Errorf("%s: deletion %d %v", tt.name, d.DeletedSeq, d.Deleted)
		}
	}
}

// TestTwoStoresShareSQLite opens one file twice, as the agent and a command
// line run beside it do: writes from both wait for each other (BEGIN
// IMMEDIATE, busy_timeout) and draw distinct ids from the one counter.
func TestTwoStoresShareSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herd.db")
	a := sqliteBackend.openDSN(t, path, nil)
	b := sqliteBackend.openDSN(t, path, nil)
	const rounds, per = 50, 20
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for k, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				ds := make([]DecisionRecord, per)
				for j := range ds {
					ds[j] = ban(fmt.Sprintf("10.%d.%d.%d/32", k, i, j), time.Hour, "x", "herd")
				}
				if _, err := s.AddDecisions(ctx, ds); err != nil {
					errc <- err
					return
				}
				if _, err := s.DeleteDecisions(ctx, DecisionFilter{Scope: ds[0].Scope}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		live, err := s.LiveDecisions(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := 2 * rounds * (per - 1); len(live) != want {
			t.Errorf("%d live decisions, want %d", len(live), want)
		}
	}
}

// TestChangesSince: the agent's view of the stream also lists a decision
// added and deleted between two polls as deleted, since the agent may hold
// it (it was its own); the bouncer's view lists it in neither.
func TestChangesSince(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &fakeClock{t: t0}
		s := b.open(t, clock)
		mustAdd(t, s, ban("192.0.2.1/32", time.Hour, "a", "herd"))
		cursor, err := s.Cursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, ban("192.0.2.3/32", time.Hour, "c", "herd"), ban("192.0.2.4/32", time.Hour, "d", "herd"))
		deleteOrFail(t, s, DecisionFilter{Scenario: "c"}, 1)
		added, deleted, err := s.ChangesSince(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if got := scopes(added); !slices.Equal(got, []string{"192.0.2.4/32"}) {
			t.Errorf("added %v, want [192.0.2.4/32]", got)
		}
		if got := scopes(deleted); !slices.Equal(got, []string{"192.0.2.3/32"}) {
			t.Errorf("deleted %v, want [192.0.2.3/32]", got)
		}
		_, bd, err := s.DecisionsSince(ctx, cursor)
		if err != nil || len(bd) != 0 {
			t.Errorf("bouncer view: deleted %v, %v; want none", scopes(bd), err)
		}
		next := NextCursor(cursor, added, deleted)
		if a, d, err := s.ChangesSince(ctx, next); err != nil || len(a)+len(d) != 0 {
			t.Errorf("ChangesSince(next) = %v %v %v; want nothing", scopes(a), scopes(d), err)
		}
	})
}

func TestAlertGeoRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, &fakeClock{t: t0})
		src := netip.MustParseAddr("192.0.2.1")
		a := event.Alert{Scenario: "ssh-bf", Source: src, Scope: netip.PrefixFrom(src, 32), First: t0, Last: t0, Events: 5, Remedy: true,
			Geo: event.Geo{Country: "FR", ASN: 4294967295, ASOrg: "Example \xff SA"}}
		id, err := s.AddAlert(ctx, AlertRecord{Alert: a})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Alert(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := (event.Geo{Country: "FR", ASN: 4294967295, ASOrg: "Example \uFFFD SA"}); got.Geo != want {
			t.Errorf("geo = %+v, want %+v", got.Geo, want)
		}
		// A remote machine's bogus country is not stored.
		a.Geo = event.Geo{Country: "<script>", ASN: 1}
		id, _, err = s.AddRemoteAlert(ctx, AlertRecord{Alert: a, Machine: "m", RemoteID: "1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Alert(ctx, id); err != nil || got.Geo != (event.Geo{ASN: 1}) {
			t.Errorf("remote alert geo = %+v, %v", got.Geo, err)
		}
	})
}
