package lapi

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkPostAlerts posts alerts with one ban each to a real loopback
// server over SQLite, batch alerts per request, each alert new (its own
// uuid and address). It reports alerts per second.
func BenchmarkPostAlerts(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			_, base := newWatcherFixture(b, Options{})
			_, a := login(b, base, testMachine, testPassword)
			n := 0
			body := func() []byte {
				var buf bytes.Buffer
				buf.WriteByte('[')
				for i := range batch {
					if i > 0 {
						buf.WriteByte(',')
					}
					n++
					one := alertBody(fmt.Sprintf("b:%d", n), "Ip", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255), "4h")
					buf.Write(one[1 : len(one)-1])
				}
				buf.WriteByte(']')
				return buf.Bytes()
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				req := body()
				b.StartTimer()
				if code, ans := post(b, base+"/v1/alerts", a.Token, req); code != http.StatusCreated {
					b.Fatalf("%d %s", code, ans)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
