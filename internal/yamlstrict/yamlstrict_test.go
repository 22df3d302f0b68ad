package yamlstrict

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decode runs a Decoder with the given options over doc, decoding the
// root mapping with keys a (a list of strings) and b (a mapping with key c),
// and returns every problem as "line: message".
func decode(t *testing.T, opt Decoder, doc string) []string {
	t.Helper()
	var got []string
	d := opt
	d.Report = func(line int, err error) { got = append(got, fmt.Sprintf("%d: %v", line, err)) }
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		d.Syntax(err)
		return got
	}
	if len(n.Content) == 0 {
		return got
	}
	d.Mapping(n.Content[0], "root", Fields{
		"a": func(v *yaml.Node) { d.Sequence(v, "root.a", func(c *yaml.Node) { d.Str(c, "root.a") }) },
		"b": func(v *yaml.Node) { d.Mapping(v, "root.b", Fields{"c": func(v *yaml.Node) { d.Str(v, "root.b.c") }}) },
	})
	return got
}

func TestProblems(t *testing.T) {
	long := strings.Repeat("k", 50)
	for _, c := range []struct {
		name string
		opt  Decoder
		doc  string
		want []string
	}{
		{"clean", Decoder{}, "a: [x, y]\nb: {c: z}\n", nil},
		{"unknown key lists the known", Decoder{}, "a: []\nzz: 1\n", []string{`2: root: unknown key "zz" (known: a, b)`}},
		{"repeated key", Decoder{}, "a: []\na: []\n", []string{`2: root: key "a" repeated`}},
		{"repeated unknown key counts as repeated", Decoder{}, "z: 1\nz: 1\n",
			[]string{`1: root: unknown key "z" (known: a, b)`, `2: root: key "z" repeated`}},
		{"KnownKeysOnly reports an unknown key each time", Decoder{KnownKeysOnly: true}, "z: 1\nz: 1\n",
			[]string{`1: root: unknown key "z" (known: a, b)`, `2: root: unknown key "z" (known: a, b)`}},
		{"ClipKeys", Decoder{ClipKeys: true}, long + ": 1\n", []string{`1: root: unknown key "` + long[:40] + `..." (known: a, b)`}},
		{"keys quoted in full without ClipKeys", Decoder{}, long + ": 1\n", []string{`1: root: unknown key "` + long + `" (known: a, b)`}},
		{"non-string key", Decoder{}, "1: x\n", []string{`1: root: keys must be plain strings`}},
		{"anchor", Decoder{}, "a: &x [y]\nb: {c: z}\n", []string{`1: root.a: anchors and aliases are not supported`}},
		{"alias with note", Decoder{AliasNote: " in rule files"}, "a: &x [y]\nb: *x\n",
			[]string{`1: root.a: anchors and aliases are not supported in rule files`, `2: root.b: anchors and aliases are not supported in rule files`}},
		{"wrong kinds", Decoder{}, "a: 3\nb: [q]\n",
			[]string{`1: root.a: expected a list, found the number 3`, `2: root.b: expected a mapping, found a list`}},
		{"string expected", Decoder{}, "a: [true, ~, 1.5, x]\n",
			[]string{`1: root.a: expected a string, found the boolean true`, `1: root.a: expected a string, found nothing`, `1: root.a: expected a string, found the number 1.5`}},
		{"root not a mapping", Decoder{}, "- a\n", []string{`1: root: expected a mapping, found a list`}},
		{"scanner error keeps its line", Decoder{ParserLines: true}, "a: [x\nb: \"y\n", []string{`2: yaml: found unexpected end of stream`}},
		{"scanner error keeps its line without ParserLines", Decoder{}, "a: x\n b: y\nc: [\n", []string{`2: yaml: mapping values are not allowed in this context`}},
		{"ParserLines moves a parser line to 1-based", Decoder{ParserLines: true}, "a: b\n- c\n", []string{`2: yaml: did not find expected key`}},
		{"parser line left 0-based without ParserLines", Decoder{}, "a: b\n- c\n", []string{`1: yaml: did not find expected key`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := decode(t, c.opt, c.doc)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
			}
		})
	}
}

func TestDescribeAndClip(t *testing.T) {
	for doc, want := range map[string]string{
		"x":                     `the string "x"`,
		"7":                     "the number 7",
		"false":                 "the boolean false",
		"~":                     "nothing",
		"[1]":                   "a list",
		"{a: 1}":                "a mapping",
		"!!binary aGk=":         `!!binary "aGk="`,
		strings.Repeat("s", 41): `the string "` + strings.Repeat("s", 40) + `..."`,
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		if got := Describe(n.Content[0]); got != want {
			t.Errorf("Describe(%q) = %q, want %q", doc, got, want)
		}
	}
	if got := Clip(strings.Repeat("s", 40)); got != strings.Repeat("s", 40) {
		t.Errorf("Clip clipped 40 bytes: %q", got)
	}
}
