package journald

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var cursorCases = []struct {
	line, want string
	ok         bool
}{
	{`{"__CURSOR":"s=1;i=2","MESSAGE":"x"}`, "s=1;i=2", true},
	{` { "MESSAGE" : "a \"__CURSOR\":\"no\"" , "_N":[1,{"__CURSOR":"nested"}], "_T":true,"_X":null,"_F":-1.5e3, "__CURSOR" : "s=a;i=b" }`, "s=a;i=b", true},
	{`{"__CURSOR":"s=\u0041\/x\\y"}`, `s=A/x\y`, true},
	{`{"__CURSOR":"s=\ud83d\ude00"}`, "s=😀", true},
	{`{"__CURSOR":"s=1;i=2","MESSAGE":"cut after the cur`, "s=1;i=2", true},
	{`{"MESSAGE":"x","__CURS`, "", false},
	{`{"MESSAGE":"x"}`, "", false},
	{`{"__CURSOR":""}`, "", false},
	{`{"__CURSOR":"a\nb"}`, "", false},
	{`{"__CURSOR":"a\u0000b"}`, "", false},
	{`{"__CURSOR":"a\qb"}`, "", false},
	{`{"__CURSOR":12}`, "", false},
	{`{"__CURSOR":"unterminated`, "", false},
	{`["__CURSOR","x"]`, "", false},
	{`not json`, "", false},
	{``, "", false},
	{`{"a":[[[[`, "", false},
	{`{"a":{"b":"}"},"__CURSOR":"ok"}`, "ok", true},
}

func TestCursor(t *testing.T) {
	for _, tc := range cursorCases {
		got, ok := Cursor([]byte("keep:"), []byte(tc.line))
		if ok != tc.ok || (ok && string(got) != "keep:"+tc.want) || (!ok && string(got) != "keep:") {
			t.Errorf("Cursor(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCursorDoesNotAllocate(t *testing.T) {
	line := []byte(`{"__REALTIME_TIMESTAMP":"1700000000123456","_N":[1,{"a":"b"}],"__CURSOR":"s=739ad463348b4ceca5a9e69c95a3c93f;i=4ece7;b=6c7c;m=13c2a9a6d;t=5f1b0e2c3a1b2;x=8d4b","MESSAGE":"Failed password"}`)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := Cursor(dst[:0], line); !ok {
			t.Fatal("no cursor")
		}
	}); n != 0 {
		t.Errorf("Cursor allocates %v times", n)
	}
}

func FuzzCursor(f *testing.F) {
	for _, tc := range cursorCases {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, ok := Cursor(nil, line)
		if !ok {
			if len(got) != 0 {
				t.Fatalf("not ok but appended %q", got)
			}
			return
		}
		if len(got) == 0 || !validCursor(got) {
			t.Fatalf("invalid cursor %q accepted", got)
		}
		// On valid JSON with one __CURSOR key, agree with encoding/json.
		if !json.Valid(line) || !utf8.Valid(line) || bytes.Count(line, []byte("CURSOR")) != 1 {
			return
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			return
		}
		if s, _ := m["__CURSOR"].(string); s != string(got) {
			t.Fatalf("Cursor = %q, encoding/json = %q", got, s)
		}
	})
}

