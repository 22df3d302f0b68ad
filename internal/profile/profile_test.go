package profile

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/rules"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func alert(scenario, src string, last time.Time) *event.Alert {
	a := netip.MustParseAddr(src)
	return &event.Alert{Scenario: scenario, Source: a, Scope: ipx.GroupPrefix(a, 64), First: last.Add(-time.Minute), Last: last, Events: 6, Remedy: true}
}

func mustCompile(t *testing.T, specs []rules.ProfileSpec, o Options) *Profiles {
	t.Helper()
	p, err := Compile(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultProfileBansFourHours(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	d, v := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0))
	want := event.Decision{Type: event.Ban, Scope: netip.MustParsePrefix("192.0.2.1/32"), Duration: 4 * time.Hour,
		Until: t0.Add(4 * time.Hour), Scenario: "ssh-bruteforce", Origin: "herd"}
	if v != Decided || d != want {
		t.Fatalf("Decide = %+v, %v\nwant     %+v, decided", d, v, want)
	}
}

func TestRepeatOffendersEscalate(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	// Each offence comes right after the previous ban ends, from any scenario.
	want := []time.Duration{4, 8, 16, 32, 64, 128, 168, 168}
	at := t0
	scenarios := []string{"ssh-bruteforce", "http-probing"}
	for i, w := range want {
		d, v := p.Decide(alert(scenarios[i%2], "2001:db8::1", at))
		if v != Decided || d.Duration != w*time.Hour {
			t.Fatalf("offence %d: %v %v, want %vh", i+1, d.Duration, v, int(w))
		}
		if !d.Until.Equal(at.Add(d.Duration)) {
			t.Fatalf("offence %d: until %v, want last + duration", i+1, d.Until)
		}
		at = d.Until.Add(time.Minute)
	}
}

func TestOffenceIsForgottenOnceNoLongerRecent(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0))
	// A 4h ban is recent for 4h after it ends.
	if d, _ := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0.Add(7*time.Hour))); d.Duration != 8*time.Hour {
		t.Fatalf("3h after the ban ended: %v, want 8h", d.Duration)
	}
	// The 8h ban taken at 7h is recent until 7h+16h.
	if d, _ := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0.Add(24*time.Hour))); d.Duration != 4*time.Hour {
		t.Fatalf("long after: %v, want the first duration again", d.Duration)
	}
}

func TestOtherAddressesAreNotRepeatOffenders(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0))
	if d, _ := p.Decide(alert("ssh-bruteforce", "192.0.2.2", t0)); d.Duration != 4*time.Hour {
		t.Fatalf("another address got %v", d.Duration)
	}
}

func TestNonEscalatingProfileKeepsItsDuration(t *testing.T) {
	p := mustCompile(t, []rules.ProfileSpec{{Name: "flat", Duration: time.Hour}}, Options{})
	for i := range 3 {
		if d, _ := p.Decide(alert("x", "192.0.2.1", t0.Add(time.Duration(i)*2*time.Hour))); d.Duration != time.Hour {
			t.Fatalf("offence %d: %v, want 1h", i+1, d.Duration)
		}
	}
}

// While a ban is in force, further alerts on the same source (another
// scenario seeing the same attack, lines in flight when the ban landed) take
// no new decision and do not escalate; the first alert after the ban ends does.
func TestAlertsDuringABanAreAlreadyDecided(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	if _, v := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0)); v != Decided {
		t.Fatalf("first alert: %v", v)
	}
	if d, v := p.Decide(alert("ssh-user-enum", "192.0.2.1", t0.Add(time.Minute))); v != AlreadyDecided || d.Duration != 0 {
		t.Fatalf("alert during the ban: %v %v, want already_decided and no decision", v, d.Duration)
	}
	if d, v := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0.Add(5*time.Hour))); v != Decided || d.Duration != 8*time.Hour {
		t.Fatalf("after the ban: %v %v, want an escalated 8h decision", v, d.Duration)
	}
}

