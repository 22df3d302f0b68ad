package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Machine is a registered machine: a herd agent on another host that
// reports its alerts to this store's local API. Only a hash of its password
// is stored.
type Machine struct {
	Name         string
	PasswordHash []byte
	Created      time.Time
}

// AddMachine registers a machine under name with the hash of its password
// (the caller hashes). It returns an error wrapping ErrExists when the name
// is already registered.
func (s *Store) AddMachine(ctx context.Context, name string, passwordHash []byte) error {
	if name == "" || len(passwordHash) == 0 {
		return errors.New("store: add machine: empty name or password hash")
	}
	res, err := s.w.ExecContext(ctx, s.q.addMachine, name, passwordHash, nanos(s.now()))
	if err != nil {
		return fmt.Errorf("store: add machine %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: add machine %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("store: add machine %q: %w", name, ErrExists)
	}
	return nil
}

// MachineByName returns the machine called name, or an error wrapping
// ErrNotFound.
func (s *Store) MachineByName(ctx context.Context, name string) (Machine, error) {
	m := Machine{Name: name}
	var created int64
	err := s.r.QueryRowContext(ctx, s.q.machineByName, name).Scan(&m.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Machine{}, fmt.Errorf("store: machine %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Machine{}, fmt.Errorf("store: machine %q: %w", name, err)
	}
	m.Created = fromNanos(created)
	return m, nil
}

// Machines returns every registered machine, ordered by name.
func (s *Store) Machines(ctx context.Context) ([]Machine, error) {
	rows, err := s.r.QueryContext(ctx, s.q.machines)
	if err != nil {
		return nil, fmt.Errorf("store: machines: %w", err)
	}
	defer rows.Close()
	var out []Machine
	for rows.Next() {
		var (
			m       Machine
			created int64
		)
		if err := rows.Scan(&m.Name, &m.PasswordHash, &created); err != nil {
			return nil, fmt.Errorf("store: machines: %w", err)
		}
		m.Created = fromNanos(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: machines: %w", err)
	}
	return out, nil
}

// DeleteMachine removes the machine called name, or returns an error
// wrapping ErrNotFound. Its alerts and decisions stay.
func (s *Store) DeleteMachine(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, s.q.deleteMachine, name)
	if err != nil {
		return fmt.Errorf("store: delete machine %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete machine %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete machine %q: %w", name, ErrNotFound)
	}
	return nil
}

// Secret returns the secret called name, storing fresh first when there is
// none: the first caller's value wins, also between processes sharing a
// PostgreSQL store. fresh must not be empty.
func (s *Store) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if name == "" || len(fresh) == 0 {
		return nil, errors.New("store: secret: empty name or value")
	}
	if _, err := s.w.ExecContext(ctx, s.q.addSecret, name, fresh, nanos(s.now())); err != nil {
		return nil, fmt.Errorf("store: secret %q: %w", name, err)
	}
	var v []byte
	// Read on the writer: on SQLite a reader could lag behind it.
	if err := s.w.QueryRowContext(ctx, s.q.secret, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: secret %q: %w", name, err)
	}
	return v, nil
}

// AddRemoteAlert stores an alert a machine reported, with its decisions, in
// one transaction, and returns the alert's id. a.Machine and a.RemoteID
// identify the report: when that machine already reported that id, nothing
// is stored and the first alert's id is returned with dup true, so that a
// machine re-sending an alert whose answer it lost creates no second alert
// nor second decisions. The decisions' AlertID is set to the alert's id;
// see AddDecisions for the rest.
func (s *Store) AddRemoteAlert(ctx context.Context, a AlertRecord, ds []DecisionRecord) (id int64, dup bool, err error) {
	if a.Machine == "" || a.RemoteID == "" {
		return 0, false, errors.New("store: add remote alert: empty machine or remote id")
	}
	now := s.now()
	created := a.Created
	if created.IsZero() {
		created = now
	}
	lines, err := s.linesJSON(a.Lines)
	if err != nil {
		return 0, false, fmt.Errorf("store: add remote alert: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("store: add remote alert: %w", err)
	}
	defer rollback(tx)
	err = tx.QueryRowContext(ctx, s.q.addRemoteAlert, a.Scenario, addrText(a.Source), prefixText(a.Scope),
		nanos(a.First), nanos(a.Last), int64(a.Events), boolInt(a.Remedy), nanos(created), lines,
		a.Machine, a.RemoteID, geoCountry(a.Geo.Country), int64(a.Geo.ASN), geoOrg(a.Geo.ASOrg)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		// ON CONFLICT DO NOTHING: the machine sent this alert before.
		if err := tx.QueryRowContext(ctx, s.q.remoteAlertID, a.Machine, a.RemoteID).Scan(&id); err != nil {
			return 0, false, fmt.Errorf("store: add remote alert %s/%s: %w", a.Machine, a.RemoteID, err)
		}
		return id, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: add remote alert %s/%s: %w", a.Machine, a.RemoteID, err)
	}
	if len(ds) > 0 {
		withAlert := make([]DecisionRecord, len(ds))
		for i := range ds {
			withAlert[i] = ds[i]
			withAlert[i].AlertID = id
		}
		if _, err := s.insertDecisions(ctx, tx, withAlert, now); err != nil {
			return 0, false, fmt.Errorf("store: add remote alert %s/%s: %w", a.Machine, a.RemoteID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, false, fmt.Errorf("store: add remote alert: commit: %w", err)
	}
	return id, false, nil
}

// LocalAlertsAfter returns up to limit of this host's own alerts (Machine
// empty) whose id is above after, oldest first: what a reporting agent has
// still to send.
func (s *Store) LocalAlertsAfter(ctx context.Context, after int64, limit int) ([]AlertRecord, error) {
	if limit <= 0 {
		limit = defaultAlertsLimit
	}
	rows, err := s.r.QueryContext(ctx, s.q.localAlertsAfter, after, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("store: alerts after %d: %w", after, err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("store: alerts after %d: %w", after, err)
	}
	return as, nil
}

// DecisionsOfAlerts returns the live (not deleted) decisions taken for the
// given alerts, ordered by id. Expired ones not yet marked are included;
// the caller looks at Until.
func (s *Store) DecisionsOfAlerts(ctx context.Context, alertIDs []int64) ([]DecisionRecord, error) {
	var out []DecisionRecord
	for start := 0; start < len(alertIDs); start += idChunk {
		ids := alertIDs[start:min(start+idChunk, len(alertIDs))]
		q := rebind(s.dialect, `SELECT `+liveCols+` FROM decisions WHERE deleted_seq IS NULL AND alert_id <> 0 AND alert_id IN (?`+
			strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id`)
		var err error
		if out, _, err = s.queryDecisions(ctx, q, false, out, ids...); err != nil {
			return nil, fmt.Errorf("store: decisions of alerts: %w", err)
		}
	}
	return out, nil
}
