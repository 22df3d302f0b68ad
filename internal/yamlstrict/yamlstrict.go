// Package yamlstrict is the strict core shared by herd's YAML decoders (the
// configuration and the rule files): it walks a yaml.Node tree and collects
// every problem with its line instead of stopping at the first, refuses
// anchors and aliases (a small file must not expand into a huge one), unknown
// and repeated keys, and values of the wrong kind. Each caller keeps its own
// schema and error type; Report turns a problem into that type.
package yamlstrict

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoder collects the problems of one YAML file.
type Decoder struct {
	// Report records one problem at a 1-based line of the file.
	Report func(line int, err error)
	// AliasNote ends the message that refuses an anchor or alias, after
	// "anchors and aliases are not supported".
	AliasNote string
	// ClipKeys clips long keys quoted in messages to 40 bytes.
	ClipKeys bool
	// KnownKeysOnly counts only known keys when looking for repeats, so an
	// unknown key is reported as unknown each time it appears.
	KnownKeysOnly bool
	// ParserLines moves the line of the YAML parser's own problems (which
	// the library reports 0-based) to the 1-based line an editor shows.
	ParserLines bool
}

// Errorf reports a problem at n's line (line 1 when n has none).
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	d.Report(line, fmt.Errorf(format, args...))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of the YAML library's parser (as opposed
// to its scanner), for which it reports a 0-based line.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// Syntax reports a syntax error of the YAML library at the line it names.
func (d *Decoder) Syntax(err error) {
	msg, line := err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
			if d.ParserLines && parserProblems[m[2]] {
				line++
			}
		}
		msg = "yaml: " + m[2]
	}
	d.Report(line, errors.New(msg))
}

// Fields maps the keys a mapping may hold to their decoders.
type Fields map[string]func(v *yaml.Node)

// SortedKeys returns the keys of fs in order.
func SortedKeys(fs Fields) []string {
	keys := make([]string, 0, len(fs))
	for k := range fs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Mapping decodes a mapping with the given keys, reporting keys that are
// not plain strings, repeated or unknown. It returns the value node of every
// known key present.
func (d *Decoder) Mapping(n *yaml.Node, what string, fs Fields) map[string]*yaml.Node {
	present := make(map[string]*yaml.Node, len(fs))
	if !d.Kind(n, yaml.MappingNode, what, "a mapping") {
		return present
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.Errorf(k, "%s: keys must be plain strings", what)
			continue
		}
		key := k.Value
		if d.ClipKeys {
			key = Clip(key)
		}
		if seen[k.Value] {
			d.Errorf(k, "%s: key %q repeated", what, key)
			continue
		}
		f, ok := fs[k.Value]
		if ok || !d.KnownKeysOnly {
			seen[k.Value] = true
		}
		if !ok {
			d.Errorf(k, "%s: unknown key %q (known: %s)", what, key, strings.Join(SortedKeys(fs), ", "))
			continue
		}
		present[k.Value] = v
		if d.Kind(v, 0, what+"."+k.Value, "") {
			f(v)
		}
	}
	return present
}

// Kind reports whether n has the wanted kind (any kind when want is 0),
// refusing anchors and aliases; desc names the wanted kind in the message.
func (d *Decoder) Kind(n *yaml.Node, want yaml.Kind, what, desc string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.Errorf(n, "%s: anchors and aliases are not supported%s", what, d.AliasNote)
		return false
	}
	if want != 0 && n.Kind != want {
		d.Errorf(n, "%s: expected %s, found %s", what, desc, Describe(n))
		return false
	}
	return true
}

// Sequence calls each for every item of the list n.
func (d *Decoder) Sequence(n *yaml.Node, what string, each func(*yaml.Node)) {
	if !d.Kind(n, yaml.SequenceNode, what, "a list") {
		return
	}
	for _, c := range n.Content {
		if d.Kind(c, 0, what, "") {
			each(c)
		}
	}
}

// Str decodes a string ("" and a problem when n is not one).
func (d *Decoder) Str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.Errorf(n, "%s: expected a string, found %s", what, Describe(n))
		return ""
	}
	return n.Value
}

// Describe names a node's type and value for messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("the string %q", Clip(n.Value))
		case "!!int", "!!float":
			return "the number " + Clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), Clip(n.Value))
	}
	return "an alias"
}

// Clip shortens s to 40 bytes for a message.
func Clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
