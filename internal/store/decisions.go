package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// DecisionRecord is a decision as the store keeps it.
//
// IDs are monotonic in commit order, and deletions are numbered from the same
// sequence (DeletedSeq), so one integer cursor lets a bouncer follow both;
// see DecisionsSince.
type DecisionRecord struct {
	ID int64
	event.Decision
	Created time.Time // when the decision was taken; zero on input means the store's clock
	AlertID int64     // the alert behind it, 0 for none (community, cli)

	// Deleted is when the decision was deleted or expired by
	// ExpireDecisions, zero while it is live.
	Deleted time.Time
	// DeletedSeq is the stream number of its deletion, 0 while it is live.
	DeletedSeq int64
}

// DecisionFilter selects decisions to delete. Its set fields are ANDed; at
// least one must be set.
type DecisionFilter struct {
	IDs      []int64
	Scope    netip.Prefix // exact match on the masked prefix
	Scenario string
	Origin   string
}

// liveCols are the columns of a live decision; decisionCols add the
// deletion's, for the stream.
const (
	liveCols     = `id, type, scope, duration_ns, until_ns, scenario, origin, simulated, created_ns, alert_id`
	decisionCols = liveCols + `, COALESCE(deleted_seq, 0), COALESCE(deleted_ns, 0)`
)

const (
	insertDecisionPrefix = `INSERT INTO decisions (id, type, scope, duration_ns, until_ns, scenario, origin, simulated, created_ns, alert_id) VALUES `
	insertDecisionRow    = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertDecisionArgs   = 10
	// insertChunk rows go into one INSERT: few statements per batch, and
	// well under SQLite's 32766 and PostgreSQL's 65535 parameters.
	insertChunk = 500
	// idChunk ids go into one IN list.
	idChunk = 500
	// maxLiveHint caps the capacity LiveDecisions reserves from its count.
	maxLiveHint = 1 << 24
)

// queries holds the statements of one dialect, rebound once at Open.
type queries struct {
	bumpSeq          string
	readSeq          string
	insertDecisions  string // insertChunk rows
	liveDecisions    string
	countLive        string
	decisionsSince   string
	changesSince     string
	expire           string
	purgeDecisions   string
	decisionsOfAlert string
	countLiveBy      string

	addAlert    string
	alert       string
	purgeAlerts string
	countAlerts string

	saveOffset string
	offsets    string

	addBouncer       string
	bouncerByKeyHash string
	bouncers         string
	deleteBouncer    string

	addMachine       string
	machineByName    string
	machines         string
	deleteMachine    string
	addSecret        string
	secret           string
	addRemoteAlert   string
	remoteAlertID    string
	localAlertsAfter string
}

