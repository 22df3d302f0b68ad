package detect_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

// docNets puts 192.0.2.0/24 in France, AS64500; nothing else is known.
type docNets struct{}

func (docNets) Lookup(a netip.Addr) event.Geo {
	if a.Is4() && a.As4()[0] == 192 && a.As4()[1] == 0 && a.As4()[2] == 2 {
		return event.Geo{Country: "FR", ASN: 64500, ASOrg: "Example"}
	}
	return event.Geo{}
}

func TestGeoReachesFiltersProfilesAndAlerts(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	set.Scenarios = append(set.Scenarios, rules.ScenarioSpec{Name: "ssh-from-fr", Type: "trigger",
		Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"ssh"}, Countries: []string{"FR"}}})
	set.Profiles = append([]rules.ProfileSpec{{Name: "as64500", ASNs: []uint32{64500}, Duration: 72 * time.Hour}}, set.Profiles...)
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	d, err := detect.New(detect.Options{Rules: set, Location: time.UTC, Reference: ref, NeverBan: ipx.NewNeverBan(nil, nil), Geo: docNets{}})
	if err != nil {
		t.Fatal(err)
	}
	line := func(src string) []byte {
		return fmt.Appendf(nil, "Nov 22 09:00:00 web1 sshd[1]: Failed password for root from %s port 22 ssh2", src)
	}
	res := d.Line(line("192.0.2.7"), "")
	if len(res.Outcomes) != 1 {
		t.Fatalf("outcomes %+v, want the ssh-from-fr alert", res.Outcomes)
	}
	o := res.Outcomes[0]
	if o.Alert.Scenario != "ssh-from-fr" || o.Alert.Geo != (event.Geo{Country: "FR", ASN: 64500, ASOrg: "Example"}) {
		t.Errorf("alert %+v", o.Alert)
	}
	if !o.Decided() || o.Decision.Duration != 72*time.Hour {
		t.Errorf("decision %+v (%v), want the as64500 profile's 72h", o.Decision, o.Verdict)
	}
	if res := d.Line(line("198.51.100.7"), ""); len(res.Outcomes) != 0 {
		t.Errorf("a source outside FR raised %+v", res.Outcomes)
	}
	// Lines that raise nothing still cost no allocation with enrichment on.
	for range 10 {
		d.Line(line("198.51.100.9"), "")
	}
	l2 := line("198.51.100.9")
	if n := testing.AllocsPerRun(100, func() { d.Line(l2, "") }); n != 0 {
		t.Errorf("a line with enrichment allocates %v times", n)
	}
}
