package scenario

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// defaultLike is a scenario set shaped like herd's defaults: a few sshd
// scenarios and a dozen http ones.
func defaultLike() []rules.ScenarioSpec {
	ssh := rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"ssh"}}
	http := func(f rules.FilterSpec) rules.FilterSpec {
		f.Kinds = []string{"http_request"}
		return f
	}
	statics := []string{".css", ".js", ".png", ".jpg", ".gif", ".ico", ".svg", ".woff2"}
	return []rules.ScenarioSpec{
		{Name: "ssh-bruteforce", Filter: ssh, Capacity: 5, Leak: 10 * time.Second},
		{Name: "ssh-slow-bruteforce", Filter: ssh, Capacity: 10, Leak: time.Minute},
		{Name: "ssh-user-enum", Type: "distinct", Distinct: "user", Filter: ssh, Capacity: 5, Leak: 10 * time.Second},
		{Name: "http-probing", Type: "distinct", Distinct: "path", Capacity: 10, Leak: 10 * time.Second,
			Filter: http(rules.FilterSpec{Status: []int{400, 403, 404}, NotPathSuffix: statics})},
		{Name: "http-sensitive-files", Capacity: 4, Leak: 5 * time.Second,
			Filter: http(rules.FilterSpec{PathContains: []string{"/.env", "/.git/", "/.htaccess", "/wp-config.php"}})},
		{Name: "http-admin-interface-probing", Capacity: 5, Leak: 10 * time.Second,
			Filter: http(rules.FilterSpec{StatusClasses: []int{4}, PathContains: []string{"/phpmyadmin", "/admin", "/manager/html"}})},
		{Name: "http-backdoors-attempts", Capacity: 1, Leak: 5 * time.Second,
			Filter: http(rules.FilterSpec{PathSuffix: []string{"/shell.php", "/c99.php", "/r57.php", "/wso.php"}})},
		{Name: "http-bad-user-agent", Type: "trigger",
			Filter: http(rules.FilterSpec{UserAgentContains: []string{"sqlmap", "nikto", "masscan", "zgrab"}})},
		{Name: "http-path-traversal-probing", Capacity: 1, Leak: 10 * time.Second,
			Filter: http(rules.FilterSpec{PathContains: []string{"../", "..\\"}})},
		{Name: "http-sqli-probing", Capacity: 10, Leak: time.Second,
			Filter: http(rules.FilterSpec{QueryContains: []string{"union select", "' or 1=1", "sleep(", "information_schema"}})},
		{Name: "http-xss-probing", Capacity: 10, Leak: time.Second,
			Filter: http(rules.FilterSpec{QueryContains: []string{"<script", "javascript:", "onerror="}})},
		{Name: "http-crawl-non-statics", Capacity: 40, Leak: 500 * time.Millisecond,
			Filter: http(rules.FilterSpec{NotPathSuffix: statics})},
		{Name: "http-wordpress-bruteforce", Capacity: 5, Leak: 10 * time.Second,
			Filter: http(rules.FilterSpec{Methods: []string{"POST"}, PathSuffix: []string{"/wp-login.php", "/xmlrpc.php"}})},
		{Name: "http-generic-bruteforce", Capacity: 5, Leak: 10 * time.Second,
			Filter: http(rules.FilterSpec{Status: []int{401}})},
		{Name: "http-cve-probing", Type: "trigger",
			Filter: http(rules.FilterSpec{PathRegexp: `/cgi-bin/.*\.(sh|cgi)$|/vendor/phpunit/`})},
	}
}

func mustCompile(t testing.TB, specs []rules.ScenarioSpec, o Options) *Engine {
	t.Helper()
	e, err := Compile(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sshFail(src string, at time.Time, user string) *event.Event {
	return &event.Event{Time: at, Source: netip.MustParseAddr(src), Service: "ssh", Kind: event.KindAuthFailure, User: []byte(user), Bytes: -1}
}

func httpReq(src string, at time.Time, method, path string, status uint16, ua string) *event.Event {
	return &event.Event{Time: at, Source: netip.MustParseAddr(src), Service: "http", Kind: event.KindHTTPRequest,
		Method: []byte(method), Path: []byte(path), Status: status, UserAgent: []byte(ua), Bytes: 100}
}

// pourAll pours events and returns the alerts raised.
func pourAll(e *Engine, evs ...*event.Event) []event.Alert {
	var alerts []event.Alert
	var poured []int
	for _, ev := range evs {
		poured, alerts = e.Pour(ev, poured[:0], alerts)
	}
	return alerts
}

func one(name string, typ string, capacity int, leak time.Duration) []rules.ScenarioSpec {
	return []rules.ScenarioSpec{{Name: name, Type: typ, Capacity: capacity, Leak: leak,
		Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}, Services: []string{"ssh"}}}}
}

