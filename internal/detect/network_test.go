package detect_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

// oneAS puts 192.0.2.0/24 and 203.0.113.0/24 in AS64501.
type oneAS struct{}

func (oneAS) Lookup(a netip.Addr) event.Geo {
	if b := a.As4(); a.Is4() && (b[0] == 192 && b[1] == 0 && b[2] == 2 || b[0] == 203 && b[1] == 0 && b[2] == 113) {
		return event.Geo{ASN: 64501}
	}
	return event.Geo{}
}

// Card testing from eleven addresses of one autonomous system spread over
// two /24s: with GeoIP the default shop-card-testing-network names each
// address, with its own decision and its own log line; without, neither
// /24 reaches the threshold.
func TestNetworkScenarioGroupsByAutonomousSystem(t *testing.T) {
	var lines [][]byte
	for i := range 11 {
		src := fmt.Sprintf("192.0.2.%d", 10+i)
		if i%2 == 1 {
			src = fmt.Sprintf("203.0.113.%d", 10+i)
		}
		lines = append(lines, fmt.Appendf(nil, `Nov 22 09:00:%02d shop magento[9]: [2026-11-22 09:00:%02d] crowdsec-events.INFO:  {"type":"PAYMENT_FAILED","ip":"%s","x-forwarded-for-ip":"","bouncer_agent":"Magento 2 CrowdSec Bouncer/v1.0.0","payment_method":"braintree"} []`, i, i, src))
	}
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, geo := range []bool{true, false} {
		set, err := rules.Defaults()
		if err != nil {
			t.Fatal(err)
		}
		o := detect.Options{Rules: set, Location: time.UTC, Reference: ref, NeverBan: ipx.NewNeverBan(nil, nil), Evidence: detect.DefaultEvidence}
		if geo {
			o.Geo = oneAS{}
		}
		d, err := detect.New(o)
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []detect.Outcome
		for _, l := range lines {
			outcomes = append(outcomes, d.Line(l, "").Outcomes...)
		}
		if !geo {
			if len(outcomes) != 0 {
				t.Errorf("without GeoIP: %d outcomes, want none", len(outcomes))
			}
			continue
		}
		if len(outcomes) != 11 {
			t.Fatalf("with GeoIP: %d outcomes, want 11", len(outcomes))
		}
		for _, oc := range outcomes {
			a := oc.Alert
			if a.Scenario != "shop-card-testing-network" || !oc.Decided() || oc.Decision.Scope != netip.PrefixFrom(a.Source, 32) || a.Geo.ASN != 64501 {
				t.Errorf("outcome %+v", oc)
			}
			if len(oc.Lines) != 1 || !strings.Contains(oc.Lines[0], `"ip":"`+a.Source.String()+`"`) {
				t.Errorf("%v: evidence %q, want its own line", a.Source, oc.Lines)
			}
		}
	}
}
