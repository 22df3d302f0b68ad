package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

// BenchmarkOverview answers the overview of a period holding
// overviewAlerts alerts (each with 8 log lines), the most it counts.
//
//	go test -run '^$' -bench Overview -benchmem ./internal/console/
func BenchmarkOverview(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	line := strings.Repeat("x", 160)
	for i := range overviewAlerts {
		src := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		t := h.clk.Now().Add(-time.Duration(i) * time.Second)
		if _, err := h.st.AddAlert(ctx, store.AlertRecord{Alert: event.Alert{Scenario: "ssh-bruteforce", Source: src,
			Scope: netip.PrefixFrom(src, 32), First: t, Last: t, Events: 6, Remedy: true},
			Lines: []string{line, line, line, line, line, line, line, line}, Created: t}); err != nil {
			b.Fatal(err)
		}
	}
	h.login()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/overview?period=24h", nil)
	for _, c := range h.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	srv := h.srv.Config.Handler
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