func TestLeakyOverflowsOnTheEventAfterCapacity(t *testing.T) {
	for _, capacity := range []int{1, 2, 5, 20} {
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			e := mustCompile(t, one("bf", "leaky", capacity, 10*time.Second), Options{})
			for i := range capacity {
				if a := pourAll(e, sshFail("192.0.2.1", t0.Add(time.Duration(i)*time.Millisecond), "root")); len(a) != 0 {
					t.Fatalf("event %d of %d overflowed: %+v", i+1, capacity, a)
				}
			}
			last := t0.Add(time.Duration(capacity) * time.Millisecond)
			a := pourAll(e, sshFail("192.0.2.1", last, "root"))
			if len(a) != 1 {
				t.Fatalf("event %d raised %d alerts, want 1", capacity+1, len(a))
			}
			want := event.Alert{Scenario: "bf", Source: netip.MustParseAddr("192.0.2.1"), Scope: netip.MustParsePrefix("192.0.2.1/32"),
				First: t0, Last: last, Events: capacity + 1, Remedy: true}
			if a[0] != want {
				t.Errorf("alert = %+v\nwant    %+v", a[0], want)
			}
			if s := e.Stats(); s.Overflows != 1 || s.Live != 1 {
				t.Errorf("stats = %+v, want 1 overflow and 1 live bucket", s)
			}
		})
	}
}

func TestLeakRestoresCapacity(t *testing.T) {
	tests := []struct {
		name     string
		at       []time.Duration // event offsets from t0
		overflow int             // 1-based index of the overflowing event, 0 for none
	}{
		{"five at once then a sixth", []time.Duration{0, 0, 0, 0, 0, 0}, 6},
		{"one slot leaked after 10s", []time.Duration{0, 0, 0, 0, 0, 10 * time.Second, 10 * time.Second}, 7},
		{"sixth just before a leak", []time.Duration{0, 0, 0, 0, 0, 9999 * time.Millisecond}, 6},
		{"one every leak period never overflows", []time.Duration{0, 10e9, 20e9, 30e9, 40e9, 50e9, 60e9, 70e9, 80e9, 90e9}, 0},
		{"two every leak period overflows", []time.Duration{0, 0, 10e9, 10e9, 20e9, 20e9, 30e9, 30e9, 40e9, 40e9}, 10},
		{"fully leaked bucket starts afresh", []time.Duration{0, 0, 0, 0, 0, 50e9, 50e9, 50e9, 50e9, 50e9}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, one("bf", "leaky", 5, 10*time.Second), Options{})
			got := 0
			for i, d := range tt.at {
				if a := pourAll(e, sshFail("192.0.2.1", t0.Add(d), "root")); len(a) > 0 && got == 0 {
					got = i + 1
				}
			}
			if got != tt.overflow {
				t.Errorf("overflow at event %d, want %d", got, tt.overflow)
			}
		})
	}
}

func TestAlertFirstIsTheFirstEventOfTheCurrentFill(t *testing.T) {
	e := mustCompile(t, one("bf", "leaky", 2, 10*time.Second), Options{})
	pourAll(e, sshFail("192.0.2.1", t0, "a")) // fill 1, leaks by t0+10s
	start := t0.Add(time.Minute)              // a new fill
	a := pourAll(e, sshFail("192.0.2.1", start, "a"), sshFail("192.0.2.1", start.Add(time.Second), "a"),
		sshFail("192.0.2.1", start.Add(2*time.Second), "a"))
	if len(a) != 1 || !a[0].First.Equal(start) || a[0].Events != 3 {
		t.Fatalf("alerts = %+v, want one with First %v and 3 events", a, start)
	}
}

func TestDistinctCountsOnlyNewValues(t *testing.T) {
	tests := []struct {
		name     string
		users    []string
		overflow int
	}{
		{"one user many times", []string{"root", "root", "root", "root", "root", "root", "root", "root"}, 0},
		{"six distinct users", []string{"a", "b", "c", "d", "e", "f"}, 6},
		{"repeats interleaved", []string{"a", "a", "b", "a", "c", "b", "d", "e", "e", "f"}, 10},
		{"case matters for users", []string{"a", "A", "b", "B", "c", "C"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, []rules.ScenarioSpec{{Name: "enum", Type: "distinct", Distinct: "user", Capacity: 5, Leak: 10 * time.Second}}, Options{})
			got := 0
			for i, u := range tt.users {
				if a := pourAll(e, sshFail("192.0.2.1", t0, u)); len(a) > 0 && got == 0 {
					got = i + 1
					if a[0].Events != 6 {
						t.Errorf("alert counts %d events, want 6 distinct values", a[0].Events)
					}
				}
			}
			if got != tt.overflow {
				t.Errorf("overflow at event %d, want %d", got, tt.overflow)
			}
		})
	}
}