func buildQueries(d dialect) queries {
	return queries{
		bumpSeq:         rebind(d, `UPDATE stream SET seq = seq + ? WHERE id = 1 RETURNING seq`),
		readSeq:         `SELECT seq FROM stream WHERE id = 1`,
		insertDecisions: rebind(d, insertDecisionsSQL(insertChunk)),
		liveDecisions:   rebind(d, `SELECT `+liveCols+` FROM decisions WHERE deleted_seq IS NULL AND until_ns > ? ORDER BY id`),
		countLive:       rebind(d, `SELECT COUNT(*) FROM decisions WHERE deleted_seq IS NULL AND until_ns > ?`),
		// One statement, so one snapshot: a change committed between two
		// queries could otherwise advance the cursor past an unseen insert.
		decisionsSince: rebind(d, `SELECT `+decisionCols+` FROM decisions WHERE id > ? AND deleted_seq IS NULL
UNION ALL
SELECT `+decisionCols+` FROM decisions WHERE deleted_seq > ? AND id <= ?
ORDER BY 11, 1`),
		changesSince: rebind(d, `SELECT `+decisionCols+` FROM decisions WHERE id > ? AND deleted_seq IS NULL
UNION ALL
SELECT `+decisionCols+` FROM decisions WHERE deleted_seq > ?
ORDER BY 11, 1`),
		expire:           rebind(d, `UPDATE decisions SET deleted_seq = ?, deleted_ns = ? WHERE deleted_seq IS NULL AND until_ns <= ?`),
		purgeDecisions:   rebind(d, `DELETE FROM decisions WHERE deleted_seq IS NOT NULL AND deleted_ns < ?`),
		decisionsOfAlert: rebind(d, `SELECT `+decisionCols+` FROM decisions WHERE alert_id = ? AND alert_id <> 0 ORDER BY id`),
		countLiveBy: rebind(d, `SELECT origin, scenario, COUNT(*) FROM decisions WHERE deleted_seq IS NULL AND until_ns > ?
GROUP BY origin, scenario ORDER BY origin, scenario`),

		addAlert: rebind(d, `INSERT INTO alerts (scenario, source, scope, first_ns, last_ns, events, remedy, created_ns, lines, country, asn, as_org)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		alert:       rebind(d, `SELECT `+alertCols+` FROM alerts WHERE id = ?`),
		purgeAlerts: rebind(d, `DELETE FROM alerts WHERE created_ns < ?`),
		countAlerts: rebind(d, `SELECT COUNT(*) FROM alerts WHERE created_ns >= ?`),

		saveOffset: rebind(d, `INSERT INTO offsets (source, inode, dev, pos, fingerprint, journal_cursor, updated_ns)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source) DO UPDATE SET inode = excluded.inode, dev = excluded.dev, pos = excluded.pos,
  fingerprint = excluded.fingerprint, journal_cursor = excluded.journal_cursor, updated_ns = excluded.updated_ns`),
		offsets: `SELECT source, inode, dev, pos, fingerprint, journal_cursor FROM offsets ORDER BY source`,

		addBouncer:       rebind(d, `INSERT INTO bouncers (name, key_hash, created_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		bouncerByKeyHash: rebind(d, `SELECT name FROM bouncers WHERE key_hash = ?`),
		bouncers:         `SELECT name, key_hash, created_ns FROM bouncers ORDER BY name`,
		deleteBouncer:    rebind(d, `DELETE FROM bouncers WHERE name = ?`),

		addMachine:    rebind(d, `INSERT INTO machines (name, password_hash, created_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		machineByName: rebind(d, `SELECT password_hash, created_ns FROM machines WHERE name = ?`),
		machines:      `SELECT name, password_hash, created_ns FROM machines ORDER BY name`,
		deleteMachine: rebind(d, `DELETE FROM machines WHERE name = ?`),
		addSecret:     rebind(d, `INSERT INTO secrets (name, value, created_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		secret:        rebind(d, `SELECT value FROM secrets WHERE name = ?`),
		addRemoteAlert: rebind(d, `INSERT INTO alerts (scenario, source, scope, first_ns, last_ns, events, remedy, created_ns, lines, machine, remote_id, country, asn, as_org)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`),
		remoteAlertID:    rebind(d, `SELECT id FROM alerts WHERE machine = ? AND remote_id = ?`),
		localAlertsAfter: rebind(d, `SELECT `+alertCols+` FROM alerts WHERE id > ? AND machine = '' ORDER BY id LIMIT ?`),
	}
}

func insertDecisionsSQL(rows int) string {
	var b strings.Builder
	b.Grow(len(insertDecisionPrefix) + rows*(len(insertDecisionRow)+2))
	b.WriteString(insertDecisionPrefix)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(insertDecisionRow)
	}
	return b.String()
}

// AddDecisions stores ds in one transaction and returns their ids, in the
// order of ds. A zero Created is set from the store's clock, and a zero
// Until to Created+Duration. Every Scope must be valid; it is stored masked.
// ID, Deleted and DeletedSeq of ds are ignored. ds is not modified.
func (s *Store) AddDecisions(ctx context.Context, ds []DecisionRecord) ([]int64, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: add decisions: %w", err)
	}
	defer rollback(tx)
	ids, err := s.insertDecisions(ctx, tx, ds, s.now())
	if err != nil {
		return nil, fmt.Errorf("store: add decisions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: add decisions: commit: %w", err)
	}
	return ids, nil
}

// insertDecisions inserts ds in tx and returns
// their ids; now stands in for a zero Created.
func (s *Store) insertDecisions(ctx context.Context, tx *sql.Tx, ds []DecisionRecord, now time.Time) ([]int64, error) {
	for i := range ds {
		if !ds[i].Scope.IsValid() {
			return nil, fmt.Errorf("decision %d: invalid scope %v", i, ds[i].Scope)
		}
	}
	// The counter row is locked until commit, so ids are handed out in
	// commit order even with concurrent writers on PostgreSQL.
	var top int64
	if err := tx.QueryRowContext(ctx, s.q.bumpSeq, int64(len(ds))).Scan(&top); err != nil {
		return nil, fmt.Errorf("next id: %w", err)
	}
	first := top - int64(len(ds)) + 1
	ids := make([]int64, len(ds))
	args := make([]any, 0, min(len(ds), insertChunk)*insertDecisionArgs)
	for start := 0; start < len(ds); start += insertChunk {
		end := min(start+insertChunk, len(ds))
		args = args[:0]
		for i := start; i < end; i++ {
			d := &ds[i]
			id := first + int64(i)
			ids[i] = id
			created := d.Created
			if created.IsZero() {
				created = now
			}
			until := d.Until
			if until.IsZero() {
				until = created.Add(d.Duration)
			}
			args = append(args, id, int64(d.Type), d.Scope.Masked().String(), int64(d.Duration),
				nanos(until), d.Scenario, d.Origin, boolInt(d.Simulated), nanos(created), d.AlertID)
		}
		var err error
		switch {
		case end-start != insertChunk:
			_, err = tx.ExecContext(ctx, rebind(s.dialect, insertDecisionsSQL(end-start)), args...)
		case s.insertStmt != nil:
			_, err = tx.StmtContext(ctx, s.insertStmt).ExecContext(ctx, args...)
		default:
			_, err = tx.ExecContext(ctx, s.q.insertDecisions, args...)
		}
		if err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
	}
	return ids, nil
}

// LiveDecisions returns the decisions not deleted whose Until is after now,
// ordered by id: what the agent loads into the firewall at start. Simulated
// decisions are included; the caller decides what to do with them.
//
// Loading a million decisions takes a few seconds of CPU and about 200 MB
// for the result (see BenchmarkLiveDecisions1M).
func (s *Store) LiveDecisions(ctx context.Context, now time.Time) ([]DecisionRecord, error) {
	// Counting first costs a scan but spares growing (and copying) a
	// slice of a million records; the count is only a capacity hint.
	var n int64
	if err := s.r.QueryRowContext(ctx, s.q.countLive, nanos(now)).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: live decisions: %w", err)
	}
	ds, _, err := s.queryDecisions(ctx, s.q.liveDecisions, false,
		make([]DecisionRecord, 0, min(n+16, maxLiveHint)), nanos(now))
	if err != nil {
		return nil, fmt.Errorf("store: live decisions: %w", err)
	}
	return ds, nil
}

