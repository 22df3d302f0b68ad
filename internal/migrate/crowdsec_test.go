package migrate

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestReadCrowdsecWhitelists(t *testing.T) {
	al, err := ReadCrowdsecWhitelists("testdata/crowdsec")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range al.Prefixes {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "192.0.2.10/32 2001:db8::10/128 198.51.100.0/24 10.1.0.0/16 203.0.113.5/32" {
		t.Errorf("prefixes %v", got)
	}
	if len(al.Files) != 1 || !strings.HasSuffix(al.Files[0], "mywhitelists.yaml") {
		t.Errorf("files %v: want mywhitelists.yaml only (geoip-enrich has no whitelist)", al.Files)
	}
	u := strings.Join(al.Unsupported, "\n")
	if len(al.Unsupported) != 2 || !strings.Contains(u, `"not-an-ip" is not an address`) || !strings.Contains(u, "expression \"evt.Parsed.source_ip startsWith '172.16.'\" has no equivalent") {
		t.Errorf("unsupported:\n%s", u)
	}
	if _, err := ReadCrowdsecWhitelists("testdata/no-such-dir"); err == nil {
		t.Error("a missing directory: no error")
	}
}

func TestParseCrowdsecDecisions(t *testing.T) {
	b, err := os.ReadFile("testdata/crowdsec/decisions.json")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := ParseCrowdsecDecisions(b, false, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range imp.Decisions {
		got = append(got, d.Scope.String()+" "+d.Duration.String()+" "+d.Scenario)
	}
	want := []string{
		"192.0.2.200/32 5h0m0s crowdsec:crowdsecurity/ssh-bf", // the longer of its two bans
		"198.18.0.0/24 23h59m1s crowdsec:manual 'ban' from 'web1'",
		"2001:db8::66/128 8760h0m0s crowdsec:manual 'ban' from 'web1'", // capped, scenario from the alert
		"127.0.0.1/32 1h0m0s crowdsec:crowdsecurity/http-probing",      // refused later, by the store's caller
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantSkipped := map[string]int{"type captcha (herd imports bans)": 1, "scope Country (herd bans addresses and ranges)": 1,
		"expired": 1, "duplicate scope": 1,
		"community (origin CAPI; herd's hub gives its own list)": 1, "community (origin lists; herd's hub gives its own list)": 1}
	for k, v := range wantSkipped {
		if imp.Skipped[k] != v {
			t.Errorf("skipped[%q] = %d, want %d (all: %v)", k, imp.Skipped[k], v, imp.Skipped)
		}
	}
	if len(imp.Skipped) != len(wantSkipped) {
		t.Errorf("skipped %v", imp.Skipped)
	}
	withCommunity, err := ParseCrowdsecDecisions(b, true, 365*24*time.Hour)
	if err != nil || len(withCommunity.Decisions) != 6 {
		t.Errorf("with the community: %d decisions, %v; want 6", len(withCommunity.Decisions), err)
	}
	wide, err := ParseCrowdsecDecisions([]byte(`[{"decisions":[{"type":"ban","scope":"Range","value":"10.0.0.0/8","duration":"1h"},`+
		`{"type":"ban","scope":"Range","value":"2001:db8::/24","duration":"1h"}]}]`), false, time.Hour)
	if err != nil || len(wide.Decisions) != 0 || wide.Skipped["range wider than /16 (IPv4) or /32 (IPv6)"] != 2 {
		t.Errorf("wide ranges: %+v, %v", wide, err)
	}
	for _, in := range []string{"null", "[]"} {
		if imp, err := ParseCrowdsecDecisions([]byte(in), false, time.Hour); err != nil || len(imp.Decisions) != 0 {
			t.Errorf("%s: %v, %v", in, imp, err)
		}
	}
	for _, bad := range []string{"", "{}", "[{}] x", `[{"decisions":{}}]`} {
		if _, err := ParseCrowdsecDecisions([]byte(bad), false, time.Hour); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseCrowdsecDecisions(f *testing.F) {
	b, err := os.ReadFile("testdata/crowdsec/decisions.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`[{"decisions":[{"type":"ban","scope":"Range","value":"::/0","duration":"1h"}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		imp, err := ParseCrowdsecDecisions(b, true, time.Hour)
		if err != nil {
			return
		}
		for _, d := range imp.Decisions {
			if !d.Scope.IsValid() || d.Duration <= 0 || d.Duration > time.Hour {
				t.Fatalf("decision %+v", d)
			}
		}
	})
}

func FuzzParseCrowdsecWhitelist(f *testing.F) {
	b, err := os.ReadFile("testdata/crowdsec/parsers/s02-enrich/mywhitelists.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var al CrowdsecAllowlist
		_, _ = ParseCrowdsecWhitelist(&al, "fuzz", b)
		for _, p := range al.Prefixes {
			if !p.IsValid() {
				t.Fatalf("invalid prefix in %v", al.Prefixes)
			}
		}
	})
}
