package detect_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/source"
)

// recordSink records the order of its calls and fails its commits while
// fail is set.
type recordSink struct {
	calls []string
	fail  bool
	seen  detect.Batch // a copy of the last committed batch's counts
}

func (s *recordSink) Decide(d event.Decision, _ time.Time) {
	s.calls = append(s.calls, "decide "+d.Scope.String())
}

func (s *recordSink) Commit(_ context.Context, b *detect.Batch) error {
	s.calls = append(s.calls, "commit")
	if s.fail {
		return errors.New("disk full")
	}
	s.seen = detect.Batch{Lines: b.Lines, Alerts: append([]detect.Pending(nil), b.Alerts...), Cursor: append([]byte(nil), b.Cursor...)}
	return nil
}

func outcome(scope string, decided bool) detect.Result {
	a := event.Alert{Scenario: "ssh-bf", Source: netip.MustParsePrefix(scope).Addr(), Scope: netip.MustParsePrefix(scope)}
	oc := detect.Outcome{Alert: a, Verdict: profile.AlreadyDecided}
	if decided {
		oc.Verdict = profile.Decided
		oc.Decision = event.Decision{Type: event.Ban, Scope: a.Scope, Origin: event.OriginHerd}
	}
	return detect.Result{Outcomes: []detect.Outcome{oc}}
}

// TestBatchDecidesBeforeItCommits: every decision of a batch reaches the
// sink before the one commit; a decision makes the batch due at once; the
// evidence of an alert without lines is the line itself.
func TestBatchDecidesBeforeItCommits(t *testing.T) {
	var b detect.Batch
	var none detect.Result
	b.Add(&none, []byte("nothing"), time.Time{})
	if b.Due() {
		t.Fatal("a batch of one uneventful line is due")
	}
	r := outcome("192.0.2.1/32", false)
	b.Add(&r, []byte("alert line"), time.Time{})
	if b.Due() {
		t.Fatal("an alert without a decision made the batch due")
	}
	r = outcome("192.0.2.2/32", true)
	b.Add(&r, []byte("ban line"), time.Time{})
	if !b.Due() {
		t.Fatal("a decision did not make the batch due")
	}
	b.Mark(&source.Line{Name: "journald", Cursor: []byte("s=1")})
	s := &recordSink{}
	if err := b.Flush(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 2 || s.calls[0] != "decide 192.0.2.2/32" || s.calls[1] != "commit" {
		t.Fatalf("sink calls %q, want the decision then one commit", s.calls)
	}
	if s.seen.Lines != 3 || len(s.seen.Alerts) != 2 || s.seen.Alerts[0].Lines[0] != "alert line" || string(s.seen.Cursor) != "s=1" {
		t.Fatalf("committed %+v", s.seen)
	}
	if !b.Empty() || b.Due() || b.Lines != 0 {
		t.Fatalf("the batch was not reset after its commit: %+v", b)
	}
}

// TestBatchKeptWhenCommitFails: a failed commit leaves the batch as it was
// (the agent stops; nothing of it is marked done).
func TestBatchKeptWhenCommitFails(t *testing.T) {
	var b detect.Batch
	b.Mark(&source.Line{Name: "/var/log/auth.log", Pos: source.Position{Path: "/var/log/auth.log", Offset: 42}})
	r := outcome("2001:db8::/64", true)
	b.Add(&r, []byte("x"), time.Time{})
	err := b.Flush(context.Background(), &recordSink{fail: true})
	if err == nil {
		t.Fatal("Flush hid the commit's error")
	}
	if len(b.Alerts) != 1 || b.Offsets["/var/log/auth.log"].Offset != 42 {
		t.Fatalf("the batch changed after a failed commit: %+v", b)
	}
}

// TestBatchMarkDoesNotAllocate: marking a line of a source already seen
// costs nothing (it runs for every line).
func TestBatchMarkDoesNotAllocate(t *testing.T) {
	var b detect.Batch
	l := source.Line{Name: "/var/log/auth.log", Pos: source.Position{Path: "/var/log/auth.log"}}
	j := source.Line{Name: "journald", Cursor: []byte("s=abc;i=1")}
	b.Mark(&l)
	b.Mark(&j)
	if n := testing.AllocsPerRun(1000, func() { l.Pos.Offset++; b.Mark(&l); b.Mark(&j) }); n != 0 {
		t.Fatalf("Mark allocates %.1f times per line", n)
	}
}