// Cursor returns the stream's current position: the number of the last
// change to decisions. A bouncer starting from scratch reads Cursor, then
// LiveDecisions, then follows with DecisionsSince(cursor); changes made in
// between are replayed, never missed.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, s.q.readSeq).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: cursor: %w", err)
	}
	return seq, nil
}

// DecisionsSince returns the changes after cursor, for a bouncer polling the
// CrowdSec-style stream: the decisions added after it and still not deleted
// (ordered by ID), and the decisions the bouncer may have seen (ID <= cursor)
// deleted after it (ordered by DeletedSeq). A decision added and deleted
// since the cursor appears in neither. Expired decisions are listed as new
// until ExpireDecisions marks them; the caller filters on Until.
//
// The next cursor is NextCursor(cursor, added, deleted). Both lists come from
// one snapshot, so that cursor never skips a change.
func (s *Store) DecisionsSince(ctx context.Context, cursor int64) (added, deleted []DecisionRecord, err error) {
	added, deleted, err = s.queryDecisions(ctx, s.q.decisionsSince, true, nil, cursor, cursor, cursor)
	if err != nil {
		return nil, nil, fmt.Errorf("store: decisions since %d: %w", cursor, err)
	}
	return added, deleted, nil
}

// ChangesSince is DecisionsSince for a holder of decisions it did not learn
// from the stream: the agent, whose own decisions enter its set before they
// are stored. Its deleted list also holds decisions added after cursor and
// deleted since, which a bouncer never saw but the agent may hold; without
// them a ban the agent took and someone deleted between two polls would
// never be lifted. NextCursor applies to its result too.
func (s *Store) ChangesSince(ctx context.Context, cursor int64) (added, deleted []DecisionRecord, err error) {
	added, deleted, err = s.queryDecisions(ctx, s.q.changesSince, true, nil, cursor, cursor)
	if err != nil {
		return nil, nil, fmt.Errorf("store: changes since %d: %w", cursor, err)
	}
	return added, deleted, nil
}