func TestDistinctPathsAreDecodedAndCaseFolded(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{{Name: "probe", Type: "distinct", Distinct: "path", Capacity: 2, Leak: 10 * time.Second}}, Options{})
	a := pourAll(e,
		httpReq("192.0.2.1", t0, "GET", "/admin", 404, ""),
		httpReq("192.0.2.1", t0, "GET", "/%61dmin", 404, ""),
		httpReq("192.0.2.1", t0, "GET", "/ADMIN", 404, ""),
		httpReq("192.0.2.1", t0, "GET", "/x", 404, ""),
	)
	if len(a) != 0 {
		t.Fatalf("two distinct paths overflowed a capacity-2 bucket: %+v", a)
	}
	if a := pourAll(e, httpReq("192.0.2.1", t0, "GET", "/y", 404, "")); len(a) != 1 {
		t.Fatalf("third distinct path raised %d alerts, want 1", len(a))
	}
}

func TestDistinctPorts(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{{Name: "scan", Type: "distinct", Distinct: "port", Capacity: 3, Leak: time.Second,
		Filter: rules.FilterSpec{Kinds: []string{"scan"}}}}, Options{})
	scan := func(port uint16) *event.Event {
		return &event.Event{Time: t0, Source: netip.MustParseAddr("198.51.100.9"), Kind: event.KindScan, Port: port}
	}
	if a := pourAll(e, scan(22), scan(22), scan(80), scan(443), scan(80)); len(a) != 0 {
		t.Fatalf("three distinct ports overflowed capacity 3: %+v", a)
	}
	if a := pourAll(e, scan(8080)); len(a) != 1 {
		t.Fatal("fourth distinct port did not overflow")
	}
}

func TestBlackholeSilencesThenResumes(t *testing.T) {
	specs := one("bf", "leaky", 2, 10*time.Second)
	specs[0].Blackhole = 5 * time.Minute
	e := mustCompile(t, specs, Options{})
	at := func(d time.Duration) *event.Event { return sshFail("192.0.2.1", t0.Add(d), "root") }
	if a := pourAll(e, at(0), at(0), at(0)); len(a) != 1 {
		t.Fatalf("first burst raised %d alerts, want 1", len(a))
	}
	// Silenced: a hundred events within the blackhole raise nothing.
	for i := range 100 {
		if a := pourAll(e, at(time.Second+time.Duration(i)*time.Second)); len(a) != 0 {
			t.Fatalf("event %d within the blackhole raised %+v", i, a)
		}
	}
	// After the blackhole the bucket starts empty: capacity events fit again.
	if a := pourAll(e, at(5*time.Minute), at(5*time.Minute)); len(a) != 0 {
		t.Fatalf("after the blackhole, %d events overflowed a capacity-2 bucket", 2)
	}
	a := pourAll(e, at(5*time.Minute+time.Second))
	if len(a) != 1 || a[0].Events != 3 || !a[0].First.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after the blackhole alerts = %+v, want one of 3 events", a)
	}
}

func TestBlackholeDefaultsToOneMinute(t *testing.T) {
	e := mustCompile(t, one("t", "trigger", 0, 0), Options{})
	if a := pourAll(e, sshFail("192.0.2.1", t0, "x")); len(a) != 1 || a[0].Events != 1 {
		t.Fatalf("trigger: alerts = %+v, want one of 1 event", a)
	}
	if a := pourAll(e, sshFail("192.0.2.1", t0.Add(59*time.Second), "x")); len(a) != 0 {
		t.Fatal("trigger fired again within the default one-minute blackhole")
	}
	if a := pourAll(e, sshFail("192.0.2.1", t0.Add(60*time.Second), "x")); len(a) != 1 {
		t.Fatal("trigger did not fire once the blackhole ended")
	}
}

func TestWindowCountsWithoutLeak(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{{Name: "w", Capacity: 3, Window: time.Minute,
		Filter: rules.FilterSpec{Kinds: []string{"auth_failure"}}}}, Options{})
	at := func(d time.Duration) *event.Event { return sshFail("192.0.2.1", t0.Add(d), "root") }
	if a := pourAll(e, at(0), at(20*time.Second), at(40*time.Second), at(61*time.Second)); len(a) != 0 {
		t.Fatalf("4th event after the window overflowed: %+v", a)
	}
	if a := pourAll(e, at(62*time.Second), at(63*time.Second), at(64*time.Second)); len(a) != 1 {
		t.Fatal("4 events within a window did not overflow")
	}
}

func TestIPv6SourcesAreGroupedByPrefix(t *testing.T) {
	for _, tt := range []struct {
		bits   int
		alerts int
		scope  string
	}{
		{0, 1, "2001:db8:1:2::/64"},
		{64, 1, "2001:db8:1:2::/64"},
		{128, 0, ""},
		{56, 1, "2001:db8:1::/56"},
	} {
		t.Run(fmt.Sprint(tt.bits), func(t *testing.T) {
			specs := one("bf", "leaky", 5, 10*time.Second)
			specs[0].IPv6Prefix = tt.bits
			e := mustCompile(t, specs, Options{})
			var evs []*event.Event
			for i := 1; i <= 6; i++ {
				evs = append(evs, sshFail(fmt.Sprintf("2001:db8:1:2::%x", i), t0, "root"))
			}
			a := pourAll(e, evs...)
			if len(a) != tt.alerts {
				t.Fatalf("six addresses of one /64 raised %d alerts, want %d", len(a), tt.alerts)
			}
			if tt.alerts == 1 {
				if a[0].Scope.String() != tt.scope || a[0].Source != netip.MustParseAddr("2001:db8:1:2::6") {
					t.Errorf("alert scope %s source %s, want scope %s and the last address", a[0].Scope, a[0].Source, tt.scope)
				}
			}
		})
	}
}

