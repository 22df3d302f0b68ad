package lapi

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

// countingStore counts DecisionsSince calls.
type countingStore struct {
	*store.Store
	since atomic.Int64
}

func (c *countingStore) DecisionsSince(ctx context.Context, cursor int64) (added, deleted []store.DecisionRecord, err error) {
	c.since.Add(1)
	return c.Store.DecisionsSince(ctx, cursor)
}

func storeFilterIDs(ids ...int64) store.DecisionFilter { return store.DecisionFilter{IDs: ids} }

func TestForwardAuth(t *testing.T) {
	f := newFixture(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	f.ban("192.0.2.7", time.Hour, "herd/http-probing", "herd")
	f.ban("198.51.100.0/24", time.Hour, "herd/http-probing", "community")
	f.ban("2001:db8:1::/48", time.Hour, "herd/http-probing", "community")
	f.ban("203.0.113.9", time.Minute, "herd/http-probing", "herd")
	f.add(store.DecisionRecord{Decision: eventDecisionCaptcha("192.0.2.99")})
	f.sync()
	f.clock.Add(2 * time.Minute) // 203.0.113.9's ban is over
	h := f.srv.Handler()

	tests := []struct {
		name   string
		remote string
		xff    []string
		realIP string
		key    string
		want   int
	}{
		{"direct, banned", "192.0.2.7:5555", nil, "", testKey, 403},
		{"direct, clean", "192.0.2.8:5555", nil, "", testKey, 200},
		{"direct, in a banned range", "198.51.100.200:5555", nil, "", testKey, 403},
		{"direct, IPv6 in a banned /48", "[2001:db8:1:2::3]:5555", nil, "", testKey, 403},
		{"direct, IPv4-mapped", "[::ffff:198.51.100.1]:5555", nil, "", testKey, 403},
		{"expired ban", "203.0.113.9:5555", nil, "", testKey, 200},
		{"captcha is not a ban", "192.0.2.99:5555", nil, "", testKey, 200},
		{"trusted proxy, banned client", "10.1.2.3:80", []string{"192.0.2.7"}, "", testKey, 403},
		{"trusted proxy, client in range", "10.1.2.3:80", []string{"198.51.100.9"}, "", testKey, 403},
		{"trusted proxy, clean client", "10.1.2.3:80", []string{"192.0.2.8"}, "", testKey, 200},
		{"trusted proxy chain", "10.1.2.3:80", []string{"192.0.2.7, 10.1.9.9"}, "", testKey, 403},
		{"spoofed left entry ignored", "10.1.2.3:80", []string{"192.0.2.8, 192.0.2.7"}, "", testKey, 403},
		{"spoofed left entry cannot clear", "10.1.2.3:80", []string{"192.0.2.7, 192.0.2.8"}, "", testKey, 200},
		{"two header lines", "10.1.2.3:80", []string{"1.1.1.1", "192.0.2.7"}, "", testKey, 403},
		{"X-Real-IP", "10.1.2.3:80", nil, "192.0.2.7", testKey, 403},
		{"port in XFF", "10.1.2.3:80", []string{"192.0.2.7:4711"}, "", testKey, 403},
		{"untrusted peer's XFF ignored", "192.0.2.8:5555", []string{"192.0.2.7"}, "", testKey, 200},
		{"untrusted peer's X-Real-IP ignored", "192.0.2.8:5555", nil, "192.0.2.7", testKey, 200},
		{"banned peer cannot hide behind XFF", "192.0.2.7:5555", []string{"192.0.2.8"}, "", testKey, 403},
		{"garbage XFF from proxy: proxy's own address", "10.1.2.3:80", []string{"192.0.2.7, junk"}, "", testKey, 200},
		{"no key", "192.0.2.8:5555", nil, "", "", 403},
	}
	for _, tc := range tests {
		req := newRequest("/v1/forward-auth", tc.remote)
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if tc.realIP != "" {
			req.Header.Set("X-Real-IP", tc.realIP)
		}
		if tc.key != "" {
			req.Header.Set("X-Api-Key", tc.key)
		}
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.code, tc.want)
		}
	}
}

func eventDecisionCaptcha(scope string) event.Decision {
	return event.Decision{Type: event.Captcha, Scope: mustPrefix(scope), Duration: time.Hour, Scenario: "herd/http-crawl", Origin: "herd"}
}

func TestForwardAuthOpenForLoopbackProxies(t *testing.T) {
	f := newFixture(t, Options{OpenForwardAuth: true}) // trusted: loopback
	f.ban("192.0.2.7", time.Hour, "herd/http-probing", "herd")
	base := f.serve()
	c := &http.Client{}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/forward-auth", nil)
	req.Header.Set("X-Forwarded-For", "192.0.2.7")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("open, banned client via loopback proxy: %d, want 403", resp.StatusCode)
	}
	req.Header.Set("X-Forwarded-For", "192.0.2.8")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("open, clean client: %d, want 200", resp.StatusCode)
	}
	// Other endpoints still need the key.
	if code, _ := get(t, c, base+"/v1/decisions", ""); code != http.StatusForbidden {
		t.Errorf("/v1/decisions without key on an open server: %d, want 403", code)
	}
	// An untrusted peer needs the key even when open.
	f2 := newFixture(t, Options{OpenForwardAuth: true, TrustedProxies: []netip.Prefix{}})
	f2.sync()
	rec := newRecorder()
	f2.srv.Handler().ServeHTTP(rec, newRequest("/v1/forward-auth", "127.0.0.1:80"))
	if rec.code != http.StatusForbidden {
		t.Errorf("open, peer not trusted, no key: %d, want 403", rec.code)
	}
}

func TestForwardAuthAllocs(t *testing.T) {
	f := newFixture(t, Options{})
	for i := range 1000 {
		f.ban("10.0."+itoa(int64(i/250))+"."+itoa(int64(i%250)), time.Hour, "herd/ssh-bruteforce", "herd")
	}
	f.ban("198.51.100.0/24", time.Hour, "herd/http-probing", "community")
	f.sync()
	h := f.srv.Handler()
	rec := newRecorder()
	for _, tc := range []struct{ name, xff string }{{"clean", "192.0.2.8"}, {"banned", "10.0.1.1"}, {"range", "198.51.100.3"}} {
		req := newRequest("/v1/forward-auth", "127.0.0.1:4444")
		req.Header.Set("X-Api-Key", testKey)
		req.Header.Set("X-Forwarded-For", "203.0.113.1, "+tc.xff)
		h.ServeHTTP(rec, req) // verifies and caches the key
		n := testing.AllocsPerRun(1000, func() {
			rec.reset()
			h.ServeHTTP(rec, req)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", tc.name, n)
		}
	}
}
