package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// BatchAlert is an alert and the decision taken on it, if any.
type BatchAlert struct {
	Alert AlertRecord
	// Decision, when set, is stored with AlertID set to the alert's id.
	Decision *DecisionRecord
}

// Batch is what the agent commits at once: the alerts the lines of a batch
// raised, their decisions, and the offsets just after those lines.
type Batch struct {
	Alerts  []BatchAlert
	Offsets []Offset
}

// CommitBatch stores b's alerts, their decisions and its offsets in one
// transaction, and returns the alerts' ids in the order of b.Alerts. After a
// crash either all of it is stored or none: a line's effects are never
// stored without its offset, nor its offset without its effects. b is not
// modified.
func (s *Store) CommitBatch(ctx context.Context, b Batch) ([]int64, error) {
	if len(b.Alerts) == 0 && len(b.Offsets) == 0 {
		return nil, nil
	}
	var ds []DecisionRecord
	for i := range b.Alerts {
		if d := b.Alerts[i].Decision; d != nil {
			if !d.Scope.IsValid() {
				return nil, fmt.Errorf("store: commit batch: alert %d: invalid scope %v", i, d.Scope)
			}
			ds = append(ds, *d)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: commit batch: %w", err)
	}
	defer rollback(tx)
	ids := make([]int64, len(b.Alerts))
	j := 0
	for i := range b.Alerts {
		a := &b.Alerts[i]
		if ids[i], err = s.insertAlert(ctx, tx, a.Alert); err != nil {
			return nil, fmt.Errorf("store: commit batch: alert %s %v: %w", a.Alert.Scenario, a.Alert.Source, err)
		}
		if a.Decision != nil {
			ds[j].AlertID = ids[i]
			j++
		}
	}
	if len(ds) > 0 {
		if _, err := s.insertDecisions(ctx, tx, ds, s.now()); err != nil {
			return nil, fmt.Errorf("store: commit batch: decisions: %w", err)
		}
	}
	if len(b.Offsets) > 0 {
		if err := s.saveOffsets(ctx, tx, b.Offsets); err != nil {
			return nil, fmt.Errorf("store: commit batch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit batch: commit: %w", err)
	}
	return ids, nil
}

// DecisionsOfAlert returns every decision taken on the alert id, live or
// deleted, ordered by id.
func (s *Store) DecisionsOfAlert(ctx context.Context, id int64) ([]DecisionRecord, error) {
	live, deleted, err := s.queryDecisions(ctx, s.q.decisionsOfAlert, true, nil, id)
	if err != nil {
		return nil, fmt.Errorf("store: decisions of alert %d: %w", id, err)
	}
	all := append(live, deleted...)
	slices.SortFunc(all, func(a, b DecisionRecord) int { return cmp.Compare(a.ID, b.ID) })
	return all, nil
}

// DecisionCount is how many live decisions share an origin and scenario.
type DecisionCount struct {
	Origin, Scenario string
	N                int
}

// CountLiveDecisions returns the number of decisions live at now, per origin
// and scenario, ordered by origin then scenario.
func (s *Store) CountLiveDecisions(ctx context.Context, now time.Time) ([]DecisionCount, error) {
	rows, err := s.r.QueryContext(ctx, s.q.countLiveBy, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("store: count live decisions: %w", err)
	}
	defer rows.Close()
	var out []DecisionCount
	for rows.Next() {
		var c DecisionCount
		var n int64
		if err := rows.Scan(&c.Origin, &c.Scenario, &n); err != nil {
			return nil, fmt.Errorf("store: count live decisions: %w", err)
		}
		c.N = int(n)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count live decisions: %w", err)
	}
	return out, nil
}

// CountAlerts returns the number of alerts created at or after since.
func (s *Store) CountAlerts(ctx context.Context, since time.Time) (int, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, s.q.countAlerts, nanos(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count alerts: %w", err)
	}
	return int(n), nil
}