func TestIPv4MappedSourcesAreNormalised(t *testing.T) {
	e := mustCompile(t, one("bf", "leaky", 2, 10*time.Second), Options{})
	a := pourAll(e, sshFail("::ffff:192.0.2.1", t0, "a"), sshFail("192.0.2.1", t0, "a"), sshFail("::ffff:192.0.2.1", t0, "a"))
	if len(a) != 1 || a[0].Scope != netip.MustParsePrefix("192.0.2.1/32") {
		t.Fatalf("alerts = %+v, want one for 192.0.2.1/32", a)
	}
	if e.Stats().Live != 1 {
		t.Errorf("live buckets = %d, want 1", e.Stats().Live)
	}
}

func TestSourcesAreCountedApart(t *testing.T) {
	e := mustCompile(t, one("bf", "leaky", 5, 10*time.Second), Options{})
	var evs []*event.Event
	for i := range 50 {
		evs = append(evs, sshFail(fmt.Sprintf("192.0.2.%d", i%10), t0, "root"))
	}
	if a := pourAll(e, evs...); len(a) != 0 {
		t.Fatalf("5 events from each of 10 sources raised %+v", a)
	}
}

func TestGroupBySourceAndHost(t *testing.T) {
	e := mustCompile(t, []rules.ScenarioSpec{{Name: "vh", GroupBy: "source+host", Capacity: 2, Leak: time.Minute,
		Filter: rules.FilterSpec{Kinds: []string{"http_request"}}}}, Options{})
	req := func(host string) *event.Event {
		ev := httpReq("192.0.2.1", t0, "GET", "/", 404, "")
		ev.Host = []byte(host)
		return ev
	}
	if a := pourAll(e, req("a.example"), req("b.example"), req("A.Example"), req("b.example")); len(a) != 0 {
		t.Fatalf("2 requests per host overflowed: %+v", a)
	}
	if a := pourAll(e, req("a.EXAMPLE")); len(a) != 1 {
		t.Fatal("third request to one host (any case) did not overflow")
	}
}

func TestTimeGoingBackwardsDoesNoHarm(t *testing.T) {
	e := mustCompile(t, one("bf", "leaky", 5, 10*time.Second), Options{})
	offs := []time.Duration{5, 3, 4, 1, 2, 0} // seconds, out of order
	var alerts []event.Alert
	for _, o := range offs {
		alerts = pourAll(e, sshFail("192.0.2.1", t0.Add(o*time.Second), "root"))
	}
	if len(alerts) != 1 || !alerts[0].First.Equal(t0) || alerts[0].Events != 6 {
		t.Fatalf("alerts = %+v, want one of 6 events starting at %v", alerts, t0)
	}
}

func TestAdminMistypingTwiceNeverOverflows(t *testing.T) {
	e := mustCompile(t, defaultLike(), Options{})
	for day := range 30 {
		for h := range 8 { // logs in eight times a day, mistyping twice each time
			at := t0.Add(time.Duration(day)*24*time.Hour + time.Duration(h)*time.Hour)
			evs := []*event.Event{sshFail("203.0.113.10", at, "admin"), sshFail("203.0.113.10", at.Add(3*time.Second), "admin")}
			if a := pourAll(e, evs...); len(a) != 0 {
				t.Fatalf("day %d login %d: alerts %+v", day, h, a)
			}
		}
	}
	// Even typing the user name wrong as well.
	at := t0.Add(40 * 24 * time.Hour)
	if a := pourAll(e, sshFail("203.0.113.10", at, "amdin"), sshFail("203.0.113.10", at.Add(2*time.Second), "admin")); len(a) != 0 {
		t.Fatalf("alerts %+v", a)
	}
}

