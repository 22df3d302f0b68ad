package lapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id, data string
}

// readEvents reads events from the stream into a channel until it ends.
func readEvents(t *testing.T, ctx context.Context, url string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("push stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sseEvent, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("push stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return sseEvent{}
}

type pushData struct {
	Cursor  int64          `json:"cursor"`
	New     []wireDecision `json:"new"`
	Deleted []wireDecision `json:"deleted"`
}

func TestPushStream(t *testing.T) {
	f := newFixture(t, Options{Refresh: time.Hour}) // only Notify moves it
	var first []int64
	for i := range 1500 { // two snapshot events
		first = append(first, f.ban("10.0."+itoa(int64(i/250))+"."+itoa(int64(i%250)), time.Hour, "herd/ssh-bruteforce", "herd"))
	}
	base := f.serve()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := readEvents(t, ctx, base+"/v1/herd/stream")

	var snap []int64
	ev := next(t, ch, 5*time.Second)
	for ev.name == "snapshot" {
		snap = append(snap, ids(decodeString[pushData](t, ev.data).New)...)
		ev = next(t, ch, 5*time.Second)
	}
	if ev.name != "ready" || !slices.Equal(snap, first) {
		t.Fatalf("snapshot of %d decisions then %q, want %d then ready", len(snap), ev.name, len(first))
	}
	if d := decodeString[pushData](t, ev.data); ev.id != itoa(d.Cursor) || d.Cursor != first[len(first)-1] {
		t.Errorf("ready: id %s data %s, want cursor %d", ev.id, ev.data, first[len(first)-1])
	}

	// Each change arrives within 100 ms of Notify.
	for i := range 5 {
		id := f.ban("192.0.2."+itoa(int64(i+1)), time.Hour, "herd/ssh-bruteforce", "herd")
		start := time.Now()
		f.srv.Notify()
		ev := next(t, ch, time.Second)
		took := time.Since(start)
		if took > 100*time.Millisecond {
			t.Errorf("change %d arrived %v after Notify, want within 100ms", i, took)
		}
		d := decodeString[pushData](t, ev.data)
		if ev.name != "delta" || !slices.Equal(ids(d.New), []int64{id}) || len(d.Deleted) != 0 {
			t.Errorf("change %d: %s %s, want a delta adding %d", i, ev.name, ev.data, id)
		}
		t.Logf("change %d: %v from Notify to event", i, took)
	}
	if _, err := f.st.DeleteDecisions(f.ctx, storeFilterIDs(first[0])); err != nil {
		t.Fatal(err)
	}
	f.srv.Notify()
	ev = next(t, ch, time.Second)
	if d := decodeString[pushData](t, ev.data); !slices.Equal(ids(d.Deleted), []int64{first[0]}) || len(d.New) != 0 {
		t.Errorf("deletion: %s, want deleted [%d]", ev.data, first[0])
	}
}

func TestPushOneReadPerChange(t *testing.T) {
	f := newFixture(t, Options{Refresh: time.Hour})
	counting := &countingStore{Store: f.st}
	srv, err := New(Options{Store: counting, Time: clock.Func(f.clock.Now), Refresh: time.Hour, Logger: f.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	base := f.serve()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var chans []<-chan sseEvent
	for range 5 {
		ch := readEvents(t, ctx, base+"/v1/herd/stream")
		if ev := next(t, ch, 5*time.Second); ev.name != "ready" {
			t.Fatalf("first event %q, want ready", ev.name)
		}
		chans = append(chans, ch)
	}
	before := counting.since.Load()
	f.ban("192.0.2.1", time.Hour, "herd/ssh-bruteforce", "herd")
	f.srv.Notify()
	for _, ch := range chans {
		if ev := next(t, ch, time.Second); ev.name != "delta" {
			t.Errorf("event %q, want delta", ev.name)
		}
	}
	if n := counting.since.Load() - before; n != 1 {
		t.Errorf("%d DecisionsSince calls for one change to 5 subscribers, want 1", n)
	}
}

func decodeString[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %.200s: %v", s, err)
	}
	return v
}
