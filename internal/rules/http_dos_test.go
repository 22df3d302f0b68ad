package rules_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// The thresholds of http-dos.yaml, as docs/rules.md states them: each DoS
// pattern alerts, and the honest clients that come closest stay silent.

func httpProto(path, proto string, status uint16, ua string) event.Event {
	ev := httpReq("GET", path, status, ua)
	ev.Proto = []byte(proto)
	return ev
}

func TestHTTPDoSThresholds(t *testing.T) {
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

	var rotating []timed // a flood tool drawing a user agent per malformed request
	for i := range 12 {
		rotating = append(rotating, timed{time.Duration(i) * time.Second, httpProto("/", "HTTP/1.1", 400, fmt.Sprintf("Mozilla/5.0 (Tool %d)", i))})
	}
	var fewAgents []timed // a CI job's three clients meeting validation errors
	for i := range 30 {
		ua := []string{"curl/8.5.0", "python-requests/2.32.3", "Go-http-client/2.0"}[i%3]
		fewAgents = append(fewAgents, timed{time.Duration(i) * 10 * time.Second, httpProto("/api/v1/items", "HTTP/1.1", 400, ua)})
	}
	var office []timed // 8 browsers behind one NAT, each meeting a 400 once in ten minutes
	for i := range 8 {
		office = append(office, timed{time.Duration(i) * 75 * time.Second, httpProto("/form", "HTTP/2.0", 400, fmt.Sprintf("Mozilla/5.0 Firefox/%d.0", 120+i))})
	}

	var busting []timed // the same page, a fresh random number as query each time
	for i := range 40 {
		busting = append(busting, timed{time.Duration(i) * 20 * time.Millisecond, httpProto("/?"+strconv.Itoa(48213377056+i*7919), "HTTP/1.1", 200, browser)})
	}
	var spa []timed // 300 assets and 60 API calls carrying one build number
	for i := range 300 {
		spa = append(spa, timed{time.Duration(i) * 10 * time.Millisecond, httpProto("/assets/chunk-"+strconv.Itoa(i)+".js?20261123", "HTTP/2.0", 200, browser)})
	}
	for i := range 60 {
		spa = append(spa, timed{time.Duration(i) * 50 * time.Millisecond, httpProto("/api/items/"+strconv.Itoa(i)+"?20261123", "HTTP/2.0", 200, browser)})
	}
	var poller []timed // a dashboard polling with a time stamp as cache buster
	for i := range 600 {
		poller = append(poller, timed{time.Duration(i) * 2 * time.Second, httpProto("/status?"+strconv.Itoa(1795420800+2*i), "HTTP/1.1", 200, browser)})
	}

	refused := event.Event{Service: "http", Kind: event.KindAbuse, Reason: "rate_limited", Bytes: -1}

	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"HTTP/1.2", []timed{{0, httpProto("/", "HTTP/1.2", 400, "x")}}, []string{"http-dos-invalid-version"}},
		{"HTTP/2.1", []timed{{0, httpProto("/", "HTTP/2.1", 400, "x")}}, []string{"http-dos-invalid-version"}},
		{"every version in use", []timed{{0, httpProto("/", "HTTP/1.0", 200, browser)}, {time.Second, httpProto("/", "HTTP/1.1", 200, browser)},
			{2 * time.Second, httpProto("/", "HTTP/2.0", 200, browser)}, {3 * time.Second, httpProto("/", "HTTP/3.0", 200, browser)},
			{4 * time.Second, httpProto("/", "HTTP/0.9", 400, browser)}, {5 * time.Second, httpReq("GET", "/", 400, browser)}}, nil},
		{"12 user agents in 12 malformed requests", rotating, []string{"http-dos-switching-ua"}},
		{"a CI job's three clients", fewAgents, nil},
		{"an office's browsers meeting a 400 each", office, nil},
		{"cache busting", busting, []string{"http-dos-bypass-cache"}},
		{"a single-page application with a build number", spa, nil},
		{"a poller with a time stamp", poller, nil},
		{"6 rate-limit refusals in a second", every(6, 100*time.Millisecond, refused), []string{"http-rate-limit-exceeded"}},
		{"5 rate-limit refusals", every(5, 100*time.Millisecond, refused), nil},
		{"a refusal every 30 seconds for an hour", every(120, 30*time.Second, refused), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pourDefaults(t, c.evs)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("alerts %v, want %v", got, c.want)
			}
		})
	}
}