func TestFilters(t *testing.T) {
	get := func(path string, status uint16) *event.Event {
		return httpReq("192.0.2.1", t0, "GET", path, status, "Mozilla/5.0")
	}
	with := func(ev *event.Event, f func(*event.Event)) *event.Event { f(ev); return ev }
	tests := []struct {
		name   string
		filter rules.FilterSpec
		ev     *event.Event
		want   bool
	}{
		{"kind matches", rules.FilterSpec{Kinds: []string{"auth_failure"}}, sshFail("192.0.2.1", t0, "x"), true},
		{"kind differs", rules.FilterSpec{Kinds: []string{"auth_success"}}, sshFail("192.0.2.1", t0, "x"), false},
		{"no kinds: any but none", rules.FilterSpec{}, sshFail("192.0.2.1", t0, "x"), true},
		{"no kinds: never none", rules.FilterSpec{}, with(sshFail("192.0.2.1", t0, "x"), func(e *event.Event) { e.Kind = event.KindNone }), false},
		{"service in set", rules.FilterSpec{Services: []string{"smtp", "ssh"}}, sshFail("192.0.2.1", t0, "x"), true},
		{"service not in set", rules.FilterSpec{Services: []string{"smtp"}}, sshFail("192.0.2.1", t0, "x"), false},
		{"reason in set", rules.FilterSpec{Reasons: []string{"invalid_user"}}, with(sshFail("192.0.2.1", t0, "x"), func(e *event.Event) { e.Reason = "invalid_user" }), true},
		{"reason missing", rules.FilterSpec{Reasons: []string{"invalid_user"}}, sshFail("192.0.2.1", t0, "x"), false},
		{"not reason excludes", rules.FilterSpec{NotReasons: []string{"kex_error"}}, with(sshFail("192.0.2.1", t0, "x"), func(e *event.Event) { e.Reason = "kex_error" }), false},
		{"not reason passes others", rules.FilterSpec{NotReasons: []string{"kex_error"}}, sshFail("192.0.2.1", t0, "x"), true},
		{"status in set", rules.FilterSpec{Status: []int{403, 404}}, get("/", 404), true},
		{"status not in set", rules.FilterSpec{Status: []int{403, 404}}, get("/", 200), false},
		{"status class", rules.FilterSpec{StatusClasses: []int{5}}, get("/", 503), true},
		{"status class or set", rules.FilterSpec{Status: []int{401}, StatusClasses: []int{5}}, get("/", 401), true},
		{"status absent", rules.FilterSpec{StatusClasses: []int{4}}, get("/", 0), false},
		{"method", rules.FilterSpec{Methods: []string{"POST"}}, get("/", 200), false},
		{"method matches", rules.FilterSpec{Methods: []string{"GET", "HEAD"}}, get("/", 200), true},
		{"path contains", rules.FilterSpec{PathContains: []string{"/.git/"}}, get("/app/.git/config", 404), true},
		{"path contains, any case", rules.FilterSpec{PathContains: []string{"/.GIT/"}}, get("/app/.Git/config", 404), true},
		{"path contains, percent-encoded", rules.FilterSpec{PathContains: []string{"/.env"}}, get("/%2E%65nv", 404), true},
		{"path contains ignores the query", rules.FilterSpec{PathContains: []string{".env"}}, get("/search?q=.env", 200), false},
		{"encoded question mark does not split", rules.FilterSpec{PathContains: []string{"a?b"}}, get("/a%3Fb", 404), true},
		{"malformed escape kept", rules.FilterSpec{PathContains: []string{"%zz"}}, get("/%zz", 404), true},
		{"path suffix", rules.FilterSpec{PathSuffix: []string{"/wp-login.php"}}, get("/blog/WP-LOGIN.PHP?redirect=1", 200), true},
		{"path suffix absent", rules.FilterSpec{PathSuffix: []string{"/wp-login.php"}}, get("/wp-login.php.bak", 200), false},
		{"not path suffix excludes statics", rules.FilterSpec{NotPathSuffix: []string{".css"}}, get("/site.CSS?v=3", 200), false},
		{"not path suffix keeps pages", rules.FilterSpec{NotPathSuffix: []string{".css"}}, get("/index.php", 200), true},
		{"query contains, plus is space", rules.FilterSpec{QueryContains: []string{"union select"}}, get("/item?id=1+UNION+SELECT+1", 200), true},
		{"query contains, encoded", rules.FilterSpec{QueryContains: []string{"<script"}}, get("/q?s=%3CScRiPt%3E", 200), true},
		{"query contains, no query", rules.FilterSpec{QueryContains: []string{"<script"}}, get("/<script", 200), false},
		{"path regexp", rules.FilterSpec{PathRegexp: `/cgi-bin/.*\.sh`}, get("/CGI-BIN/x.sh", 404), true},
		{"path regexp sees the query", rules.FilterSpec{PathRegexp: `cmd=`}, get("/x?CMD=id", 404), true},
		{"path regexp misses", rules.FilterSpec{PathRegexp: `^/cgi-bin/`}, get("/index.html", 404), false},
		{"user agent contains, any case", rules.FilterSpec{UserAgentContains: []string{"sqlmap"}}, httpReq("192.0.2.1", t0, "GET", "/", 200, "SQLMap/1.7"), true},
		{"user agent misses", rules.FilterSpec{UserAgentContains: []string{"sqlmap"}}, get("/", 200), false},
		{"all criteria must hold", rules.FilterSpec{Status: []int{404}, PathContains: []string{"/admin"}}, get("/admin", 200), false},
		{"not methods excludes", rules.FilterSpec{NotMethods: []string{"PROPFIND", "GET"}}, get("/", 404), false},
		{"not methods passes others", rules.FilterSpec{NotMethods: []string{"PROPFIND"}}, get("/", 404), true},
		{"not methods passes no method", rules.FilterSpec{NotMethods: []string{"GET"}}, with(get("/", 400), func(e *event.Event) { e.Method = nil }), true},
		{"not path contains excludes, decoded", rules.FilterSpec{NotPathContains: []string{"/remote.php/dav/"}}, get("/Remote.php/%64av/files/a", 404), false},
		{"not path contains ignores the query", rules.FilterSpec{NotPathContains: []string{"/dav/"}}, get("/x?r=/dav/", 404), true},
		{"referer contains, any case", rules.FilterSpec{RefererContains: []string{"${jndi:"}}, with(get("/", 200), func(e *event.Event) { e.Referer = []byte("${JNDI:ldap://x/a}") }), true},
		{"referer contains, no referer", rules.FilterSpec{RefererContains: []string{"${jndi:"}}, get("/", 200), false},
		{"referer contains, elsewhere only", rules.FilterSpec{RefererContains: []string{"${jndi:"}}, httpReq("192.0.2.1", t0, "GET", "/${jndi:x}", 200, "${jndi:y}"), false},
		{"with user: a browser's first 401 names none", rules.FilterSpec{WithUser: true}, get("/", 401), false},
		{"with user: a failed login names one", rules.FilterSpec{WithUser: true}, with(get("/", 401), func(e *event.Event) { e.User = []byte("alice") }), true},
		{"users: the local part of an address, any case", rules.FilterSpec{Users: []string{"postmaster"}}, sshFail("192.0.2.1", t0, "PostMaster@example.org"), true},
		{"users: a bare name", rules.FilterSpec{Users: []string{"postmaster"}}, sshFail("192.0.2.1", t0, "postmaster"), true},
		{"users: a longer name is another", rules.FilterSpec{Users: []string{"admin"}}, sshFail("192.0.2.1", t0, "admins@example.org"), false},
		{"users: the domain is not the name", rules.FilterSpec{Users: []string{"example"}}, sshFail("192.0.2.1", t0, "alice@example"), false},
		{"users: a prefix", rules.FilterSpec{Users: []string{"nonexistent_user*"}}, sshFail("192.0.2.1", t0, "nonexistent_user_26@example.org"), true},
		{"users: a prefix stops at the domain", rules.FilterSpec{Users: []string{"alice*"}}, sshFail("192.0.2.1", t0, "bob@alice.example"), false},
		{"users: a whole address", rules.FilterSpec{Users: []string{"trap@example.org"}}, sshFail("192.0.2.1", t0, "Trap@Example.org"), true},
		{"users: a whole address, other domain", rules.FilterSpec{Users: []string{"trap@example.org"}}, sshFail("192.0.2.1", t0, "trap@example.net"), false},
		{"users: no user", rules.FilterSpec{Users: []string{"admin"}}, get("/", 401), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, []rules.ScenarioSpec{{Name: "f", Type: "trigger", Filter: tt.filter}}, Options{})
			poured, _ := e.Pour(tt.ev, nil, nil)
			if got := len(poured) == 1; got != tt.want {
				t.Errorf("filter accepted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileErrorsNameTheRuleAndWhere(t *testing.T) {
	pos := rules.Pos{File: "sshd.yaml", Line: 12}
	tests := []struct {
		name string
		spec rules.ScenarioSpec
		msg  string
	}{
		{"no capacity", rules.ScenarioSpec{Leak: time.Second}, "capacity"},
		{"no leak", rules.ScenarioSpec{Capacity: 5}, "leak"},
		{"negative leak", rules.ScenarioSpec{Capacity: 5, Leak: -1}, "negative"},
		{"bad type", rules.ScenarioSpec{Type: "bucket", Capacity: 5, Leak: time.Second}, "type"},
		{"distinct without field", rules.ScenarioSpec{Type: "distinct", Capacity: 5, Leak: time.Second}, "distinct"},
		{"distinct field on leaky", rules.ScenarioSpec{Distinct: "user", Capacity: 5, Leak: time.Second}, "distinct"},
		{"bad group", rules.ScenarioSpec{GroupBy: "host", Capacity: 5, Leak: time.Second}, "group_by"},
		{"bad prefix", rules.ScenarioSpec{IPv6Prefix: 129, Capacity: 5, Leak: time.Second}, "ipv6_prefix"},
		{"bad kind", rules.ScenarioSpec{Capacity: 5, Leak: time.Second, Filter: rules.FilterSpec{Kinds: []string{"auth-failure"}}}, "auth-failure"},
		{"bad regexp", rules.ScenarioSpec{Capacity: 5, Leak: time.Second, Filter: rules.FilterSpec{PathRegexp: "("}}, "regexp"},
		{"bad status", rules.ScenarioSpec{Capacity: 5, Leak: time.Second, Filter: rules.FilterSpec{Status: []int{4}}}, "status"},
		{"huge capacity", rules.ScenarioSpec{Capacity: 1 << 30, Leak: time.Second}, "capacity"},
		{"never empties", rules.ScenarioSpec{Capacity: 1000, Leak: 24 * time.Hour}, "to empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Pos = "broken", pos
			_, err := Compile([]rules.ScenarioSpec{tt.spec}, Options{})
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, `"broken"`) || !strings.Contains(msg, "sshd.yaml:12") || !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q does not name the rule, sshd.yaml:12 and %q", msg, tt.msg)
			}
		})
	}
	dup := []rules.ScenarioSpec{{Name: "a", Capacity: 1, Leak: 1, Pos: pos}, {Name: "a", Capacity: 1, Leak: 1, Pos: rules.Pos{File: "x.yaml", Line: 3}}}
	if _, err := Compile(dup, Options{}); err == nil || !strings.Contains(err.Error(), "already used at sshd.yaml:12") {
		t.Errorf("duplicate names: error %v", err)
	}
}