func TestFirstMatchingProfileDecides(t *testing.T) {
	specs := []rules.ProfileSpec{
		{Name: "web-captcha", Scenarios: []string{"http-crawl-*", "http-bad-user-agent"}, Type: "captcha", Duration: 30 * time.Minute},
		{Name: "ssh-long", Scenarios: []string{"ssh-*"}, Duration: 24 * time.Hour},
		{Name: "rest", Duration: 2 * time.Hour},
		{Name: "never-reached", Scenarios: []string{"*"}, Duration: time.Minute},
	}
	p := mustCompile(t, specs, Options{})
	tests := []struct {
		scenario string
		typ      event.DecisionType
		dur      time.Duration
	}{
		{"http-crawl-non-statics", event.Captcha, 30 * time.Minute},
		{"http-bad-user-agent", event.Captcha, 30 * time.Minute},
		{"ssh-bruteforce", event.Ban, 24 * time.Hour},
		{"smtp-bruteforce", event.Ban, 2 * time.Hour},
		{"xssh-bruteforce", event.Ban, 2 * time.Hour},
	}
	for i, tt := range tests {
		d, v := p.Decide(alert(tt.scenario, fmt.Sprintf("192.0.2.%d", i+1), t0))
		if v != Decided || d.Type != tt.typ || d.Duration != tt.dur {
			t.Errorf("%s: %v %v %v, want %v %v", tt.scenario, d.Type, d.Duration, v, tt.typ, tt.dur)
		}
	}
}

func TestNoMatchingProfileIsNoRemedy(t *testing.T) {
	p := mustCompile(t, []rules.ProfileSpec{{Name: "ssh", Scenarios: []string{"ssh-*"}}}, Options{})
	if d, v := p.Decide(alert("http-probing", "192.0.2.1", t0)); v != NoRemedy || d != (event.Decision{}) {
		t.Fatalf("Decide = %+v, %v; want no remedy", d, v)
	}
}

func TestInformativeAlertsDecideNothing(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	a := alert("http-crawl-non-statics", "192.0.2.1", t0)
	a.Remedy = false
	if d, v := p.Decide(a); v != NoRemedy || d != (event.Decision{}) {
		t.Fatalf("Decide = %+v, %v; want no remedy", d, v)
	}
}

func TestNeverBanAddressesAreAllowlisted(t *testing.T) {
	nb := ipx.NewNeverBan([]netip.Addr{netip.MustParseAddr("203.0.113.5")}, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	p := mustCompile(t, nil, Options{NeverBan: nb})
	for _, src := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "203.0.113.5", "198.51.100.77", "::ffff:198.51.100.1"} {
		if d, v := p.Decide(alert("ssh-bruteforce", src, t0)); v != Allowlisted || d != (event.Decision{}) {
			t.Errorf("%s: %+v %v, want allowlisted", src, d, v)
		}
	}
	if _, v := p.Decide(alert("ssh-bruteforce", "203.0.113.6", t0)); v != Decided {
		t.Errorf("203.0.113.6: %v, want decided", v)
	}
	var none Options // no NeverBan at all still protects loopback
	if _, v := mustCompile(t, nil, none).Decide(alert("x", "127.0.0.1", t0)); v != Allowlisted {
		t.Errorf("loopback without a NeverBan set: %v", v)
	}
}

func TestRangeScope(t *testing.T) {
	nb := ipx.NewNeverBan([]netip.Addr{netip.MustParseAddr("2001:db8:aa::5")}, nil)
	p := mustCompile(t, []rules.ProfileSpec{{Name: "range", Scope: "range"}}, Options{NeverBan: nb})
	d, _ := p.Decide(alert("ssh-bruteforce", "2001:db8:bb::9", t0))
	if d.Scope != netip.MustParsePrefix("2001:db8:bb::/64") {
		t.Errorf("range scope %v, want the /64", d.Scope)
	}
	// The host's own /64: only the attacker's address is banned.
	d, v := p.Decide(alert("ssh-bruteforce", "2001:db8:aa::9", t0))
	if v != Decided || d.Scope != netip.MustParsePrefix("2001:db8:aa::9/128") {
		t.Errorf("range holding a never-ban address: %v %v, want the single address", d.Scope, v)
	}
	d, _ = p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0))
	if d.Scope != netip.MustParsePrefix("192.0.2.1/32") {
		t.Errorf("IPv4 range scope %v, want /32", d.Scope)
	}
}

