package parse

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

func TestDefaultsCompile(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(set.Parsers, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	line := []byte("Nov 23 08:00:01 web sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2")
	if res := p.Parse(line, "", &ev); !res.Event || ev.Source != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("default rules: %+v %+v", res, ev)
	}
}

// The fail2ban corpus (third-party data, read from ../shared when present)
// carries, per line, whether fail2ban's filter must match it and which host
// it must blame. The tests below run it through a rule set and look at every
// event: a parser may miss lines, it must never accuse the wrong host.

// ambiguousLines are corpus lines whose expectation the template language
// refuses by design: a greedy %{user} takes the longest extent, so text
// after the address that itself looks like "from ADDR port N ssh2" wins.
// sshd never writes such a tail (after "ssh2: " come a key type and a
// fingerprint), while user names with spaces are real: greedy protects the
// real case.
var ambiguousLines = map[string]bool{
	"Nov 11 08:04:52 redbamboo sshd[2737]: Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": true,
	// The same line as a journal message body (host, program[pid], no time).
	"srv sshd[2737]: Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": true,
}

// TestFail2banCorpusBlame holds this package's test rules to zero wrong
// blames on the corpus.
func TestFail2banCorpusBlame(t *testing.T) {
	caught, expected, wrong := runCorpus(t, testRules())
	t.Logf("test rules: %d of %d expected failures caught", caught, expected)
	for _, w := range wrong {
		t.Error(w)
	}
}

// TestFail2banCorpusDefaults reports how the embedded default rules fare;
// coverage and wrong blames are logged (the rule files own them), so run it
// with -v.
func TestFail2banCorpusDefaults(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	caught, expected, wrong := runCorpus(t, set.Parsers)
	t.Logf("default rules: %d of %d expected failures caught, %d wrong blames", caught, expected, len(wrong))
	for _, w := range wrong {
		t.Log("WRONG BLAME: " + w)
	}
}

func runCorpus(t *testing.T, specs []rules.ParserSpec) (caught, expected int, wrong []string) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "data", "fail2ban", "expected-lines.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("fail2ban corpus not available (%v); skipping", err)
	}
	defer f.Close()
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skip("no time zone data")
	}
	p, err := Compile(specs, Options{Location: zurich, Reference: time.Unix(1124013600, 0)})
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		Match bool   `json:"match"`
		Host  string `json:"host"`
	}
	type record struct {
		File   string  `json:"file"`
		Line   string  `json:"line"`
		Checks []check `json:"checks"`
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev event.Event
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		hint := ""
		if r.File == "sshd-journal" {
			hint = "sshd"
		}
		res := p.Parse([]byte(r.Line), hint, &ev)
		wantMatch, host := false, ""
		for _, c := range r.Checks {
			if c.Match {
				wantMatch, host = true, c.Host
			}
		}
		if wantMatch {
			expected++
		}
		if !res.Event || !wantMatch || ev.Kind == event.KindAuthSuccess {
			continue
		}
		caught++
		want, err := netip.ParseAddr(host)
		if err == nil && ev.Source != want.Unmap() && !ambiguousLines[r.Line] {
			wrong = append(wrong, fmt.Sprintf("%s: %q blames %v, want %v (rule %s)", r.File, r.Line, ev.Source, host, ev.Parser))
		}
	}
	return caught, expected, wrong
}

// BenchmarkParseDefaults runs the embedded default rules.
func BenchmarkParseDefaults(b *testing.B) {
	set, err := rules.Defaults()
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(set.Parsers, Options{Location: time.UTC, Reference: ref})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range allocLines {
		line := []byte(l.line)
		b.Run(l.name, func(b *testing.B) {
			var ev event.Event
			b.ReportAllocs()
			n, start := 0, cpuTime()
			for b.Loop() {
				p.Parse(line, "", &ev)
				n++
			}
			if cpu := cpuTime() - start; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
			}
		})
	}
}
