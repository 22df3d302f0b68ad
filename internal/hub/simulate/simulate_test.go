package simulate

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

type recorder struct {
	rows    []RowResult
	changes []Change
}

func (r *recorder) options(o Options) Options {
	o.OnRow = func(x RowResult) error { r.rows = append(r.rows, x); return nil }
	o.OnChange = func(c Change) error { r.changes = append(r.changes, c); return nil }
	return o
}

func (r *recorder) blocked(t *testing.T, i int, want Block) {
	t.Helper()
	if got := r.rows[i].Blocked; got != want {
		t.Fatalf("row %d (%s %s at %s): blocked %q, want %q", i, r.rows[i].Reporter, r.rows[i].Source, r.rows[i].Time.Format(time.RFC3339), got, want)
	}
}

func row(at time.Duration, reporter, source string) Row {
	return Row{Time: t0.Add(at), Reporter: reporter, Source: netip.MustParseAddr(source), Class: wire.SSHBruteforce}
}

// TestAgentsSeeListingsAndPredictionsAfterTheDelay follows one attacker
// through a replay: local bans, the community listing reaching agents one
// propagation delay after the recomputation that made it, the listing
// ageing out, and a recidivist prediction reaching the other agents one
// delay after the report that made it.
func TestAgentsSeeListingsAndPredictionsAfterTheDelay(t *testing.T) {
	var rec recorder
	sim := New(rec.options(Options{}))
	const bad = "203.0.113.7"
	rows := []Row{
		row(0, "r0", "198.51.100.1"), // starts the clock: first recomputation at t0
		row(time.Minute, "r1", bad),
		row(2*time.Minute, "r1", bad), // local ban
		row(2*time.Minute, "r2", bad),
		row(3*time.Minute, "r3", bad),
		row(3*time.Minute, "r4", bad),
		row(4*time.Minute, "r5", bad),
		// Recomputation at 5 min lists it; agents have it at 6 min.
		row(5*time.Minute, "r6", bad),
		row(6*time.Minute, "r7", bad),
		// Four days later the evidence is out of the window: removed.
		row(96*time.Hour, "r0", "198.51.100.2"),
		row(96*time.Hour+2*time.Minute, "r1", bad), // recidivist: predicted at 96h03m
		row(96*time.Hour+2*time.Minute, "r9", bad), // not yet: the delay
		row(96*time.Hour+3*time.Minute, "r10", bad),
		row(121*time.Hour, "r0", "198.51.100.3"), // the prediction expired at 120h02m
	}
	for _, r := range rows {
		if err := sim.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := sim.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{NotBlocked, NotBlocked, Local, NotBlocked, NotBlocked, NotBlocked, NotBlocked, NotBlocked, Community, NotBlocked, NotBlocked, NotBlocked, Predicted, NotBlocked}
	for i, w := range want {
		rec.blocked(t, i, w)
	}
	var got []string
	for _, c := range rec.changes {
		got = append(got, fmt.Sprintf("%s %s %s %v", c.Time.Sub(t0), c.Prefix, c.List, c.Add))
	}
	wantCh := []string{
		"6m0s 203.0.113.7/32 community true",
		"96h1m0s 203.0.113.7/32 community false",
		"96h3m0s 203.0.113.7/32 predicted true",
		"120h2m0s 203.0.113.7/32 predicted false",
	}
	if strings.Join(got, "\n") != strings.Join(wantCh, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantCh, "\n"))
	}
	if !strings.Contains(rec.changes[2].Reason, "recidivist") {
		t.Fatalf("reason %q", rec.changes[2].Reason)
	}
	// First hits: 12 pairs (r0 saw three sources, r1 one three times), of
	// which r7 (community) and r10 (predicted) were pre-blocked.
	if sum.FirstHits != 12 || sum.PreBlocked != 2 || sum.PreBlockedPredicted != 1 || sum.Predictions != 1 || sum.PredictionsHit != 1 {
		t.Fatalf("summary %+v", sum)
	}
}