func TestLenAndName(t *testing.T) {
	e := mustCompile(t, defaultLike(), Options{})
	if e.Len() != len(defaultLike()) || e.Name(0) != "ssh-bruteforce" {
		t.Fatalf("Len %d Name(0) %q", e.Len(), e.Name(0))
	}
	poured, _ := e.Pour(sshFail("192.0.2.1", t0, "root"), nil, nil)
	var names []string
	for _, i := range poured {
		names = append(names, e.Name(i))
	}
	if got := strings.Join(names, ","); got != "ssh-bruteforce,ssh-slow-bruteforce,ssh-user-enum" {
		t.Errorf("an ssh failure was poured into %s", got)
	}
}

func TestInvalidSourceIsIgnored(t *testing.T) {
	e := mustCompile(t, one("t", "trigger", 0, 0), Options{})
	ev := sshFail("192.0.2.1", t0, "x")
	ev.Source = netip.Addr{}
	if p, a := e.Pour(ev, nil, nil); len(p)+len(a) != 0 || e.Stats().Live != 0 {
		t.Fatal("an event without a source was counted")
	}
}

func TestSweepDropsLeakedBuckets(t *testing.T) {
	e := mustCompile(t, defaultLike(), Options{})
	for i := range 1000 {
		pourAll(e, sshFail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0, "root"))
	}
	if s := e.Stats(); s.Live != 3000 {
		t.Fatalf("live = %d, want 3000 (three ssh scenarios per source)", s.Live)
	}
	e.Sweep(t0.Add(30 * time.Second)) // ssh-bruteforce and ssh-user-enum leaked (10s), slow one not (1m)
	if s := e.Stats(); s.Live != 1000 || s.Expired != 2000 {
		t.Fatalf("after 30s: %+v, want 1000 live and 2000 expired", s)
	}
	e.Sweep(t0.Add(time.Hour))
	if s := e.Stats(); s.Live != 0 || s.Expired != 3000 {
		t.Fatalf("after an hour: %+v, want none live", s)
	}
}

