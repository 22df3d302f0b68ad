package store

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The rows of the offsets table that are not the position of a followed
// file. A followed file's row is named by its absolute path, which starts
// with "/", so no file's row can take one of these names.
const (
	markJournal   = "journald"             // the journal's cursor
	markAdmin     = "herd:allow:ssh-admin" // first-start fact: the SSH administrator's address
	markReport    = "herd:report"          // the reporter's mark in the central's queue
	markCommunity = "hub:blocklist"        // the hub blocklist version held
	markPredicted = "hub:predicted"        // the hub predictions' version held
)

// HubList names one of the hub's signed lists the agent follows.
type HubList uint8

const (
	HubCommunity HubList = iota // the community blocklist
	HubPredicted                // the hub's predictions
)

// Marks is everything the agent saved of how far it got, each for what it
// is: the followed files' positions, the journal's cursor, the first-start
// fact, the report queue's mark and the hub version held.
type Marks struct {
	Files   []Offset // positions of followed files, by path
	Journal string   // the journal's cursor; "" when none was saved
	// Admin is the address of the administrator who first started the
	// agent over SSH, allowlisted at every start; invalid when none.
	Admin     netip.Prefix
	Report    ReportMark
	Community HubMark
	Predicted HubMark
	// Unknown are rows of no known kind (written by a newer herd); kept,
	// never interpreted.
	Unknown []Offset
}

// ReportMark is the reporter's place in the central API's queue.
type ReportMark struct {
	Instance string // the reporter's instance token; "" when never reported
	Sent     int64  // the highest alert id the central accepted
}

// HubMark is the version of the hub's community blocklist the agent holds.
type HubMark struct {
	Version uint64    // 0 when none is held
	Synced  time.Time // when the agent was last in step with the hub
}

// Marks reads every saved mark.
func (s *Store) Marks(ctx context.Context) (Marks, error) {
	offs, err := s.Offsets(ctx)
	if err != nil {
		return Marks{}, err
	}
	var m Marks
	for _, o := range offs {
		switch {
		case o.Source == markJournal:
			m.Journal = o.Cursor
		case o.Source == markAdmin:
			if p, err := netip.ParsePrefix(o.Cursor); err == nil {
				m.Admin = p
			}
		case o.Source == markReport:
			m.Report = ReportMark{Instance: o.Cursor, Sent: o.Offset}
		case o.Source == markCommunity:
			m.Community = parseHubMark(o.Cursor)
		case o.Source == markPredicted:
			m.Predicted = parseHubMark(o.Cursor)
		case strings.HasPrefix(o.Source, "/") || o.Cursor == "":
			m.Files = append(m.Files, o)
		default:
			m.Unknown = append(m.Unknown, o)
		}
	}
	return m, nil
}

// JournalOffset is the row that saves the journal's cursor, for
// CommitBatch (the cursor is committed with the batch it ends).
func JournalOffset(cursor string) Offset { return Offset{Source: markJournal, Cursor: cursor} }

// SaveAdmin keeps the first-start administrator's address.
func (s *Store) SaveAdmin(ctx context.Context, p netip.Prefix) error {
	if err := s.SaveOffsets(ctx, []Offset{{Source: markAdmin, Cursor: p.String()}}); err != nil {
		return fmt.Errorf("store: admin address: %w", err)
	}
	return nil
}

// SaveReportMark saves the reporter's place in the central's queue.
func (s *Store) SaveReportMark(ctx context.Context, m ReportMark) error {
	return s.SaveOffsets(ctx, []Offset{{Source: markReport, Cursor: m.Instance, Offset: m.Sent}})
}

// SaveHubMark saves the version of the hub's list l held and when it was
// synced (to the second).
func (s *Store) SaveHubMark(ctx context.Context, l HubList, m HubMark) error {
	cursor := strconv.FormatUint(m.Version, 10) + " " + strconv.FormatInt(m.Synced.Unix(), 10)
	row := markCommunity
	if l == HubPredicted {
		row = markPredicted
	}
	return s.SaveOffsets(ctx, []Offset{{Source: row, Cursor: cursor}})
}

// parseHubMark reads "VERSION UNIXSECONDS"; anything else is no mark.
func parseHubMark(s string) HubMark {
	v, t, _ := strings.Cut(s, " ")
	ver, err1 := strconv.ParseUint(v, 10, 64)
	sec, err2 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil {
		return HubMark{}
	}
	return HubMark{Version: ver, Synced: time.Unix(sec, 0)}
}

// Empty reports whether no mark at all was saved (a first start).
func (m *Marks) Empty() bool {
	return len(m.Files) == 0 && m.Journal == "" && !m.Admin.IsValid() && m.Report == (ReportMark{}) &&
		m.Community == (HubMark{}) && m.Predicted == (HubMark{}) && len(m.Unknown) == 0
}
