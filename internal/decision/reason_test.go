package decision

import (
	"net/netip"
	"strings"
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