func TestIPScopeIsTheUnmappedSource(t *testing.T) {
	p := mustCompile(t, nil, Options{})
	d, _ := p.Decide(alert("x", "::ffff:192.0.2.1", t0))
	if d.Scope != netip.MustParsePrefix("192.0.2.1/32") {
		t.Fatalf("scope %v", d.Scope)
	}
	d, _ = p.Decide(alert("x", "2001:db8::1", t0))
	if d.Scope != netip.MustParsePrefix("2001:db8::/64") {
		t.Fatalf("scope %v, want the /64", d.Scope)
	}
}

// An IPv6 attacker rotates addresses within its /64: an ip-scoped decision
// on an IPv6 source covers the prefix the profile names (64 by default,
// 128 for the single address), never a prefix holding a never-ban address,
// and a second address of the same /64 is the same offender.
func TestIPv6BansCoverThePrefix(t *testing.T) {
	nb := ipx.NewNeverBan([]netip.Addr{netip.MustParseAddr("2001:db8:aa::5")}, nil)
	cases := []struct {
		name string
		spec []rules.ProfileSpec
		src  string
		want string
	}{
		{"default profile", nil, "2001:db8:bb::9", "2001:db8:bb::/64"},
		{"spec without ipv6_prefix", []rules.ProfileSpec{{Name: "p"}}, "2001:db8:bb:1:2:3:4:5", "2001:db8:bb:1::/64"},
		{"ipv6_prefix 128", []rules.ProfileSpec{{Name: "p", IPv6Prefix: 128}}, "2001:db8:bb::9", "2001:db8:bb::9/128"},
		{"ipv6_prefix 56", []rules.ProfileSpec{{Name: "p", IPv6Prefix: 56}}, "2001:db8:bb:12::9", "2001:db8:bb::/56"},
		{"never-ban address in the /64", nil, "2001:db8:aa::9", "2001:db8:aa::9/128"},
		{"IPv4 stays single", nil, "192.0.2.7", "192.0.2.7/32"},
		{"IPv4-mapped stays single", nil, "::ffff:192.0.2.7", "192.0.2.7/32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustCompile(t, c.spec, Options{NeverBan: nb})
			d, v := p.Decide(alert("ssh-bruteforce", c.src, t0))
			if v != Decided || d.Scope != netip.MustParsePrefix(c.want) {
				t.Fatalf("Decide(%s) = %v %v, want %s decided", c.src, d.Scope, v, c.want)
			}
		})
	}
	p := mustCompile(t, nil, Options{NeverBan: nb})
	if _, v := p.Decide(alert("ssh-bruteforce", "2001:db8:cc::1", t0)); v != Decided {
		t.Fatalf("first address: %v", v)
	}
	if _, v := p.Decide(alert("ssh-bruteforce", "2001:db8:cc::2", t0.Add(time.Minute))); v != AlreadyDecided {
		t.Fatalf("a second address of the banned /64: %v, want already_decided", v)
	}
	if _, err := Compile([]rules.ProfileSpec{{Name: "p", IPv6Prefix: 32}}, Options{}); err == nil {
		t.Fatal("ipv6_prefix 32 accepted")
	}
}

func TestSimulation(t *testing.T) {
	p := mustCompile(t, nil, Options{Simulate: true})
	d, v := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0))
	if v != Simulated || !d.Simulated || d.Duration != 4*time.Hour || d.Type != event.Ban {
		t.Fatalf("Decide = %+v, %v; want a simulated 4h ban", d, v)
	}
	p = mustCompile(t, nil, Options{SimulatedScenarios: []string{"http-new-rule"}})
	if d, v := p.Decide(alert("http-new-rule", "192.0.2.1", t0)); v != Simulated || !d.Simulated {
		t.Errorf("simulated scenario: %+v %v", d, v)
	}
	if d, v := p.Decide(alert("ssh-bruteforce", "192.0.2.2", t0)); v != Decided || d.Simulated {
		t.Errorf("other scenario: %+v %v", d, v)
	}
}