func TestPourSweepsIncrementally(t *testing.T) {
	e := mustCompile(t, one("bf", "leaky", 5, 10*time.Second), Options{})
	for i := range 1000 {
		pourAll(e, sshFail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0, "root"))
	}
	// An hour later one source keeps failing: its pours sweep the rest away.
	for i := range 1000 {
		pourAll(e, sshFail("192.0.2.1", t0.Add(time.Hour+time.Duration(i)*time.Minute), "root"))
	}
	if s := e.Stats(); s.Live != 1 || s.Expired != 1000 {
		t.Fatalf("stats %+v, want the stale buckets expired by Pour itself", s)
	}
}

func TestMemoryStaysBoundedUnderManySources(t *testing.T) {
	const max = 20_000
	e := mustCompile(t, defaultLike(), Options{MaxBuckets: max})
	ev := sshFail("10.0.0.0", t0, "root")
	var poured []int
	var alerts []event.Alert
	pour := func(from, to int) {
		for i := from; i < to; i++ {
			ev.Source = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		}
	}
	pour(0, max)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	pour(max, 10*max)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	s := e.Stats()
	if s.Live > max {
		t.Fatalf("live %d > MaxBuckets %d", s.Live, max)
	}
	if s.Evicted == 0 {
		t.Fatal("nothing evicted")
	}
	if len(e.slab) > max {
		t.Fatalf("slab grew to %d > %d", len(e.slab), max)
	}
	growth := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("after %d sources: %+v; heap %d → %d bytes", 10*max, s, m0.HeapAlloc, m1.HeapAlloc)
	if growth > int64(m0.HeapAlloc) {
		t.Fatalf("heap grew by %d bytes after the engine was full (was %d)", growth, m0.HeapAlloc)
	}
}

func TestMemoryPerBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("pours a million sources")
	}
	const n = 1_000_000
	specs := defaultLike()[:3] // the ssh scenarios
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	e := mustCompile(t, specs, Options{})
	ev := sshFail("10.0.0.0", t0, "root")
	var poured []int
	var alerts []event.Alert
	for i := range n {
		ev.Source = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond) // 1 s for all: nothing leaks away
		poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	live := e.Stats().Live
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(live)
	t.Logf("%d sources, %d live buckets, %.1f bytes per bucket (heap delta %d)", n, live, per, m1.HeapAlloc-m0.HeapAlloc)
	if live != 3*n {
		t.Fatalf("live = %d, want %d", live, 3*n)
	}
	if per > 300 {
		t.Fatalf("%.1f bytes per live bucket, want ≤ 300", per)
	}
	runtime.KeepAlive(e)
}

