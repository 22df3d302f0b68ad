package scenario

import (
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

func TestGeoFilters(t *testing.T) {
	fr := event.Geo{Country: "FR", ASN: 64500}
	de := event.Geo{Country: "DE", ASN: 64501}
	var unknown event.Geo
	tests := []struct {
		name   string
		filter rules.FilterSpec
		pass   []event.Geo
		block  []event.Geo
	}{
		{"countries", rules.FilterSpec{Countries: []string{"FR"}}, []event.Geo{fr}, []event.Geo{de, unknown}},
		{"not_countries", rules.FilterSpec{NotCountries: []string{"FR"}}, []event.Geo{de, unknown}, []event.Geo{fr}},
		{"asns", rules.FilterSpec{ASNs: []uint32{64501}}, []event.Geo{de}, []event.Geo{fr, unknown}},
		{"not_asns", rules.FilterSpec{NotASNs: []uint32{64501}}, []event.Geo{fr, unknown}, []event.Geo{de}},
		{"both", rules.FilterSpec{Countries: []string{"FR", "DE"}, NotASNs: []uint32{64500}}, []event.Geo{de}, []event.Geo{fr, unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			f.Kinds = []string{"auth_failure"}
			e := mustCompile(t, []rules.ScenarioSpec{{Name: "geo", Type: "trigger", Filter: f}}, Options{})
			if !e.NeedsGeo() {
				t.Error("NeedsGeo() = false with a geo criterion")
			}
			for i, g := range append(tt.pass, tt.block...) {
				ev := sshFail("192.0.2.1", t0.Add(time.Duration(i)*time.Hour), "root")
				ev.Geo = g
				got := len(pourAll(e, ev)) == 1
				if want := i < len(tt.pass); got != want {
					t.Errorf("%+v: alert %v, want %v", g, got, want)
				}
			}
		})
	}
	if e := mustCompile(t, one("bf", "leaky", 5, time.Second), Options{}); e.NeedsGeo() {
		t.Error("NeedsGeo() = true without a geo criterion")
	}
}
