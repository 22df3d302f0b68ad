package enforce_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/event"
)

// fakeEnforcer records what it is asked and fails while fail is set.
type fakeEnforcer struct {
	mu         sync.Mutex
	fail       bool
	held       map[netip.Prefix]bool
	applies    int
	reconciles int
}

func (f *fakeEnforcer) Apply(c event.Change, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies++
	if f.fail {
		return errors.New("kernel said no")
	}
	for _, p := range c.Delete {
		delete(f.held, p)
	}
	for _, d := range c.Add {
		f.held[d.Scope] = true
	}
	return nil
}

func (f *fakeEnforcer) Reconcile(live []event.Decision, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles++
	if f.fail {
		return errors.New("kernel said no")
	}
	clear(f.held)
	for _, d := range live {
		f.held[d.Scope] = true
	}
	return nil
}

func (f *fakeEnforcer) Close() error { return nil }

func (f *fakeEnforcer) holds(p netip.Prefix) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[p]
}

// changes is a hand-fed Changes.
type changes struct {
	mu      sync.Mutex
	ready   chan struct{}
	pending event.Change
}

func (c *changes) Ready() <-chan struct{} { return c.ready }
func (c *changes) Take() event.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.pending
	c.pending = event.Change{}
	return x
}
func (c *changes) add(d event.Decision) {
	c.mu.Lock()
	c.pending.Add = append(c.pending.Add, d)
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

func ban(s string) event.Decision {
	return event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix(s), Origin: event.OriginHerd, Scenario: "ssh-bf"}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLoopReconcilesAfterAFailedApply: a failed Apply marks the enforcer
// out of step; the loop then reconciles the whole live set on its retry
// timer, and the ban that failed is in once it succeeds.
func TestLoopReconcilesAfterAFailedApply(t *testing.T) {
	fe := &fakeEnforcer{held: map[netip.Prefix]bool{}}
	ch := &changes{ready: make(chan struct{}, 1)}
	var live []event.Decision
	var liveMu sync.Mutex
	retry := make(chan time.Time)
	l := enforce.New(enforce.Options{
		Enforcer: fe, Name: "fake", Changes: ch,
		Live: func() []event.Decision {
			liveMu.Lock()
			defer liveMu.Unlock()
			return append([]event.Decision(nil), live...)
		},
		After: func(time.Duration) <-chan time.Time { return retry },
	})
	if err := l.Restore(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()

	d := ban("192.0.2.7/32")
	liveMu.Lock()
	live = append(live, d)
	liveMu.Unlock()
	fe.mu.Lock()
	fe.fail = true
	fe.mu.Unlock()
	ch.add(d)
	waitFor(t, "the failed apply", func() bool { return l.State().Failures == 1 })
	if st := l.State(); st.InStep || st.LastErr == "" {
		t.Fatalf("after a failed apply the state is %+v, want out of step with the error", st)
	}
	retry <- time.Now() // the reconcile fails too
	waitFor(t, "the failed reconcile", func() bool { return l.State().Failures == 2 })
	fe.mu.Lock()
	fe.fail = false
	fe.mu.Unlock()
	retry <- time.Now()
	waitFor(t, "the ban back in", func() bool { return fe.holds(d.Scope) })
	if st := l.State(); !st.InStep {
		t.Fatalf("after a successful reconcile the state is %+v, want in step", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLoopSettleAppliesWhatRunLeft: changes pending when Run ended are
// applied by Settle.
func TestLoopSettleAppliesWhatRunLeft(t *testing.T) {
	fe := &fakeEnforcer{held: map[netip.Prefix]bool{}}
	ch := &changes{ready: make(chan struct{}, 1)}
	l := enforce.New(enforce.Options{Enforcer: fe, Name: "fake", Changes: ch, Live: func() []event.Decision { return nil }})
	d := ban("2001:db8::1/128")
	ch.add(d)
	l.Settle()
	if !fe.holds(d.Scope) || l.State().Applies != 1 {
		t.Fatalf("Settle did not apply the pending change: held %v, state %+v", fe.held, l.State())
	}
}

// TestPrinterEscapesAttackerText: scenario and origin reach a terminal, so
// control bytes in them are escaped, never written raw.
func TestPrinterEscapesAttackerText(t *testing.T) {
	var b bytes.Buffer
	p := enforce.NewPrinter(&b)
	d := ban("192.0.2.9/32")
	d.Scenario = "x\x1b[2Jy\n"
	d.Until = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := p.Apply(event.Change{Add: []event.Decision{d}, Delete: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out[:len(out)-1], "\x1b") || strings.Count(out, "\n") != 2 {
		t.Fatalf("raw control bytes or extra lines in %q", out)
	}
	if !strings.HasPrefix(out, "unban 198.51.100.0/24\nban 192.0.2.9/32 until 2026-01-02T03:04:05Z scenario=") {
		t.Fatalf("printed %q", out)
	}
}
