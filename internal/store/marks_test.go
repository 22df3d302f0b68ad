package store

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestMarksEachForWhatItIs: every kind of mark saved comes back typed, in
// its own field, and no mark is ever taken for a followed file (the rows
// share a table; their names cannot collide with a file's absolute path).
func TestMarksEachForWhatItIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, nil)
		ctx := context.Background()
		m, err := s.Marks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Empty() {
			t.Fatalf("a new store has marks: %+v", m)
		}
		admin := netip.MustParsePrefix("198.51.100.7/32")
		synced := time.Unix(1_800_000_000, 0)
		file := Offset{Source: "/var/log/auth.log", Inode: 7, Dev: 1, Offset: 99, Fingerprint: 5}
		if err := s.SaveOffsets(ctx, []Offset{file}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitBatch(ctx, Batch{Offsets: []Offset{JournalOffset("s=abc;i=1")}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAdmin(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveReportMark(ctx, ReportMark{Instance: "tok", Sent: 41}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveHubMark(ctx, HubCommunity, HubMark{Version: 12, Synced: synced}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveHubMark(ctx, HubPredicted, HubMark{Version: 7, Synced: synced.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if m, err = s.Marks(ctx); err != nil {
			t.Fatal(err)
		}
		if len(m.Files) != 1 || m.Files[0] != file {
			t.Errorf("files %+v, want only %+v", m.Files, file)
		}
		if m.Journal != "s=abc;i=1" || m.Admin != admin || m.Report != (ReportMark{"tok", 41}) ||
			m.Community.Version != 12 || !m.Community.Synced.Equal(synced) ||
			m.Predicted.Version != 7 || !m.Predicted.Synced.Equal(synced.Add(time.Minute)) || len(m.Unknown) != 0 || m.Empty() {
			t.Errorf("marks %+v", m)
		}
	})
}

// TestHubMarkMalformedIsNone: a hub mark that does not read as "VERSION
// UNIXSECONDS" is no mark (the agent then takes a snapshot), never a
// wrong version.
func TestHubMarkMalformedIsNone(t *testing.T) {
	for _, c := range []string{"", "12", "12 x", "x 12", "-1 5", "12 5 7"} {
		if m := parseHubMark(c); m != (HubMark{}) {
			t.Errorf("parseHubMark(%q) = %+v, want none", c, m)
		}
	}
}
