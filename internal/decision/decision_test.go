package decision

import (
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ban(scope string, d time.Duration) event.Decision {
	return event.Decision{Type: event.Ban, Scope: pfx(scope), Duration: d, Until: t0.Add(d), Origin: "herd"}
}

func newSet() (*Set, *clock.Fake) {
	clk := clock.NewFake(t0)
	nb := ipx.NewNeverBan([]netip.Addr{netip.MustParseAddr("198.51.100.1")}, []netip.Prefix{pfx("203.0.113.0/28")})
	return New(Options{NeverBan: nb, Time: clk}), clk
}

func TestAdd(t *testing.T) {
	forever := ban("192.0.2.9/32", 0)
	forever.Until = time.Time{}
	simulated := ban("192.0.2.10/32", time.Hour)
	simulated.Simulated = true
	captcha := ban("192.0.2.11/32", time.Hour)
	captcha.Type = event.Captcha
	expired := ban("192.0.2.12/32", time.Hour)
	expired.Until = t0
	for _, tc := range []struct {
		name  string
		first []event.Decision
		d     event.Decision
		want  Verdict
		until time.Time // of the live decision after, zero: none expected
	}{
		{"new", nil, ban("192.0.2.1/32", time.Hour), Added, t0.Add(time.Hour)},
		{"longer extends", []event.Decision{ban("192.0.2.1/32", time.Hour)}, ban("192.0.2.1/32", 2*time.Hour), Extended, t0.Add(2 * time.Hour)},
		{"shorter is kept out", []event.Decision{ban("192.0.2.1/32", 2*time.Hour)}, ban("192.0.2.1/32", time.Hour), Kept, t0.Add(2 * time.Hour)},
		{"same is kept", []event.Decision{ban("192.0.2.1/32", time.Hour)}, ban("192.0.2.1/32", time.Hour), Kept, t0.Add(time.Hour)},
		{"forever beats any", []event.Decision{ban("192.0.2.9/32", time.Hour)}, forever, Extended, time.Time{}},
		{"host address refused", nil, ban("198.51.100.1/32", time.Hour), Refused, time.Time{}},
		{"range over allowlist refused", nil, ban("203.0.113.0/24", time.Hour), Refused, time.Time{}},
		{"loopback refused", nil, ban("127.0.0.1/32", time.Hour), Refused, time.Time{}},
		{"range beside allowlist", nil, ban("203.0.113.128/25", time.Hour), Added, t0.Add(time.Hour)},
		{"simulated", nil, simulated, Invalid, time.Time{}},
		{"captcha", nil, captcha, Invalid, time.Time{}},
		{"expired", nil, expired, Invalid, time.Time{}},
		{"invalid scope", nil, event.Decision{Type: event.Ban, Until: t0.Add(time.Hour)}, Invalid, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSet()
			s.AddAll(tc.first)
			if got := s.Add(tc.d); got != tc.want {
				t.Errorf("Add = %v, want %v", got, tc.want)
			}
			d, ok := s.Get(tc.d.Scope)
			switch {
			case tc.want == Refused || tc.want == Invalid:
				if ok && len(tc.first) == 0 {
					t.Errorf("scope is live: %+v", d)
				}
			case !ok:
				t.Error("scope not live")
			case !d.Until.Equal(tc.until):
				t.Errorf("until %v, want %v", d.Until, tc.until)
			}
		})
	}
}

func TestSubscriptionMergesChanges(t *testing.T) {
	s, clk := newSet()
	s.Add(ban("192.0.2.1/32", time.Hour))
	sub := s.Subscribe()
	select {
	case <-sub.Ready():
		t.Fatal("ready before any change")
	default:
	}
	s.Add(ban("192.0.2.2/32", time.Hour))
	s.Add(ban("192.0.2.3/32", time.Hour))
	s.Add(ban("192.0.2.2/32", 3*time.Hour)) // extended: delete and add again
	s.Delete(pfx("192.0.2.3/32"))           // added then deleted: only deleted
	s.Add(ban("192.0.2.1/32", time.Minute)) // kept: no change
	s.Add(ban("10.0.0.0/8", 30*time.Minute))
	s.Delete(pfx("192.0.2.99/32")) // not live: no change
	<-sub.Ready()
	got := sub.Take()
	want := Change{
		Add:    []event.Decision{ban("10.0.0.0/8", 30*time.Minute), ban("192.0.2.2/32", 3*time.Hour)},
		Delete: []netip.Prefix{pfx("192.0.2.2/32"), pfx("192.0.2.3/32")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Take =\n%+v\nwant\n%+v", got, want)
	}
	if c := sub.Take(); !c.Empty() {
		t.Errorf("second Take = %+v", c)
	}

	clk.Advance(31 * time.Minute)
	exp := s.Expire()
	if len(exp) != 1 || exp[0].Scope != pfx("10.0.0.0/8") {
		t.Errorf("Expire = %+v", exp)
	}
	clk.Advance(30 * time.Minute) // 192.0.2.1 (1h) ends; 192.0.2.2 was extended to 3h
	exp = s.Expire()
	if len(exp) != 1 || exp[0].Scope != pfx("192.0.2.1/32") {
		t.Errorf("Expire = %+v", exp)
	}
	<-sub.Ready()
	if c := sub.Take(); !reflect.DeepEqual(c.Delete, []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.1/32")}) || len(c.Add) != 0 {
		t.Errorf("after expiry Take = %+v", c)
	}
	if live := s.Live(); len(live) != 1 || live[0].Scope != pfx("192.0.2.2/32") {
		t.Errorf("Live = %+v", live)
	}
	sub.Close()
	s.Add(ban("192.0.2.5/32", 4*time.Hour))
	if c := sub.Take(); !c.Empty() {
		t.Errorf("closed subscription got %+v", c)
	}
}

func TestDeleteEnding(t *testing.T) {
	s, _ := newSet()
	s.Add(ban("192.0.2.1/32", 2*time.Hour))
	if s.DeleteEnding(pfx("192.0.2.1/32"), t0.Add(time.Hour)) {
		t.Error("a deletion of an older, shorter decision removed the longer one")
	}
	if !s.DeleteEnding(pfx("192.0.2.1/32"), t0.Add(2*time.Hour)) {
		t.Error("the deletion of the live decision was not applied")
	}
}

// TestSlowSubscriberNeverBlocks adds many decisions while nobody reads; the
// subscriber then gets them all in one Take.
func TestSlowSubscriberNeverBlocks(t *testing.T) {
	s, _ := newSet()
	sub := s.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			s.Add(event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(a, 32), Until: t0.Add(time.Hour)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Add blocked on a subscriber that does not read")
	}
	if c := sub.Take(); len(c.Add) != 10000 {
		t.Errorf("Take gave %d adds, want 10000", len(c.Add))
	}
}

func TestConcurrentUse(t *testing.T) {
	s, clk := newSet()
	sub := s.Subscribe()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				s.Add(event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(a, 32), Until: t0.Add(time.Duration(i+1) * time.Second)})
				if i%7 == 0 {
					s.Delete(netip.PrefixFrom(a, 32))
				}
			}
		}()
	}
	stop := make(chan struct{})
	var got int
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		for {
			select {
			case <-sub.Ready():
				got += len(sub.Take().Add)
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	clk.Advance(time.Hour)
	s.Expire()
	close(stop)
	rd.Wait()
	if s.Len() != 0 {
		t.Errorf("%d live after expiry of all", s.Len())
	}
}