// NextCursor returns the cursor to pass to the next DecisionsSince call after
// one at cursor returned added and deleted.
func NextCursor(cursor int64, added, deleted []DecisionRecord) int64 {
	for i := range added {
		cursor = max(cursor, added[i].ID)
	}
	for i := range deleted {
		cursor = max(cursor, deleted[i].DeletedSeq)
	}
	return cursor
}

// queryDecisions runs q with args on a read connection and decodes its rows
// straight from the driver's values, appending to live. With stream, the
// rows carry decisionCols and deleted ones go into the second slice;
// without, they carry liveCols.
//
// It skips database/sql's Scan, whose per-column conversion cost a third of
// the CPU time of loading a million decisions; both drivers hand out int64
// for integers and string for text.
func (s *Store) queryDecisions(ctx context.Context, q string, stream bool, live []DecisionRecord, args ...int64) (_, deleted []DecisionRecord, err error) {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot query", dc)
		}
		rows, err := qc.QueryContext(ctx, q, nv)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols := 10
		if stream {
			cols = 12
		}
		if n := len(rows.Columns()); n != cols {
			return fmt.Errorf("%d columns, want %d", n, cols)
		}
		// A million rows share a few scenario and origin names.
		names := interner{}
		dest := make([]driver.Value, cols)
		for {
			if err := rows.Next(dest); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			d, err := decodeDecision(dest, names)
			if err != nil {
				return err
			}
			if stream && d.DeletedSeq != 0 {
				deleted = append(deleted, d)
			} else {
				live = append(live, d)
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return live, deleted, nil
}

// decodeDecision decodes one row of liveCols, or of decisionCols when v has
// their 12 values.
func decodeDecision(v []driver.Value, names interner) (DecisionRecord, error) {
	var (
		d   DecisionRecord
		dec valueDecoder
	)
	d.ID = dec.int64(v[0])
	d.Type = event.DecisionType(dec.int64(v[1]))
	scope := dec.string(v[2])
	d.Duration = time.Duration(dec.int64(v[3]))
	d.Until = fromNanos(dec.int64(v[4]))
	d.Scenario = names.get(dec.string(v[5]))
	d.Origin = names.get(dec.string(v[6]))
	d.Simulated = dec.int64(v[7]) != 0
	d.Created = fromNanos(dec.int64(v[8]))
	d.AlertID = dec.int64(v[9])
	if len(v) == 12 {
		d.DeletedSeq = dec.int64(v[10])
		d.Deleted = fromNanos(dec.int64(v[11]))
	}
	if dec.err != nil {
		return d, fmt.Errorf("decision %d: %w", d.ID, dec.err)
	}
	var err error
	if d.Scope, err = netip.ParsePrefix(scope); err != nil {
		return d, fmt.Errorf("decision %d: %w", d.ID, err)
	}
	return d, nil
}

// valueDecoder converts driver values, keeping the first error.
type valueDecoder struct{ err error }

func (c *valueDecoder) int64(v driver.Value) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case nil:
		return 0
	}
	if c.err == nil {
		c.err = fmt.Errorf("integer column holds %T", v)
	}
	return 0
}

