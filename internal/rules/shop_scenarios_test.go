package rules_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// paid is one failed payment from a source at a time.
type paid struct {
	at  time.Duration
	src string
}

// pourPayments pours failed payments (shop.yaml's events) into the default
// scenarios and returns the alerts, as "scenario source" strings, sorted.
func pourPayments(t *testing.T, ps []paid) []string {
	t.Helper()
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := scenario.Compile(set.Scenarios, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(ps, func(a, b paid) int { return int(a.at - b.at) })
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var alerts []event.Alert
	var poured []int
	for _, p := range ps {
		ev := event.Event{Time: base.Add(p.at), Source: netip.MustParseAddr(p.src), Service: "shop",
			Kind: event.KindAuthFailure, Reason: "payment_failed", Bytes: -1}
		poured, alerts = eng.Pour(&ev, poured[:0], alerts)
	}
	var out []string
	for _, a := range alerts {
		out = append(out, a.Scenario+" "+a.Source.String())
	}
	slices.Sort(out)
	return out
}

// TestShopScenarioThresholds keeps the promises of docs/rules.md's shop
// section: card testing from one address or spread over one network is
// caught, every address of a spread attack is named, and customers failing
// a payment or two, even many of one carrier, never are.
func TestShopScenarioThresholds(t *testing.T) {
	each := func(n int, step time.Duration, src func(i int) string) []paid {
		out := make([]paid, n)
		for i := range out {
			out[i] = paid{time.Duration(i) * step, src(i)}
		}
		return out
	}
	one := func(int) string { return "192.0.2.7" }
	carrier := func(i int) string { return fmt.Sprintf("198.51.100.%d", 10+i) }
	all := func(name string, n int, src func(int) string) []string {
		var out []string
		for i := range n {
			out = append(out, name+" "+src(i))
		}
		slices.Sort(out)
		return out
	}
	v6 := func(i int) string { return netip.MustParseAddr(fmt.Sprintf("2001:db8:77:%x::1", i)).String() }
	r := rand.New(rand.NewPCG(1, 2))
	var day, evening, v6day []paid
	for i := range 30 {
		day = append(day, paid{time.Duration(r.Int64N(int64(24 * time.Hour))), carrier(i)})
		evening = append(evening, paid{time.Duration(r.Int64N(int64(2 * time.Hour))), carrier(i)})
		v6day = append(v6day, paid{time.Duration(r.Int64N(int64(24 * time.Hour))), v6(i)})
	}
	// Five of the day's customers mistype their card number and retry a
	// minute later.
	for i := range 5 {
		day = append(day, paid{day[i].at + time.Minute, day[i].src})
	}
	cases := []struct {
		name string
		ps   []paid
		want []string
	}{
		{"4 failed payments in 18 seconds", each(4, 6*time.Second, one), []string{"shop-card-testing 192.0.2.7"}},
		{"a customer mistyping twice then retrying", []paid{{0, "192.0.2.7"}, {40 * time.Second, "192.0.2.7"}, {100 * time.Second, "192.0.2.7"}}, nil},
		{"3 failures 20 seconds apart", each(3, 20*time.Second, one), nil},
		{"7 failures 20 seconds apart", each(7, 20*time.Second, one), []string{"shop-card-testing-slow 192.0.2.7"}},
		{"9 failed payments in 40 minutes", each(9, 5*time.Minute, one), []string{"shop-card-testing-slow 192.0.2.7"}},
		{"a failure every 20 minutes for a day", each(72, 20*time.Minute, one), nil},
		{"11 addresses of one /24 in 10 seconds", each(11, time.Second, carrier), all("shop-card-testing-network", 11, carrier)},
		{"11 /64s of one /48 in 10 seconds", each(11, time.Second, v6), all("shop-card-testing-network", 11, v6)},
		{"22 addresses in 22 seconds: one alert each for the first 11, then the blackhole", each(22, time.Second, carrier), all("shop-card-testing-network", 11, carrier)},
		{"10 addresses of one /24 in 10 seconds", each(10, time.Second, carrier), nil},
		{"11 addresses of eleven /24s", each(11, time.Second, func(i int) string { return fmt.Sprintf("198.51.%d.1", i) }), nil},
		{"a new address of one /24 every 70 seconds", each(60, 70*time.Second, carrier), nil},
		{"an address every 15 seconds: the 14th overflows, the last 11 are named", each(14, 15*time.Second, carrier),
			all("shop-card-testing-network", 14, carrier)[3:]},
		{"13 addresses 15 seconds apart", each(13, 15*time.Second, carrier), nil},
		{"30 customers of one carrier's /24 over a day", day, nil},
		{"30 customers of one carrier's /24 in the busiest two hours", evening, nil},
		{"30 customers of one carrier's /48 over a day", v6day, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := pourPayments(t, slices.Clone(c.ps)); !slices.Equal(got, c.want) {
				t.Errorf("alerts %v, want %v", got, c.want)
			}
		})
	}
}
