package cli

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/store"
)

// hostileText holds, in one string, every kind of byte a terminal acts on:
// ESC sequences (CSI, OSC setting the window title), CR, BEL, backspace,
// NUL, DEL, the C1 CSI raw and UTF-8 encoded, NEL, invalid UTF-8, a
// bidirectional override; it ends with a marker that shows the value was
// printed at all.
const hostileText = "a\x1b[2J\x1b]0;owned\a\rb\x08\x00\x7f\x9b31m\u009b1J\u0085\xff\xfe\u202eMARK"

// terminalUnsafe returns the offset of the first byte of out a terminal
// could act on (a C0 control other than newline and tab, DEL, a C1
// control raw or UTF-8 encoded, invalid UTF-8), or -1.
func terminalUnsafe(out string) int {
	for i := 0; i < len(out); {
		c := out[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\n' && c != '\t' || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(out[i:])
		if r == utf8.RuneError && n == 1 || 0x80 <= r && r < 0xa0 {
			return i
		}
		i += n
	}
	return -1
}

// TestTextOutputsEscapeControls seeds a store in which every string field
// a remote party can write (a machine's name, the scenario, origin and
// log lines of the alert it reports, its decisions' scenario and origin, a
// bouncer's name, a source's path) holds hostileText, feeds explain and
// replay log lines whose user name and program carry it, then runs every
// command that prints those fields, text and JSON, and checks that no
// output holds a byte a terminal would act on while the marker behind the
// controls is there (the field was printed, escaped).
func TestTextOutputsEscapeControls(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herd.yaml")
	dbPath := filepath.Join(dir, "herd.db")
	// The metrics address is a closed port: status reports the agent as
	// not running.
	if err := os.WriteFile(cfg, []byte("database:\n  driver: sqlite\n  dsn: "+dbPath+"\napi:\n  listen: \"\"\nmetrics:\n  listen: 127.0.0.1:9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	h := hostileText
	now := time.Now().UTC()
	if err := st.AddMachine(ctx, h, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	if err := st.AddBouncer(ctx, h, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.7")
	a := store.AlertRecord{
		Alert:   event.Alert{Scenario: h, Source: src, Scope: netip.PrefixFrom(src, 32), First: now.Add(-time.Minute), Last: now, Events: 5, Remedy: true},
		Lines:   []string{h, "plain " + h},
		Machine: h, RemoteID: h,
	}
	d := store.DecisionRecord{Decision: event.Decision{Type: event.Ban, Scope: netip.PrefixFrom(src, 32), Duration: 4 * time.Hour, Until: now.Add(4 * time.Hour), Scenario: h, Origin: h}}
	id, _, err := st.AddRemoteAlert(ctx, a, []store.DecisionRecord{d})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveOffsets(ctx, []store.Offset{{Source: filepath.Join(dir, h), Offset: 10}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	logf := filepath.Join(dir, "auth.log")
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 6 {
		lines = append(lines, stamp+" host sshd[1"+strconv.Itoa(i)+"]: Failed password for invalid user "+h+" from 192.0.2.9 port 4"+strconv.Itoa(i)+" ssh2")
	}
	lines = append(lines, stamp+" host "+h+"[7]: hello "+h)
	if err := os.WriteFile(logf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"alerts", "list", "--config", cfg},
		{"alerts", "list", "--json", "--config", cfg},
		{"alerts", "inspect", strconv.FormatInt(id, 10), "--config", cfg},
		{"alerts", "inspect", strconv.FormatInt(id, 10), "--json", "--config", cfg},
		{"decisions", "list", "--config", cfg},
		{"machines", "list", "--config", cfg},
		{"bouncers", "list", "--config", cfg},
		{"status", "--config", cfg},
		{"status", "--json", "--config", cfg},
		{"explain", logf},
		{"explain", "--json", logf},
		{"replay", "--json", "--lines", logf},
		// Replay's text lines hold only the rules' names and addresses:
		// checked for controls, no marker expected.
		{"replay", logf},
		// An error quoting its input (here a path) is escaped too.
		{"alerts", "list", "--config", filepath.Join(dir, h+".yaml")},
	} {
		code, out, errOut := run(t, "", args...)
		name := strings.Join(args[:2], " ")
		if failing := strings.HasSuffix(args[len(args)-1], h+".yaml"); failing != (code != ExitOK) {
			t.Errorf("%s: exit %d: %s", name, code, errOut)
			continue
		}
		for what, text := range map[string]string{"stdout": out, "stderr": errOut} {
			if i := terminalUnsafe(text); i >= 0 {
				t.Errorf("%s: %s byte %d (%#x) is a control: %q", name, what, i, text[i], text[max(0, i-20):min(len(text), i+20)])
			}
		}
		if !strings.Contains(out+errOut, "MARK") && !(args[0] == "replay" && args[1] == logf) {
			t.Errorf("%s: the hostile field is not in the output:\n%s%s", name, out, errOut)
		}
	}
}