func (c *valueDecoder) string(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	if c.err == nil {
		c.err = fmt.Errorf("text column holds %T", v)
	}
	return ""
}

// DeleteDecisions marks the live decisions f selects as deleted, stamped with
// the store's clock and one new stream number, and returns how many it
// marked. An empty filter is refused with ErrEmptyFilter.
func (s *Store) DeleteDecisions(ctx context.Context, f DecisionFilter) (int, error) {
	var where []string
	var args []any
	if f.Scope.IsValid() {
		where = append(where, "scope = ?")
		args = append(args, f.Scope.Masked().String())
	}
	if f.Scenario != "" {
		where = append(where, "scenario = ?")
		args = append(args, f.Scenario)
	}
	if f.Origin != "" {
		where = append(where, "origin = ?")
		args = append(args, f.Origin)
	}
	if len(where) == 0 && len(f.IDs) == 0 {
		return 0, fmt.Errorf("store: delete decisions: %w", ErrEmptyFilter)
	}
	n, err := s.markDeleted(ctx, func(tx *sql.Tx, seq, now int64) (int64, error) {
		head := []any{seq, now}
		if len(f.IDs) == 0 {
			return s.execCount(ctx, tx, `UPDATE decisions SET deleted_seq = ?, deleted_ns = ? WHERE deleted_seq IS NULL AND `+
				strings.Join(where, " AND "), append(head, args...))
		}
		var total int64
		for start := 0; start < len(f.IDs); start += idChunk {
			ids := f.IDs[start:min(start+idChunk, len(f.IDs))]
			cond := append(where[:len(where):len(where)], "id IN (?"+strings.Repeat(", ?", len(ids)-1)+")")
			a := append(append(head[:2:2], args...), int64sToAny(ids)...)
			n, err := s.execCount(ctx, tx, `UPDATE decisions SET deleted_seq = ?, deleted_ns = ? WHERE deleted_seq IS NULL AND `+
				strings.Join(cond, " AND "), a)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete decisions: %w", err)
	}
	return n, nil
}

// ExpireDecisions marks the live decisions whose Until is at or before now as
// deleted, stamped with now, so that bouncers following the stream remove
// them; it returns how many it marked. When none expire it writes nothing.
func (s *Store) ExpireDecisions(ctx context.Context, now time.Time) (int, error) {
	until := nanos(now)
	n, err := s.markDeleted(ctx, func(tx *sql.Tx, seq, _ int64) (int64, error) {
		return s.execCount(ctx, tx, s.q.expire, []any{seq, until, until})
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire decisions: %w", err)
	}
	return n, nil
}

// PurgeDecisions removes for good the decisions deleted before before, and
// returns how many. A bouncer whose cursor is older than the purged
// deletions no longer learns of them and must start over from
// LiveDecisions; purge with a margin longer than any polling interval.
func (s *Store) PurgeDecisions(ctx context.Context, before time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, s.q.purgeDecisions, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: purge decisions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge decisions: %w", err)
	}
	return int(n), nil
}

// markDeleted runs update in a write transaction with a fresh stream number
// and the clock's time, committing only when it changed rows.
func (s *Store) markDeleted(ctx context.Context, update func(tx *sql.Tx, seq, now int64) (int64, error)) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer rollback(tx)
	var seq int64
	if err := tx.QueryRowContext(ctx, s.q.bumpSeq, int64(1)).Scan(&seq); err != nil {
		return 0, fmt.Errorf("next stream number: %w", err)
	}
	n, err := update(tx, seq, nanos(s.now()))
	if err != nil || n == 0 {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return int(n), nil
}

func (s *Store) execCount(ctx context.Context, tx *sql.Tx, q string, args []any) (int64, error) {
	res, err := tx.ExecContext(ctx, rebind(s.dialect, q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func int64sToAny(v []int64) []any {
	a := make([]any, len(v))
	for i, x := range v {
		a[i] = x
	}
	return a
}
