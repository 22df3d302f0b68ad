package agentmetrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/source/journald"
)

// TestLineMetricsDoNotAllocate runs lines through the detector and the
// agent's per-line counting (the path's counters looked up, read, parsed or
// unparsed, the event's kind): once each source's counters are resolved,
// counting costs no allocation.
func TestLineMetricsDoNotAllocate(t *testing.T) {
	set, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	det, err := detect.New(detect.Options{Rules: set, Location: time.UTC, Reference: t0})
	if err != nil {
		t.Fatal(err)
	}
	ds := decision.New(decision.Options{})
	am := New(nil, ds.Len)
	var lines [][]byte
	for i := range 256 {
		lines = append(lines, fmt.Appendf(nil, "Nov 23 09:00:%02d web sshd[42]: Failed password for root from 203.0.113.%d port 22 ssh2", i%60, i%200+1))
		lines = append(lines, []byte("not a log line anyone knows"))
	}
	paths := []string{"/var/log/auth.log", "/var/log/secure"}
	journal := am.m.Source(journald.Name)
	for i, l := range lines { // warm up: buckets, counters of both paths
		am.Line(am.File(paths[i%2]), det.Line(l, ""))
	}
	i := 0
	allocs := testing.AllocsPerRun(len(lines), func() {
		res := det.Line(lines[i%len(lines)], "")
		am.Line(am.File(paths[i%2]), res)
		am.Line(journal, res)
		i++
	})
	if allocs > 0.05 {
		t.Errorf("%.2f allocations per line", allocs)
	}
}
