package detect_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
)

// benchLines returns n realistic lines of one kind ("sshd" or "nginx"),
// written here, with many distinct sources so buckets are really exercised.
func benchLines(kind string, n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i := range out {
		ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		src := fmt.Sprintf("203.0.%d.%d", r.IntN(64), 1+r.IntN(250))
		port := 1024 + r.IntN(60000)
		switch kind {
		case "sshd":
			stamp := ts.Format(time.Stamp)
			var msg string
			switch r.IntN(6) {
			case 0:
				msg = fmt.Sprintf("Failed password for root from %s port %d ssh2", src, port)
			case 1:
				msg = fmt.Sprintf("Invalid user admin%d from %s port %d", r.IntN(100), src, port)
			case 2:
				msg = fmt.Sprintf("Failed password for invalid user oracle from %s port %d ssh2", src, port)
			case 3:
				msg = fmt.Sprintf("Connection closed by authenticating user root %s port %d [preauth]", src, port)
			case 4:
				msg = fmt.Sprintf("Received disconnect from %s port %d:11: Bye Bye [preauth]", src, port)
			default:
				msg = "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"
			}
			out[i] = []byte(fmt.Sprintf("%s web1 sshd[%d]: %s", stamp, 1000+r.IntN(30000), msg))
		case "nginx":
			paths := []string{"/", "/index.html", "/assets/app.js", "/assets/app.css", "/api/items?page=2", "/.env", "/wp-login.php", "/login"}
			st := []int{200, 200, 200, 304, 200, 404, 404, 200}
			j := r.IntN(len(paths))
			out[i] = []byte(fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`,
				src, ts.Format("02/Jan/2006:15:04:05 -0700"), paths[j], st[j], 100+r.IntN(5000)))
		}
	}
	return out
}

func BenchmarkDetectorSSHD(b *testing.B)  { benchDetector(b, "sshd", false) }
func BenchmarkDetectorNginx(b *testing.B) { benchDetector(b, "nginx", false) }

// With the evidence ring of the agent and of replay --json.
func BenchmarkDetectorSSHDEvidence(b *testing.B)  { benchDetector(b, "sshd", true) }
func BenchmarkDetectorNginxEvidence(b *testing.B) { benchDetector(b, "nginx", true) }

func benchDetector(b *testing.B, kind string, evidence bool) {
	lines := benchLines(kind, 1<<16)
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var d *detect.Detector
	if evidence {
		d = newEvidenceDetector(b, ref)
	} else {
		d = newDetector(b, time.UTC, ref)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i, start := 0, cpuTime()
	for b.Loop() {
		d.Line(lines[i&(len(lines)-1)], "")
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if cpu := cpuTime() - start; cpu > 0 {
		// On a shared, overloaded machine CPU time per line measures the
		// code better than the wall clock does.
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
	}
}

// Once buckets exist, a line that raises no alert costs no allocation, with
// or without the evidence ring.
func TestDetectorLineDoesNotAllocate(t *testing.T) {
	for _, kind := range []string{"sshd", "nginx", "sshd+evidence", "nginx+evidence"} {
		kind, evidence := strings.CutSuffix(kind, "+evidence")
		lines := benchLines(kind, 1024)
		ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
		var d *detect.Detector
		if evidence {
			d = newEvidenceDetector(t, ref)
		} else {
			d = newDetector(t, time.UTC, ref)
		}
		for _, l := range lines {
			d.Line(l, "")
		}
		// Replay the same lines: same sources, buckets already live (or blackholed).
		i := 0
		allocs := testing.AllocsPerRun(len(lines), func() {
			res := d.Line(lines[i%len(lines)], "")
			i++
			_ = res
		})
		if allocs > 0.05 {
			t.Errorf("%s (evidence %v): %.2f allocations per line", kind, evidence, allocs)
		}
	}
}
