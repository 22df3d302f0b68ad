package decision

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// Every verdict that leaves the set unchanged comes with a reason naming
// its cause; a decision that entered the set has none.
func TestReasonForEveryUnchangedVerdict(t *testing.T) {
	simulated := ban("192.0.2.10/32", time.Hour)
	simulated.Simulated = true
	captcha := ban("192.0.2.11/32", time.Hour)
	captcha.Type = event.Captcha
	expired := ban("192.0.2.12/32", time.Hour)
	expired.Until = t0.Add(-time.Minute)
	mapped := ban("::ffff:192.0.2.13/128", time.Hour)
	noScope := ban("192.0.2.14/32", time.Hour)
	noScope.Scope = netip.Prefix{}
	for _, tc := range []struct {
		d       event.Decision
		first   bool // add it once before
		verdict Verdict
		want    string
	}{
		{ban("192.0.2.1/32", time.Hour), false, Added, ""},
		{ban("192.0.2.2/32", 2*time.Hour), true, Kept, "already banned"},
		{ban("203.0.113.0/24", time.Hour), false, Refused, "never-ban set covers part of 203.0.113.0/24"},
		{simulated, false, Invalid, "simulated"},
		{captcha, false, Invalid, "captcha decision: only bans"},
		{expired, false, Invalid, "expired before it was applied: until 2026-11-23T08:59:00Z, now 2026-11-23T09:00:00Z"},
		{mapped, false, Invalid, "IPv4-mapped"},
		{noScope, false, Invalid, "no valid scope"},
	} {
		s, _ := newSet()
		if tc.first {
			s.Add(tc.d)
		}
		v := s.Add(tc.d)
		if v != tc.verdict {
			t.Errorf("%s: verdict %s, want %s", tc.d.Scope, v, tc.verdict)
		}
		got := Reason(tc.d, v, t0)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s (%s): reason %q, want %q", tc.d.Scope, v, got, tc.want)
		}
	}
}

// syncBuf is a bytes.Buffer safe for the logger's goroutine and the test's.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A decision from the store that the set refuses or finds invalid is
// logged with its reason.
func TestFollowLogsWhyADecisionChangedNothing(t *testing.T) {
	s, _ := newSet()
	expired := ban("192.0.2.12/32", time.Hour)
	expired.Until = t0.Add(-time.Minute)
	st := &scriptStream{reads: []streamRead{{added: []event.Decision{ban("203.0.113.1/32", time.Hour), expired}, next: 2}}}
	var logs syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Follow(ctx, FollowOptions{Stream: st, Every: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		`scope=203.0.113.1/32 origin=herd until=2026-11-23T10:00:00.000Z result=refused reason="the never-ban set covers part of 203.0.113.1/32`,
		`scope=192.0.2.12/32 origin=herd until=2026-11-23T08:59:00.000Z result=invalid reason="expired before it was applied`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
}
