package decision

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// scriptStream answers Since from a script of reads, then nothing.
type scriptStream struct {
	mu      sync.Mutex
	reads   []streamRead
	cursors []int64 // the cursor of every call
}

type streamRead struct {
	added   []event.Decision
	deleted []Ended
	next    int64
	err     error
}

func (s *scriptStream) Since(_ context.Context, cursor int64) ([]event.Decision, []Ended, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors = append(s.cursors, cursor)
	if len(s.reads) == 0 {
		return nil, nil, cursor, nil
	}
	r := s.reads[0]
	s.reads = s.reads[1:]
	return r.added, r.deleted, r.next, r.err
}

func (s *scriptStream) calls() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.cursors...)
}

// TestFollow: decisions added to the stream enter the set, a failed read
// keeps the cursor, a deletion lifts only the decision that ends as the
// no later than the deleted row did (a longer one taken since stays), and each read asks from the cursor the last one returned.
func TestFollow(t *testing.T) {
	s, _ := newSet()
	a := ban("192.0.2.1/32", time.Hour)
	b := ban("192.0.2.2/32", time.Hour)
	st := &scriptStream{reads: []streamRead{
		{added: []event.Decision{a, b}, next: 7},
		{err: errors.New("database is locked")},
		{deleted: []Ended{{Scope: a.Scope, Until: a.Until}, {Scope: b.Scope, Until: b.Until.Add(-time.Minute)}}, next: 9},
	}}
	changed := 0
	var verdicts []Verdict
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Follow(ctx, FollowOptions{Stream: st, Cursor: 3, Every: time.Millisecond,
			Changed: func() { changed++ }, Added: func(_ *event.Decision, v Verdict) { verdicts = append(verdicts, v) }})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(st.calls()) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("Follow stopped reading")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := st.calls(); c[0] != 3 || c[1] != 7 || c[2] != 7 || c[3] != 9 {
		t.Fatalf("cursors asked %v, want 3, 7, 7 (after the failed read), 9", c)
	}
	if _, ok := s.Get(a.Scope); ok {
		t.Error("the deleted decision is still in the set")
	}
	if _, ok := s.Get(b.Scope); !ok {
		t.Error("the deletion of an earlier-ending row lifted a longer decision")
	}
	if changed != 2 || len(verdicts) != 2 || verdicts[0] != Added || verdicts[1] != Added {
		t.Fatalf("changed %d, verdicts %v", changed, verdicts)
	}
}
