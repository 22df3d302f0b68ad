package detect_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/source"
)

type nopSink struct{ commits int }

func (s *nopSink) Decide(event.Decision, time.Time) {}
func (s *nopSink) Commit(context.Context, *detect.Batch) error {
	s.commits++
	return nil
}

type countTally struct{ lines, left int }

func (t *countTally) Line(*detect.Result) { t.lines++ }
func (t *countTally) Left(string)         { t.left++ }

// TestPipelineStreamDoesNotAllocate: once buckets exist, a line through
// the whole pipeline (mark, detector, tally, batch) that raises no alert
// costs no allocation, and every line is counted once.
func TestPipelineStreamDoesNotAllocate(t *testing.T) {
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	lines := benchLines("sshd", 1024)
	sink := &nopSink{}
	p := detect.NewPipeline(detect.PipelineOptions{Detector: newDetector(t, time.UTC, ref), Sink: sink, Time: clock.Func(func() time.Time { return ref })})
	b := detect.Binding{Family: parse.FamilySyslog, Locked: true, Configured: true}
	tl := &countTally{}
	ctx := context.Background()
	l := source.Line{Name: "journald", Cursor: []byte("s=1")}
	for _, data := range lines {
		l.Data = data
		if err := p.Stream(ctx, &l, &b, "", false, tl); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(len(lines), func() {
		l.Data = lines[i%len(lines)]
		i++
		if err := p.Stream(ctx, &l, &b, "", false, tl); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.05 {
		t.Errorf("%.2f allocations per line", allocs)
	}
	if tl.lines != 2*len(lines)+1 {
		t.Errorf("tally counted %d lines, want %d", tl.lines, 2*len(lines)+1)
	}
	if err := p.Flush(ctx); err != nil || sink.commits == 0 {
		t.Fatalf("flush: %v, %d commits", err, sink.commits)
	}
}

// TestPipelineFileDoesNotAllocate: the same for a followed file, whose
// format is detected from its start on its first line and then locked.
func TestPipelineFileDoesNotAllocate(t *testing.T) {
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	lines := benchLines("nginx", 1024)
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	tl := &countTally{}
	p := detect.NewPipeline(detect.PipelineOptions{Detector: newDetector(t, time.UTC, ref), Sink: &nopSink{},
		Time: clock.Func(func() time.Time { return ref }), TallyFor: func(string) detect.Tally { return tl }})
	bind, err := detect.SourceBinding("", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l := source.Line{Name: path, Pos: source.Position{Path: path}}
	run := func(data []byte) {
		l.Data = data
		l.Pos.Offset += int64(len(data)) + 1
		if err := p.File(ctx, &l, bind, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, data := range lines {
		run(data)
	}
	if tl.left != 0 {
		t.Fatalf("%d lines left unparsed: the file's format was not detected", tl.left)
	}
	i := 0
	if allocs := testing.AllocsPerRun(len(lines), func() { run(lines[i%len(lines)]); i++ }); allocs > 0.05 {
		t.Errorf("%.2f allocations per line", allocs)
	}
}

type eventSink struct {
	decided []event.Decision
	alerts  []detect.Pending
}

func (s *eventSink) Decide(d event.Decision, _ time.Time) { s.decided = append(s.decided, d) }
func (s *eventSink) Commit(_ context.Context, b *detect.Batch) error {
	s.alerts = append(s.alerts, b.Alerts...)
	return nil
}

// TestPipelineEvent: a packet sensor's events go through the same
// detector and batch as lines: a source probing more than 15 ports
// overflows sensor-portscan, the decision reaches the sink at once, and the
// alert's evidence names the event. An event that raises nothing does not
// allocate.
func TestPipelineEvent(t *testing.T) {
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sink := &eventSink{}
	p := detect.NewPipeline(detect.PipelineOptions{Detector: newDetector(t, time.UTC, ref), Sink: sink, Time: clock.Func(func() time.Time { return ref })})
	ctx := context.Background()
	src := netip.MustParseAddr("192.0.2.7")
	ev := event.Event{Time: ref, Source: src, Service: "net", Kind: event.KindScan, Reason: "syn_probe", Parser: "sensor", Bytes: -1}
	alerts := 0
	for port := uint16(1); port <= 16; port++ {
		ev.Port = port
		n, err := p.Event(ctx, &ev)
		if err != nil {
			t.Fatal(err)
		}
		alerts += n
	}
	if alerts != 1 || len(sink.decided) != 1 || sink.decided[0].Scope != netip.PrefixFrom(src, 32) {
		t.Fatalf("%d alerts, decisions %+v; want one ban of %s", alerts, sink.decided, src)
	}
	if a := sink.alerts[0]; a.Alert.Scenario != "sensor-portscan" || len(a.Lines) != 1 || a.Lines[0] != "sensor: scan/syn_probe 192.0.2.7 port 16" {
		t.Errorf("alert %s, evidence %q", a.Alert.Scenario, a.Lines)
	}
	other := event.Event{Time: ref, Source: netip.MustParseAddr("192.0.2.8"), Service: "net", Kind: event.KindScan, Reason: "syn_probe", Parser: "sensor", Bytes: -1, Port: 22}
	if _, err := p.Event(ctx, &other); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if n, err := p.Event(ctx, &other); n != 0 || err != nil {
			t.Fatal(n, err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per event", n)
	}
}
