package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
)

// AlertRecord is an alert as the store keeps it.
type AlertRecord struct {
	ID int64
	event.Alert
	// Lines are the log lines behind the alert. They are attacker-written:
	// AddAlert keeps at most Options.MaxAlertLines of them, each cut to
	// Options.MaxLineBytes, with invalid UTF-8 replaced by U+FFFD.
	Lines   []string
	Created time.Time // zero on input means the store's clock
	// Machine is the name of the machine that reported the alert (see
	// AddRemoteAlert), empty for this host's own; RemoteID is the id that
	// machine gave it. AddAlert ignores both.
	Machine  string
	RemoteID string
}

// AlertFilter selects alerts. Its set fields are ANDed.
type AlertFilter struct {
	Scenario string
	Source   netip.Addr
	Since    time.Time // created at or after
	BeforeID int64     // ids below this one: the next page after an alert
	Limit    int       // at most this many, newest first; 0 means 100
	// NoLines leaves each alert's Lines empty: a summary (the console's
	// counts) does not read them from the database.
	NoLines bool
}

const alertCols = `id, scenario, source, scope, first_ns, last_ns, events, remedy, created_ns, lines, machine, remote_id, country, asn, as_org`

// alertColsNoLines are alertCols with an empty list in place of the lines.
const alertColsNoLines = `id, scenario, source, scope, first_ns, last_ns, events, remedy, created_ns, '[]', machine, remote_id, country, asn, as_org`

// AddAlert stores a as one of this host's alerts and returns its id.
func (s *Store) AddAlert(ctx context.Context, a AlertRecord) (int64, error) {
	id, err := s.insertAlert(ctx, s.w, a)
	if err != nil {
		return 0, fmt.Errorf("store: add alert %s %v: %w", a.Scenario, a.Source, err)
	}
	return id, nil
}

// rowQueryer is a *sql.DB or a *sql.Tx.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertAlert inserts a through q and returns its id.
func (s *Store) insertAlert(ctx context.Context, q rowQueryer, a AlertRecord) (int64, error) {
	created := a.Created
	if created.IsZero() {
		created = s.now()
	}
	lines, err := s.linesJSON(a.Lines)
	if err != nil {
		return 0, err
	}
	var id int64
	err = q.QueryRowContext(ctx, s.q.addAlert, a.Scenario, addrText(a.Source), prefixText(a.Scope),
		nanos(a.First), nanos(a.Last), int64(a.Events), boolInt(a.Remedy), nanos(created), lines,
		geoCountry(a.Geo.Country), int64(a.Geo.ASN), geoOrg(a.Geo.ASOrg)).Scan(&id)
	return id, err
}

// geoCountry keeps a country code only if it is two ASCII capitals: a
// remote machine's alert is not trusted to say more.
func geoCountry(c string) string {
	if len(c) == 2 && 'A' <= c[0] && c[0] <= 'Z' && 'A' <= c[1] && c[1] <= 'Z' {
		return c
	}
	return ""
}

// maxASOrg bounds an AS organisation's stored length.
const maxASOrg = 128

// geoOrg bounds an AS organisation's name and makes it valid UTF-8.
func geoOrg(o string) string {
	if len(o) > maxASOrg {
		o = o[:maxASOrg]
	}
	return strings.ToValidUTF8(o, "\uFFFD")
}

// linesJSON returns the bounded lines as the JSON text stored.
func (s *Store) linesJSON(lines []string) (string, error) {
	b, err := json.Marshal(s.boundLines(lines))
	return string(b), err
}

// boundLines returns the first maxLines lines, each cut to maxLineBytes and
// made valid UTF-8 (PostgreSQL refuses invalid text; JSON would mangle it).
func (s *Store) boundLines(lines []string) []string {
	if len(lines) > s.maxLines {
		lines = lines[:s.maxLines]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > s.maxLineBytes {
			// Cut at a rune boundary when the cut falls inside one.
			// l[n] is the first byte dropped: while it continues a rune,
			// that rune is split, so drop its head too.
			n := s.maxLineBytes
			for n > 0 && n > s.maxLineBytes-utf8.UTFMax && !utf8.RuneStart(l[n]) {
				n--
			}
			l = l[:n]
		}
		out[i] = strings.ToValidUTF8(l, "\uFFFD")
	}
	return out
}

// Alert returns the alert with the given id, or an error wrapping ErrNotFound.
func (s *Store) Alert(ctx context.Context, id int64) (AlertRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.q.alert, id)
	if err != nil {
		return AlertRecord{}, fmt.Errorf("store: alert %d: %w", id, err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return AlertRecord{}, fmt.Errorf("store: alert %d: %w", id, err)
	}
	if len(as) == 0 {
		return AlertRecord{}, fmt.Errorf("store: alert %d: %w", id, ErrNotFound)
	}
	return as[0], nil
}

// Alerts returns the alerts f selects, newest first.
func (s *Store) Alerts(ctx context.Context, f AlertFilter) ([]AlertRecord, error) {
	var where []string
	var args []any
	if f.Scenario != "" {
		where = append(where, "scenario = ?")
		args = append(args, f.Scenario)
	}
	if f.Source.IsValid() {
		where = append(where, "source = ?")
		args = append(args, addrText(f.Source))
	}
	if !f.Since.IsZero() {
		where = append(where, "created_ns >= ?")
		args = append(args, nanos(f.Since))
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAlertsLimit
	}
	cols := alertCols
	if f.NoLines {
		cols = alertColsNoLines
	}
	q := `SELECT ` + cols + ` FROM alerts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, int64(limit))
	rows, err := s.r.QueryContext(ctx, rebind(s.dialect, q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return as, nil
}

// PurgeAlerts removes the alerts created before before and returns how many.
// Decisions keep their AlertID.
func (s *Store) PurgeAlerts(ctx context.Context, before time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, s.q.purgeAlerts, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: purge alerts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge alerts: %w", err)
	}
	return int(n), nil
}

func scanAlerts(rows *sql.Rows) ([]AlertRecord, error) {
	defer rows.Close()
	var out []AlertRecord
	for rows.Next() {
		var (
			a                                     AlertRecord
			source, scope, lines                  string
			first, last, events, remedy, cre, asn int64
		)
		if err := rows.Scan(&a.ID, &a.Scenario, &source, &scope, &first, &last, &events, &remedy, &cre, &lines, &a.Machine, &a.RemoteID,
			&a.Geo.Country, &asn, &a.Geo.ASOrg); err != nil {
			return nil, err
		}
		var err error
		if a.Source, err = parseAddr(source); err != nil {
			return nil, fmt.Errorf("alert %d: %w", a.ID, err)
		}
		if a.Scope, err = parsePrefix(scope); err != nil {
			return nil, fmt.Errorf("alert %d: %w", a.ID, err)
		}
		if err := json.Unmarshal([]byte(lines), &a.Lines); err != nil {
			return nil, fmt.Errorf("alert %d: lines: %w", a.ID, err)
		}
		a.First, a.Last, a.Created = fromNanos(first), fromNanos(last), fromNanos(cre)
		a.Events, a.Remedy = int(events), remedy != 0
		a.Geo.ASN = uint32(asn)
		out = append(out, a)
	}
	return out, rows.Err()
}

// The zero Addr and Prefix are stored as the empty string.

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.Masked().String()
}

func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	return netip.ParsePrefix(s)
}
