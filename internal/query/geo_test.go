package query

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/profile"
)

func TestOutcomeCarriesGeo(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("192.0.2.7")
	o := detect.Outcome{Alert: event.Alert{Scenario: "ssh-bruteforce", Source: src, Scope: netip.PrefixFrom(src, 32), First: at, Last: at, Events: 6,
		Geo: event.Geo{Country: "FR", ASN: 64500, ASOrg: "Ex\"ample\n"}}, Verdict: profile.NoRemedy}
	var got struct {
		Country string `json:"country"`
		ASN     uint32 `json:"asn"`
		ASOrg   string `json:"as_org"`
	}
	line := AppendOutcome(nil, &o, true)
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if got.Country != "FR" || got.ASN != 64500 || got.ASOrg != "Ex\"ample\n" {
		t.Errorf("%s decoded as %+v", line, got)
	}
	if text := string(AppendOutcome(nil, &o, false)); !strings.Contains(text, " country=FR asn=64500 ") {
		t.Errorf("text %q", text)
	}
	o.Alert.Geo = event.Geo{}
	if line := string(AppendOutcome(nil, &o, true)); strings.Contains(line, "country") || strings.Contains(line, "asn") {
		t.Errorf("unknown geo written: %s", line)
	}
	if g := geoText(event.Geo{Country: "DE", ASN: 1, ASOrg: "a\x1b[2Jb"}); g != `DE AS1 a\x1b[2Jb` {
		t.Errorf("geoText = %q", g)
	}
}