// TestNoPredictions: with the predictor off, the same replay predicts
// nothing.
func TestNoPredictions(t *testing.T) {
	var rec recorder
	sim := New(rec.options(Options{NoPredictions: true}))
	for _, r := range []Row{row(0, "a", "192.0.2.1"), row(time.Minute, "b", "192.0.2.1")} {
		if err := sim.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	if x := sim.Explain(netip.MustParseAddr("192.0.2.1")); x.Reason != "predictions are off" {
		t.Fatalf("Explain = %+v", x)
	}
}

func TestRowsMustBeSorted(t *testing.T) {
	sim := New(Options{})
	if err := sim.Row(row(time.Hour, "a", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := sim.Row(row(0, "a", "192.0.2.1")); err == nil || !strings.Contains(err.Error(), "sorted") {
		t.Fatalf("err = %v", err)
	}
}

// TestReadRejectsEveryMalformedField: each field of a line broken in each
// way gives an error naming the line, never a row.
func TestReadRejectsEveryMalformedField(t *testing.T) {
	good := "2026-03-01T00:00:00Z,r1,192.0.2.1,ssh-bruteforce"
	f := strings.Split(good, ",")
	bad := map[int][]string{
		0: {"", "2026-03-01", "yesterday", "2026-03-01T00:00:00"},
		1: {""},
		2: {"", "192.0.2", "fe80::1%eth0", "example.com", "192.0.2.1/32"},
		3: {"", "ssh", "SSH-BRUTEFORCE", "class(1)"},
	}
	for i, vs := range bad {
		for _, v := range vs {
			g := append([]string(nil), f...)
			g[i] = v
			in := "time,reporter,source,class\n" + good + "\n" + strings.Join(g, ",") + "\n"
			n := 0
			err := Read(strings.NewReader(in), func(Row) error { n++; return nil })
			if err == nil || !strings.Contains(err.Error(), "line 3") || n != 1 {
				t.Errorf("field %d = %q: err %v after %d rows", i, v, err, n)
			}
		}
	}
	for _, in := range []string{good + ",extra", "2026-03-01T00:00:00Z,r1,192.0.2.1", strings.Repeat("x", MaxLine+1)} {
		if err := Read(strings.NewReader(in), func(Row) error { return nil }); err == nil {
			t.Errorf("%.40q: no error", in)
		}
	}
}

func TestReadGzipAndPlainAlike(t *testing.T) {
	in := "time,reporter,source,class\n2026-03-01T00:00:00Z,r1,192.0.2.1,ssh-bruteforce\r\n2026-03-01T00:01:00+01:00,r2,::ffff:192.0.2.2,portscan\n"
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, in)
	zw.Close()
	var plain, zipped []Row
	if err := Read(strings.NewReader(in), func(r Row) error { plain = append(plain, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := Read(&zb, func(r Row) error { zipped = append(zipped, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(plain) != 2 || fmt.Sprint(plain) != fmt.Sprint(zipped) {
		t.Fatalf("plain %v\nzipped %v", plain, zipped)
	}
	if plain[1].Source != netip.MustParseAddr("192.0.2.2") || plain[1].Time.Location() != time.UTC || plain[1].Class != wire.Portscan {
		t.Fatalf("row %+v", plain[1])
	}
}

func TestReadReporters(t *testing.T) {
	in := "reporter,address,enrolled\na,192.0.2.10,2026-01-01\nb,2001:db8:1:2::5,2026-01-02T03:04:05Z\n"
	m, err := ReadReporters(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m["a"].Network != netip.MustParsePrefix("192.0.2.0/24") || m["b"].Network != netip.MustParsePrefix("2001:db8:1::/48") || m["b"].Enrolled.Hour() != 3 {
		t.Fatalf("%+v", m)
	}
	for _, bad := range []string{"a,192.0.2.1", "a,x,2026-01-01", "a,192.0.2.1,soon", "a,192.0.2.1,2026-01-01\na,192.0.2.2,2026-01-01"} {
		if _, err := ReadReporters(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("time,reporter,source,class\n2026-03-01T00:00:00Z,r1,192.0.2.1,ssh-bruteforce\n"))
	f.Add([]byte("2026-03-01T00:00:00Z,r1,::1,portscan\n2026-03-01T00:00:00Z,r1,::1,portscan"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sim := New(Options{})
		_ = Read(bytes.NewReader(b), func(r Row) error {
			if !r.Source.IsValid() || !r.Class.Valid() || r.Reporter == "" {
				t.Fatalf("bad row %+v", r)
			}
			return sim.Row(r)
		})
		if _, err := sim.Finish(); err != nil {
			t.Fatal(err)
		}
	})
}

// devData is the development log, read by tests that skip without it.
const devData = "../../../../shared/data/aws-honeypot-dev/events.csv.gz"

func openDev(tb testing.TB) []Row {
	tb.Helper()
	f, err := os.Open(devData)
	if err != nil {
		tb.Skipf("development data absent: %v", err)
	}
	defer f.Close()
	var rows []Row
	if err := Read(f, func(r Row) error { rows = append(rows, r); return nil }); err != nil {
		tb.Fatal(err)
	}
	return rows
}
