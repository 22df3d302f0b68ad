package rules_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// yamlBlocks returns the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	rest := string(data)
	for {
		i := strings.Index(rest, "```yaml\n")
		if i < 0 {
			return blocks
		}
		rest = rest[i+len("```yaml\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			t.Fatalf("%s: unterminated yaml block", path)
		}
		blocks = append(blocks, rest[:j])
		rest = rest[j+3:]
	}
}

// TestRulesDocExamples keeps docs/rules.md true: every YAML example loads
// without error, and the "adding a service" example parses its sample line,
// resists a forged address in the user name, and compiles into scenarios.
func TestRulesDocExamples(t *testing.T) {
	blocks := yamlBlocks(t, "../../docs/rules.md")
	if len(blocks) < 4 {
		t.Fatalf("found %d yaml blocks in docs/rules.md", len(blocks))
	}
	var myapp *rules.Set
	for i, b := range blocks {
		set, errs := rules.ParseFile("rules.md", []byte(b))
		for _, err := range errs {
			t.Errorf("block %d: %v", i, err)
		}
		for _, p := range set.Parsers {
			if p.Name == "myapp-login-failed" {
				myapp = set
			}
		}
	}
	if myapp == nil {
		t.Fatal("the myapp example is gone")
	}
	p, err := parse.Compile(myapp.Parsers, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenario.Compile(myapp.Scenarios, scenario.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ line, source, user string }{
		{`Nov 23 08:00:01 app1 myapp[4242]: login failed for user "bob" from 192.0.2.10 (bad password)`, "192.0.2.10", "bob"},
		{`Nov 23 08:00:01 app1 myapp[4242]: login failed for user "x" from 10.9.9.9 (" from 192.0.2.10 (bad password)`, "192.0.2.10", `x" from 10.9.9.9 (`},
	} {
		var ev event.Event
		ev.Reset()
		if res := p.Parse([]byte(c.line), "", &ev); !res.Event || ev.Source != netip.MustParseAddr(c.source) || string(ev.User) != c.user {
			t.Errorf("%s: event %v source %v user %q", c.line, res.Event, ev.Source, ev.User)
		}
	}
}