func TestCompileErrorsNameTheProfileAndWhere(t *testing.T) {
	pos := rules.Pos{File: "profiles.yaml", Line: 7}
	tests := []struct {
		name string
		spec rules.ProfileSpec
		msg  string
	}{
		{"bad type", rules.ProfileSpec{Type: "block"}, "type"},
		{"bad scope", rules.ProfileSpec{Scope: "country"}, "scope"},
		{"negative", rules.ProfileSpec{Duration: -time.Hour}, "negative"},
		{"cap below duration", rules.ProfileSpec{Duration: 10 * time.Hour, MaxDuration: time.Hour}, "max_duration"},
		{"empty pattern", rules.ProfileSpec{Scenarios: []string{""}}, "pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Pos = "broken", pos
			_, err := Compile([]rules.ProfileSpec{tt.spec}, Options{})
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			if m := err.Error(); !strings.Contains(m, `"broken"`) || !strings.Contains(m, "profiles.yaml:7") || !strings.Contains(m, tt.msg) {
				t.Errorf("error %q does not name the profile, profiles.yaml:7 and %q", m, tt.msg)
			}
		})
	}
}

func TestDefaultsOfAWrittenProfile(t *testing.T) {
	p := mustCompile(t, []rules.ProfileSpec{{Name: "p", Escalate: true, Duration: 100 * time.Hour}}, Options{})
	at := t0
	for _, w := range []time.Duration{100, 168, 168} {
		d, _ := p.Decide(alert("x", "192.0.2.1", at))
		if d.Duration != w*time.Hour {
			t.Fatalf("duration %v, want %vh", d.Duration, int(w))
		}
		at = d.Until
	}
}

func TestOffenderMemoryIsBounded(t *testing.T) {
	p := mustCompile(t, nil, Options{MaxOffenders: 1000})
	for i := range 20_000 {
		a := alert("x", "192.0.2.1", t0)
		a.Source = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p.Decide(a)
		if n := p.Offenders(); n > 1000 {
			t.Fatalf("after %d alerts the memory holds %d scopes", i+1, n)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"ssh-*", "ssh-bruteforce", true},
		{"ssh-*", "ssh-", true},
		{"ssh-*", "xssh-bf", false},
		{"*-bruteforce", "smtp-bruteforce", true},
		{"*", "", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"crowdsecurity/*", "crowdsecurity/ssh-bf", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"**a", "bba", true},
	}
	for _, tt := range tests {
		if got := glob(tt.pat, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p, _ := Compile(nil, Options{NeverBan: ipx.NewNeverBan(nil, nil)})
	a := alert("ssh-bruteforce", "192.0.2.1", t0)
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(a)
	}
}

func TestShippedProfilesCompile(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, set.Profiles, Options{})
	if d, v := p.Decide(alert("ssh-bruteforce", "192.0.2.1", t0)); v != Decided || d.Duration != 4*time.Hour {
		t.Fatalf("shipped profiles: %+v %v, want a 4h ban", d, v)
	}
}

func TestDecideIsSafeForConcurrentUse(t *testing.T) {
	p := mustCompile(t, nil, Options{MaxOffenders: 100})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				a := alert("x", "192.0.2.1", t0.Add(time.Duration(i)*time.Minute))
				a.Source = netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				p.Decide(a)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := p.Offenders(); n > 100 {
		t.Fatalf("memory holds %d scopes, bound is 100", n)
	}
}

func TestProfileByCountryOrASN(t *testing.T) {
	p, err := Compile([]rules.ProfileSpec{
		{Name: "hostile-asn", ASNs: []uint32{64500}, Countries: []string{"XX"}, Duration: 48 * time.Hour},
		{Name: "default", Duration: 4 * time.Hour},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		geo  event.Geo
		want time.Duration
	}{
		{event.Geo{Country: "FR", ASN: 64500}, 48 * time.Hour},
		{event.Geo{Country: "XX", ASN: 1}, 48 * time.Hour},
		{event.Geo{Country: "FR", ASN: 64501}, 4 * time.Hour},
		{event.Geo{}, 4 * time.Hour},
	} {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		a := event.Alert{Scenario: "ssh-bf", Source: src, Scope: netip.PrefixFrom(src, 32), First: at, Last: at, Events: 5, Remedy: true, Geo: c.geo}
		d, v := p.Decide(&a)
		if v != Decided || d.Duration != c.want {
			t.Errorf("%+v: %v %v, want decided for %v", c.geo, v, d.Duration, c.want)
		}
	}
}