func TestPourDoesNotAllocate(t *testing.T) {
	e := mustCompile(t, defaultLike(), Options{})
	ssh := sshFail("192.0.2.1", t0, "root")
	http := httpReq("2001:db8::7", t0, "GET", "/wp-content/plugins/%2E%2E/x.php?id=1+union+select", 404, "Mozilla/5.0 (X11; Linux x86_64)")
	trig := httpReq("198.51.100.1", t0, "GET", "/.env", 404, "sqlmap/1.7")
	poured := make([]int, 0, 32)
	alerts := make([]event.Alert, 0, 32)
	for name, ev := range map[string]*event.Event{"ssh": ssh, "http": http, "trigger": trig} {
		i := 0
		n := testing.AllocsPerRun(1000, func() {
			i++
			ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		})
		if n != 0 {
			t.Errorf("%s: Pour allocates %v times per event", name, n)
		}
	}
}

func benchPour(b *testing.B, ev *event.Event, sources int) {
	e := mustCompile(b, defaultLike(), Options{})
	poured := make([]int, 0, 32)
	alerts := make([]event.Alert, 0, 32)
	// Steady state: each source sends one event every 100 ms, in turn.
	i := 0
	step := func() {
		j := i % sources
		ev.Source = netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		ev.Time = t0.Add(time.Duration(i/sources) * 100 * time.Millisecond)
		poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		i++
	}
	for range sources * 2 {
		step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
}

func BenchmarkPourSSHAuthFailure(b *testing.B) {
	benchPour(b, sshFail("192.0.2.1", t0, "root"), 1)
}

func BenchmarkPourSSHAuthFailure10kSources(b *testing.B) {
	benchPour(b, sshFail("192.0.2.1", t0, "root"), 10_000)
}

func BenchmarkPourHTTPRequest(b *testing.B) {
	benchPour(b, httpReq("192.0.2.1", t0, "GET", "/blog/2024/03/some-article-title?utm_source=feed", 200,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"), 1)
}

func BenchmarkPourHTTPRequest10kSources(b *testing.B) {
	benchPour(b, httpReq("192.0.2.1", t0, "GET", "/blog/2024/03/some-article-title?utm_source=feed", 200,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"), 10_000)
}

func FuzzPour(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07"))
	f.Add([]byte("ssh brute force from many places at once ..."))
	const max = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		e := mustCompile(t, defaultLike(), Options{MaxBuckets: max})
		now := t0
		users := []string{"root", "admin", "oracle", "", "test"}
		paths := []string{"/", "/.env", "/a%2", "/x?q=%3Cscript", "/wp-login.php", "/%", "/cgi-bin/a.sh"}
		var poured []int
		var alerts []event.Alert
		for len(data) >= 4 {
			b0, b1, b2, b3 := data[0], data[1], data[2], data[3]
			data = data[4:]
			now = now.Add(time.Duration(int8(b3)) * 250 * time.Millisecond) // may go backwards
			var src netip.Addr
			if b0&1 == 0 {
				src = netip.AddrFrom4([4]byte{10, 0, b1 & 7, b2 & 15})
			} else {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: b1 & 3, 15: b2})
			}
			ev := &event.Event{Time: now, Source: src, Bytes: -1}
			if b0&2 == 0 {
				ev.Kind, ev.Service, ev.User = event.KindAuthFailure, "ssh", []byte(users[int(b2)%len(users)])
			} else {
				ev.Kind, ev.Service = event.KindHTTPRequest, "http"
				ev.Path = []byte(paths[int(b1)%len(paths)])
				ev.Status = []uint16{200, 401, 404, 500}[b0>>6]
				ev.Method = []byte("POST")
				ev.Host = []byte{b2 & 3}
			}
			poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
			for _, a := range alerts {
				if a.Source != src || !a.Scope.Contains(src) || a.Events < 1 || a.Last.Before(a.First) {
					t.Fatalf("bad alert %+v for %v", a, src)
				}
			}
			if s := e.Stats(); s.Live > max {
				t.Fatalf("live %d > %d", s.Live, max)
			}
		}
		e.Sweep(now.Add(24 * time.Hour))
		if s := e.Stats(); s.Live != 0 {
			t.Fatalf("%d buckets live a day later", s.Live)
		}
	})
}

// BenchmarkYardstick times the same fixed standard-library work as
// internal/parse's yardstick: on a shared, overloaded machine ns/op inflates
// for every benchmark alike, so Pour's cost can be read as a multiple of it.
func BenchmarkYardstick(b *testing.B) {
	in := []byte("Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2")
	lit := []byte(" port ")
	for b.Loop() {
		if bytes.Index(in, lit) < 0 {
			b.Fatal("no")
		}
		if _, err := netip.ParseAddr("192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}
