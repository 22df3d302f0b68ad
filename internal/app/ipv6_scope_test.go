package app_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// An IPv6 attacker rotates addresses within its /64: with the default
// rules, a brute force spread over several addresses of one /64 is one
// alert, and the decision covers the /64 (issue 10, IPv6 by prefix), while
// an IPv4 attacker is banned alone.
func TestDefaultDecisionsCoverTheIPv6Slash64(t *testing.T) {
	ref := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		srcs []string
		want string
	}{
		{"rotating within a /64", []string{"2001:db8:1:2::5", "2001:db8:1:2::6", "2001:db8:1:2:a::7", "2001:db8:1:2::8", "2001:db8:1:2::9", "2001:db8:1:2::a"}, "2001:db8:1:2::/64"},
		{"IPv4", []string{"192.0.2.5", "192.0.2.5", "192.0.2.5", "192.0.2.5", "192.0.2.5", "192.0.2.5"}, "192.0.2.5/32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDetector(t, time.UTC, ref)
			var got []netip.Prefix
			for i, src := range c.srcs {
				line := fmt.Sprintf("Nov 23 08:00:%02d web1 sshd[%d]: Failed password for root from %s port 4242 ssh2", i, 100+i, src)
				for _, oc := range d.Line([]byte(line), "").Outcomes {
					if oc.Decided() {
						got = append(got, oc.Decision.Scope)
					}
				}
			}
			if len(got) != 1 || got[0] != netip.MustParsePrefix(c.want) {
				t.Fatalf("decisions on %v, want one on %s", got, c.want)
			}
		})
	}
}