// fake returns a Command running script under sh; the follower's arguments
// are "$@", and each start's arguments are appended to the file args.
func fake(t *testing.T, script string) (cmd []string, args func() []string) {
	t.Helper()
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	cmd = []string{"sh", "-c", `echo "$@" >> "$ARGS_FILE"; ` + script, "fake-journalctl"}
	t.Setenv("ARGS_FILE", argsFile)
	return cmd, func() []string {
		b, _ := os.ReadFile(argsFile)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

type collector struct {
	mu      sync.Mutex
	data    []string
	cursors []string
}

func (c *collector) handle(e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = append(c.data, string(e.Data))
	c.cursors = append(c.cursors, string(e.Cursor))
	return nil
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.data)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, f *Follower, h func(Entry) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestRunRestartsAfterExit: the command prints entries and exits; the
// follower starts it again after the last cursor it handed out.
func TestRunRestartsAfterExit(t *testing.T) {
	cmd, args := fake(t, `
case "$*" in
*--after-cursor*c3*) echo '{"__CURSOR":"c4","MESSAGE":"four"}'; exec sleep 60;;
*) printf '%s\n' '{"__CURSOR":"c1","MESSAGE":"one"}' '' '{"MESSAGE":"no cursor"}' '{"__CURSOR":"c3","MESSAGE":"three"}';;
esac`)
	f, err := New(Options{Command: cmd, Units: []string{"ssh.service", "sshd.service"}, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := run(t, f, c.handle)
	waitFor(t, "4 entries", func() bool { return c.len() == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wantCur := []string{"c1", "", "c3", "c4"}
	if strings.Join(c.cursors, ",") != strings.Join(wantCur, ",") {
		t.Errorf("cursors = %q, want %q", c.cursors, wantCur)
	}
	if c.data[3] != `{"__CURSOR":"c4","MESSAGE":"four"}` {
		t.Errorf("data = %q", c.data)
	}
	a := args()
	want := []string{
		"-o json --follow -n 0 --unit ssh.service --unit sshd.service",
		"-o json --follow --no-tail --after-cursor c3 --unit ssh.service --unit sshd.service",
	}
	if len(a) != 2 || a[0] != want[0] || a[1] != want[1] {
		t.Errorf("starts = %q, want %q", a, want)
	}
	if s := f.Stats(); s.Lines != 4 || s.NoCursor != 1 || s.Starts != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// TestRunResumesAfterSavedCursor: a saved cursor is passed to journalctl.
func TestRunResumesAfterSavedCursor(t *testing.T) {
	cmd, args := fake(t, `
[ "$5" = --after-cursor ] && [ "$6" = "s=1;i=9" ] && echo '{"__CURSOR":"s=1;i=a","MESSAGE":"next"}'
exec sleep 60`)
	f, err := New(Options{Command: cmd, Cursor: "s=1;i=9"})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := run(t, f, c.handle)
	waitFor(t, "the entry after the cursor", func() bool { return c.len() == 1 })
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if c.cursors[0] != "s=1;i=a" {
		t.Errorf("cursors = %q", c.cursors)
	}
	if a := args(); len(a) != 1 || a[0] != "-o json --follow --no-tail --after-cursor s=1;i=9" {
		t.Errorf("args = %q", a)
	}
}

// TestRunCutsLongLines: an overlong line is cut and counted, and its cursor,
// written first as journalctl does, is still found; the next line is whole.
func TestRunCutsLongLines(t *testing.T) {
	long := `{"__CURSOR":"c1","MESSAGE":"` + strings.Repeat("A", 5000) + `"}`
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	if err := os.WriteFile(p, []byte(long+"\n"+`{"__CURSOR":"c2","MESSAGE":"x"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Command: []string{"sh", "-c", `cat "$0"; exec sleep 60`, p}, MaxLine: 100})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := run(t, f, c.handle)
	waitFor(t, "2 entries", func() bool { return c.len() == 2 })
	stop()
	if len(c.data[0]) != 100 || c.cursors[0] != "c1" || c.cursors[1] != "c2" {
		t.Errorf("data = %q, cursors = %q", c.data, c.cursors)
	}
	if s := f.Stats(); s.Truncated != 1 || s.Lines != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// TestRunHandlerError: the handler's error stops Run and is returned; the
// process is stopped.
func TestRunHandlerError(t *testing.T) {
	boom := errors.New("boom")
	f, err := New(Options{Command: []string{"sh", "-c", `echo '{"__CURSOR":"c1"}'; exec sleep 60`}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background(), func(Entry) error { return boom }) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want boom", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestRunRefusedCursor: when journalctl refuses the saved cursor, the next
// start follows from the end instead of failing forever.
func TestRunRefusedCursor(t *testing.T) {
	cmd, args := fake(t, `
case "$*" in
*--after-cursor*) echo "Failed to seek to cursor: Invalid argument" >&2; exit 1;;
*) echo '{"__CURSOR":"c1"}'; exec sleep 60;;
esac`)
	f, err := New(Options{Command: cmd, Cursor: "bogus", Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := run(t, f, c.handle)
	waitFor(t, "an entry", func() bool { return c.len() == 1 })
	stop()
	if a := args(); len(a) != 2 || !strings.Contains(a[1], "-n 0") {
		t.Errorf("args = %q", a)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{Command: []string{""}}, {Units: []string{""}}, {Cursor: "a\nb"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestRealJournalctl resumes after the second-to-last entry of this
// machine's journal and expects the last one, when journalctl works here.
func TestRealJournalctl(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("no journalctl")
	}
	out, err := exec.Command("journalctl", "-o", "json", "-n", "2", "--no-pager").Output()
	if err != nil {
		t.Skipf("journal not readable: %v", err)
	}
	ls := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(ls) < 2 {
		t.Skip("journal has fewer than 2 entries readable here")
	}
	first, ok1 := Cursor(nil, []byte(ls[len(ls)-2]))
	last, ok2 := Cursor(nil, []byte(ls[len(ls)-1]))
	if !ok1 || !ok2 {
		t.Fatalf("no cursor in journalctl output: %q", ls)
	}
	f, err := New(Options{Cursor: string(first)})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	stop := run(t, f, c.handle)
	waitFor(t, "the last entry", func() bool { return c.len() >= 1 })
	stop()
	if c.cursors[0] != string(last) {
		t.Errorf("first entry after %q has cursor %q, want %q", first, c.cursors[0], last)
	}
}
