package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) Scrape {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	s, err := Fetch(t.Context(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCountersReachTheScrape(t *testing.T) {
	live := 3.0
	m := New(Options{EventKinds: []string{"none", "auth_failure"}, LiveDecisions: func() float64 { return live },
		LiveBuckets: func() float64 { return 7 }, Start: time.Unix(1700000000, 0)})
	src := m.Source("/var/log/auth.log")
	for range 5 {
		src.Line(true)
	}
	src.Line(false)
	m.Source("journald").Line(false)
	m.Event(1)
	m.Event(1)
	m.Event(9) // out of range: ignored
	m.Alert("ssh-bruteforce")
	m.Decision("ssh-bruteforce", "herd")
	m.DetectToEnforce(3 * time.Millisecond)
	m.StoreCommit(time.Millisecond)
	m.Evicted(4)
	m.FirewallError()
	m.Dropped("journald", DroppedTruncated).Add(2)

	s := scrape(t, m)
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{LinesRead, []string{"source", "/var/log/auth.log"}, 6},
		{LinesParsed, []string{"source", "/var/log/auth.log"}, 5},
		{LinesUnparsed, []string{"source", "/var/log/auth.log"}, 1},
		{LinesRead, nil, 7},
		{LinesUnparsed, []string{"source", "journald"}, 1},
		{LinesDropped, []string{"source", "journald", "reason", "truncated"}, 2},
		{Events, []string{"kind", "auth_failure"}, 2},
		{Events, []string{"kind", "none"}, 0},
		{Alerts, []string{"scenario", "ssh-bruteforce"}, 1},
		{Decisions, []string{"scenario", "ssh-bruteforce", "origin", "herd"}, 1},
		{DetectToEnforce, nil, 1},
		{StoreCommit, nil, 1},
		{BucketEvictions, nil, 4},
		{FirewallErrors, nil, 1},
		{LiveDecisions, nil, 3},
		{LiveBuckets, nil, 7},
		{StartTime, nil, 1700000000},
	} {
		if got := s.Sum(c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	if h := s[DetectToEnforce]; len(h) != 1 || h[0].Total != 0.003 {
		t.Errorf("%s samples %+v, want one observation of 3ms", DetectToEnforce, h)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !s.Has(name) {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}
}

// TestRegistryIsPrivate checks that two metric sets coexist (each has its
// own registry; the global one would refuse the second).
func TestRegistryIsPrivate(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	a.Source("x").Line(true)
	if got := scrape(t, b).Sum(LinesRead); got != 0 {
		t.Errorf("a line counted in one set shows in another: %v", got)
	}
}

func TestLineDoesNotAllocate(t *testing.T) {
	m := New(Options{EventKinds: []string{"none", "auth_failure"}})
	src := m.Source("/var/log/auth.log")
	if n := testing.AllocsPerRun(1000, func() {
		src.Line(true)
		src.Line(false)
		m.Event(1)
	}); n != 0 {
		t.Errorf("counting a line allocates %v times", n)
	}
}

func TestReadRefusesGarbage(t *testing.T) {
	for _, in := range []string{"herd_x{", "herd_x 1 2 3 4", "# TYPE herd_x counter\nherd_x abc\n"} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q) accepted garbage", in)
		}
	}
}

func BenchmarkSourceLine(b *testing.B) {
	m := New(Options{})
	src := m.Source("/var/log/auth.log")
	b.ReportAllocs()
	for b.Loop() {
		src.Line(true)
	}
}

func FuzzRead(f *testing.F) {
	f.Add("# TYPE a counter\na{b=\"c\"} 1\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Read(strings.NewReader(in))
		if err == nil {
			for name := range s {
				_ = s.Sum(name)
			}
		}
	})
}
