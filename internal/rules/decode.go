package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herd-ips/herd/internal/event"
)

// Error is one problem in a rule file, with the position of the YAML node
// that caused it. Its text is "file:line: message".
type Error struct {
	Pos Pos
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %v", e.Pos.File, e.Pos.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Defaults filled in by the loader when a rule leaves a key out. Compilers
// may rely on every spec the loader returns carrying explicit values.
const (
	DefaultScenarioType    = "leaky"
	DefaultGroupBy         = "source"
	DefaultIPv6Prefix      = 64
	DefaultProfileType     = "ban"
	DefaultProfileDuration = 4 * time.Hour
	DefaultMaxDuration     = 7 * 24 * time.Hour
	DefaultProfileScope    = "ip"
)

// Values the loader accepts for enumerated keys.
var (
	formats        = []string{"clf", "json-access"}
	sessionKeys    = []string{"pid"}
	scenarioTypes  = []string{"leaky", "trigger", "distinct"}
	distinctFields = []string{"user", "path", "target", "port", "user_agent"}
	groupBys       = []string{"source", "source+host"}
	profileTypes   = []string{"ban", "captcha"}
	profileScopes  = []string{"ip", "range"}
	setFields      = []string{"status", "port", "bytes", "user", "method", "path", "host", "user_agent"}
)

// decoder walks the yaml.Node tree of one file, collecting every problem it
// finds instead of stopping at the first.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{Pos: Pos{File: d.file, Line: line}, Err: fmt.Errorf(format, args...)})
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line} }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of the YAML library's parser (as
// opposed to its scanner). For these it reports a 0-based line; the loader
// adds one so that every error names the 1-based line an editor shows.
var yamlParserProblems = map[string]bool{
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

// ParseFile decodes one rule file. name is used in positions and errors.
// It returns every problem found, each prefixed with "name:line: ", and the
// rules that decoded cleanly (which are incomplete when errors is non-empty).
func ParseFile(name string, data []byte) (*Set, []error) {
	d := &decoder{file: name}
	set := &Set{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			d.syntax(err)
			break
		}
		d.document(&doc, set)
	}
	return set, d.errs
}

// syntax records a YAML syntax error, keeping the line the YAML library
// reports.
func (d *decoder) syntax(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
			if yamlParserProblems[m[2]] {
				line++
			}
		}
		msg = "yaml: " + m[2]
	} else if rest, ok := strings.CutPrefix(msg, "yaml: "); ok && yamlParserProblems[rest] {
		line = 1
	}
	d.errs = append(d.errs, &Error{Pos: Pos{File: d.file, Line: line}, Err: errors.New(msg)})
}

func (d *decoder) document(doc *yaml.Node, set *Set) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return // an empty document, e.g. a file of comments
	}
	d.mapping(root, "rule file", fields{
		"parsers": func(v *yaml.Node) {
			d.sequence(v, "parsers", func(n *yaml.Node) { set.Parsers = append(set.Parsers, d.parser(n)) })
		},
		"scenarios": func(v *yaml.Node) {
			d.sequence(v, "scenarios", func(n *yaml.Node) { set.Scenarios = append(set.Scenarios, d.scenario(n)) })
		},
		"profiles": func(v *yaml.Node) {
			d.sequence(v, "profiles", func(n *yaml.Node) { set.Profiles = append(set.Profiles, d.profile(n)) })
		},
	})
	uniqueNames(d, set.Parsers, func(p *ParserSpec) (string, Pos) { return p.Name, p.Pos }, "parser")
	uniqueNames(d, set.Scenarios, func(s *ScenarioSpec) (string, Pos) { return s.Name, s.Pos }, "scenario")
	uniqueNames(d, set.Profiles, func(p *ProfileSpec) (string, Pos) { return p.Name, p.Pos }, "profile")
}

// uniqueNames reports every rule whose name an earlier rule of the same kind
// in the file already uses.
func uniqueNames[T any](d *decoder, list []T, key func(*T) (string, Pos), what string) {
	seen := make(map[string]int, len(list))
	for i := range list {
		name, pos := key(&list[i])
		if name == "" {
			continue
		}
		if line, ok := seen[name]; ok {
			d.errs = append(d.errs, &Error{Pos: pos, Err: fmt.Errorf("%s %q already defined at line %d", what, name, line)})
			continue
		}
		seen[name] = pos.Line
	}
}

// fields maps the keys a mapping may hold to their decoders.
type fields map[string]func(v *yaml.Node)

// mapping decodes a YAML mapping with the given keys, reporting unknown and
// repeated keys. It returns the value node of every key present.
func (d *decoder) mapping(n *yaml.Node, what string, fs fields) map[string]*yaml.Node {
	present := make(map[string]*yaml.Node, len(fs))
	if !d.kind(n, yaml.MappingNode, what, "a mapping") {
		return present
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.errorf(k, "%s: keys must be plain strings", what)
			continue
		}
		if _, ok := present[k.Value]; ok {
			d.errorf(k, "%s: key %q repeated", what, k.Value)
			continue
		}
		f, ok := fs[k.Value]
		if !ok {
			d.errorf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(sortedKeys(fs), ", "))
			continue
		}
		present[k.Value] = v
		if d.kind(v, 0, what+"."+k.Value, "") {
			f(v)
		}
	}
	return present
}

func sortedKeys(fs fields) []string {
	keys := make([]string, 0, len(fs))
	for k := range fs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// kind reports whether n has the wanted kind (any kind when want is 0),
// rejecting aliases, which rule files do not need and which would let a small
// file expand into a huge one.
func (d *decoder) kind(n *yaml.Node, want yaml.Kind, what, desc string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.errorf(n, "%s: anchors and aliases are not supported in rule files", what)
		return false
	}
	if want != 0 && n.Kind != want {
		d.errorf(n, "%s: expected %s, found %s", what, desc, describe(n))
		return false
	}
	return true
}

// describe names a node's type for error messages.
func describe(n *yaml.Node) string {
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
			return fmt.Sprintf("the string %q", clip(n.Value))
		case "!!int":
			return "the number " + clip(n.Value)
		case "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
	}
	return "an alias"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (d *decoder) sequence(n *yaml.Node, what string, each func(*yaml.Node)) {
	if !d.kind(n, yaml.SequenceNode, what, "a list") {
		return
	}
	for _, c := range n.Content {
		if d.kind(c, 0, what, "") {
			each(c)
		}
	}
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errorf(n, "%s: expected a string, found %s", what, describe(n))
		return ""
	}
	return n.Value
}

// name decodes a required, non-empty identifier-like string.
func (d *decoder) name(n *yaml.Node, what string) string {
	s := d.str(n, what)
	if s == "" && n.ShortTag() == "!!str" {
		d.errorf(n, "%s: must not be empty", what)
	}
	return s
}

func (d *decoder) strs(n *yaml.Node, what string) []string {
	var out []string
	if !d.kind(n, yaml.SequenceNode, what, "a list of strings") {
		return nil
	}
	for _, c := range n.Content {
		if !d.kind(c, 0, what, "") {
			continue
		}
		s := d.str(c, what)
		if s == "" && c.ShortTag() == "!!str" {
			d.errorf(c, "%s: empty string", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

// oneOf decodes a string that must be one of allowed.
func (d *decoder) oneOf(n *yaml.Node, what string, allowed []string) string {
	s := d.str(n, what)
	if n.ShortTag() == "!!str" && !slices.Contains(allowed, s) {
		d.errorf(n, "%s: %q is not one of %s", what, clip(s), strings.Join(allowed, ", "))
		return ""
	}
	return s
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, "%s: expected true or false, found %s", what, describe(n))
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n, "%s: %v", what, err)
	}
	return b
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "%s: expected an integer, found %s", what, describe(n))
		return 0
	}
	var i int
	if err := n.Decode(&i); err != nil {
		d.errorf(n, "%s: %v", what, err)
		return 0
	}
	if i < lo || i > hi {
		d.errorf(n, "%s: %d is out of range %d..%d", what, i, lo, hi)
		return 0
	}
	return i
}

func (d *decoder) ints(n *yaml.Node, what string, lo, hi int) []int {
	var out []int
	if !d.kind(n, yaml.SequenceNode, what, "a list of integers") {
		return nil
	}
	for _, c := range n.Content {
		if d.kind(c, 0, what, "") {
			if i := d.integer(c, what, lo, hi); i != 0 {
				out = append(out, i)
			}
		}
	}
	return out
}

// duration decodes a positive Go duration ("10s", "4h").
func (d *decoder) duration(n *yaml.Node, what string) time.Duration {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errorf(n, "%s: expected a duration such as \"10s\" or \"4h\", found %s", what, describe(n))
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, "%s: invalid duration %q (write e.g. \"10s\", \"5m\", \"4h\")", what, clip(n.Value))
		return 0
	}
	if v <= 0 {
		d.errorf(n, "%s: duration must be positive, found %s", what, n.Value)
		return 0
	}
	return v
}

func (d *decoder) regexp(n *yaml.Node, what string) string {
	s := d.str(n, what)
	if s == "" {
		return s
	}
	if _, err := regexp.Compile(s); err != nil {
		d.errorf(n, "%s: %v", what, err)
	}
	return s
}

func (d *decoder) parser(n *yaml.Node) ParserSpec {
	p := ParserSpec{Pos: d.pos(n)}
	var has map[string]*yaml.Node
	has = d.mapping(n, "parser", fields{
		"name":     func(v *yaml.Node) { p.Name = d.name(v, "parser name") },
		"programs": func(v *yaml.Node) { p.Programs = d.programs(v) },
		"raw":      func(v *yaml.Node) { p.Raw = d.boolean(v, "raw") },
		"service":  func(v *yaml.Node) { p.Service = d.name(v, "service") },
		"kind": func(v *yaml.Node) {
			p.Kind = d.str(v, "kind")
			if v.ShortTag() == "!!str" {
				if _, ok := event.ParseKind(p.Kind); !ok {
					d.errorf(v, "kind: unknown event kind %q (known: %s)", clip(p.Kind), strings.Join(kindNames(), ", "))
				}
			}
		},
		"reason":    func(v *yaml.Node) { p.Reason = d.str(v, "reason") },
		"prefilter": func(v *yaml.Node) { p.Prefilter = d.strs(v, "prefilter") },
		"patterns":  func(v *yaml.Node) { p.Patterns = d.strs(v, "patterns") },
		"regexps": func(v *yaml.Node) {
			if d.kind(v, yaml.SequenceNode, "regexps", "a list of strings") {
				for _, c := range v.Content {
					if d.kind(c, 0, "regexps", "") {
						if s := d.regexp(c, "regexps"); s != "" {
							p.Regexps = append(p.Regexps, s)
						}
					}
				}
			}
		},
		"format":  func(v *yaml.Node) { p.Format = d.oneOf(v, "format", formats) },
		"session": func(v *yaml.Node) { p.Session = d.oneOf(v, "session", sessionKeys) },
		"family":  func(v *yaml.Node) { p.Family = d.oneOf(v, "family", RawFamilies) },
		"set":     func(v *yaml.Node) { p.Set = d.setFields(v) },
	})
	if n.Kind != yaml.MappingNode {
		return p
	}
	if _, ok := has["name"]; !ok {
		d.errorf(n, "parser: name is required")
	}
	what := "parser"
	if p.Name != "" {
		what = fmt.Sprintf("parser %q", p.Name)
	}
	_, hasPrograms := has["programs"]
	switch {
	case hasPrograms && p.Raw:
		d.errorf(has["raw"], "%s: programs and raw: true exclude each other", what)
	case !hasPrograms && !p.Raw && (has["raw"] == nil || has["raw"].ShortTag() == "!!bool"):
		d.errorf(n, "%s: needs programs (syslog program names) or raw: true", what)
	case hasPrograms && has["programs"].Kind == yaml.SequenceNode && len(has["programs"].Content) == 0:
		d.errorf(has["programs"], "%s: programs is empty", what)
	}
	if f, ok := has["family"]; ok && !p.Raw {
		d.errorf(f, "%s: family applies to raw parsers only (raw: true)", what)
	}
	if _, ok := has["service"]; !ok {
		d.errorf(n, "%s: service is required", what)
	}
	if _, ok := has["kind"]; !ok {
		d.errorf(n, "%s: kind is required", what)
	}
	_, hasPat := has["patterns"]
	_, hasRe := has["regexps"]
	_, hasFmt := has["format"]
	switch {
	case !hasPat && !hasRe && !hasFmt:
		d.errorf(n, "%s: needs patterns, regexps or format", what)
	case hasFmt && (hasPat || hasRe):
		d.errorf(has["format"], "%s: format replaces patterns and regexps; use one or the other", what)
	case hasPat && !hasRe && has["patterns"].Kind == yaml.SequenceNode && len(has["patterns"].Content) == 0,
		hasRe && !hasPat && has["regexps"].Kind == yaml.SequenceNode && len(has["regexps"].Content) == 0:
		d.errorf(n, "%s: no pattern given", what)
	}
	return p
}

// programs decodes syslog program names or globs.
func (d *decoder) programs(n *yaml.Node) []string {
	ps := d.strs(n, "programs")
	if n.Kind != yaml.SequenceNode {
		return ps
	}
	for i, c := range n.Content {
		if c.Kind == yaml.ScalarNode && c.ShortTag() == "!!str" {
			if _, err := path.Match(c.Value, ""); err != nil {
				d.errorf(item(n, i), "programs: bad glob %q", clip(c.Value))
			}
		}
	}
	return ps
}

// setFields decodes the constant field values of a parser.
func (d *decoder) setFields(n *yaml.Node) map[string]string {
	if !d.kind(n, yaml.MappingNode, "set", "a mapping of field: value") {
		return nil
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.kind(k, 0, "set", "") || !d.kind(v, 0, "set", "") {
			continue
		}
		key := d.str(k, "set key")
		if k.ShortTag() != "!!str" {
			continue
		}
		if !slices.Contains(setFields, key) {
			d.errorf(k, "set: unknown field %q (known: %s)", clip(key), strings.Join(setFields, ", "))
			continue
		}
		if _, dup := out[key]; dup {
			d.errorf(k, "set: key %q repeated", key)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
			d.errorf(v, "set.%s: expected a value, found %s", key, describe(v))
			continue
		}
		val := v.Value
		bad := false
		switch key {
		case "status":
			s, err := strconv.Atoi(val)
			bad = err != nil || s < 100 || s > 599
		case "port":
			_, err := strconv.ParseUint(val, 10, 16)
			bad = err != nil
		case "bytes":
			_, err := strconv.ParseInt(val, 10, 64)
			bad = err != nil && val != "-"
		}
		if bad {
			d.errorf(v, "set.%s: invalid value %q", key, clip(val))
			continue
		}
		out[key] = val
	}
	return out
}

func kindNames() []string {
	var out []string
	for k := event.Kind(0); ; k++ {
		s := k.String()
		if s == "invalid" {
			return out
		}
		out = append(out, s)
	}
}

func (d *decoder) scenario(n *yaml.Node) ScenarioSpec {
	s := ScenarioSpec{Pos: d.pos(n)}
	has := d.mapping(n, "scenario", fields{
		"name":        func(v *yaml.Node) { s.Name = d.name(v, "scenario name") },
		"description": func(v *yaml.Node) { s.Description = d.str(v, "description") },
		"type":        func(v *yaml.Node) { s.Type = d.oneOf(v, "type", scenarioTypes) },
		"filter":      func(v *yaml.Node) { s.Filter = d.filter(v) },
		"capacity":    func(v *yaml.Node) { s.Capacity = d.integer(v, "capacity", 1, 1<<30) },
		"leak":        func(v *yaml.Node) { s.Leak = d.duration(v, "leak") },
		"distinct":    func(v *yaml.Node) { s.Distinct = d.oneOf(v, "distinct", distinctFields) },
		"window":      func(v *yaml.Node) { s.Window = d.duration(v, "window") },
		"group_by":    func(v *yaml.Node) { s.GroupBy = d.oneOf(v, "group_by", groupBys) },
		"ipv6_prefix": func(v *yaml.Node) { s.IPv6Prefix = d.integer(v, "ipv6_prefix", 1, 128) },
		"blackhole":   func(v *yaml.Node) { s.Blackhole = d.duration(v, "blackhole") },
		"remedy": func(v *yaml.Node) {
			b := d.boolean(v, "remedy")
			s.Remedy = &b
		},
		"simulated": func(v *yaml.Node) { s.Simulated = d.boolean(v, "simulated") },
	})
	if n.Kind != yaml.MappingNode {
		return s
	}
	if _, ok := has["name"]; !ok {
		d.errorf(n, "scenario: name is required")
	}
	what := "scenario"
	if s.Name != "" {
		what = fmt.Sprintf("scenario %q", s.Name)
	}
	typ := s.Type
	if _, ok := has["type"]; !ok {
		typ = DefaultScenarioType
		s.Type = typ
	}
	at := func(key string) *yaml.Node {
		if v, ok := has[key]; ok {
			return v
		}
		return n
	}
	_, hasCap := has["capacity"]
	_, hasLeak := has["leak"]
	_, hasDistinct := has["distinct"]
	_, hasWindow := has["window"]
	switch typ {
	case "leaky":
		if !hasCap {
			d.errorf(n, "%s: a leaky scenario needs capacity", what)
		}
		if !hasLeak {
			d.errorf(n, "%s: a leaky scenario needs leak (one event leaks out every leak)", what)
		}
		if hasDistinct {
			d.errorf(at("distinct"), "%s: distinct applies to type: distinct only", what)
		}
	case "distinct":
		if !hasCap {
			d.errorf(n, "%s: a distinct scenario needs capacity (distinct values held before overflow)", what)
		}
		if !hasDistinct {
			d.errorf(n, "%s: a distinct scenario needs distinct (%s)", what, strings.Join(distinctFields, ", "))
		}
		if !hasWindow && !hasLeak {
			d.errorf(n, "%s: a distinct scenario needs window or leak", what)
		}
	case "trigger":
		for _, k := range []string{"capacity", "leak", "distinct", "window"} {
			if _, ok := has[k]; ok {
				d.errorf(has[k], "%s: %s has no meaning for a trigger scenario", what, k)
			}
		}
	}
	if f, ok := has["filter"]; !ok {
		d.errorf(n, "%s: filter is required (a scenario without one would count every event)", what)
	} else if f.Kind == yaml.MappingNode && len(f.Content) == 0 {
		d.errorf(f, "%s: filter is empty (a scenario without one would count every event)", what)
	}
	if s.GroupBy == "" {
		s.GroupBy = DefaultGroupBy
	}
	if s.IPv6Prefix == 0 {
		s.IPv6Prefix = DefaultIPv6Prefix
	}
	if s.Remedy == nil {
		t := true
		s.Remedy = &t
	}
	return s
}

func (d *decoder) filter(n *yaml.Node) FilterSpec {
	var f FilterSpec
	d.mapping(n, "filter", fields{
		"kinds": func(v *yaml.Node) {
			f.Kinds = d.strs(v, "filter.kinds")
			for i, k := range f.Kinds {
				if _, ok := event.ParseKind(k); !ok {
					d.errorf(item(v, i), "filter.kinds: unknown event kind %q (known: %s)", clip(k), strings.Join(kindNames(), ", "))
				}
			}
		},
		"services":            func(v *yaml.Node) { f.Services = d.strs(v, "filter.services") },
		"reasons":             func(v *yaml.Node) { f.Reasons = d.strs(v, "filter.reasons") },
		"not_reasons":         func(v *yaml.Node) { f.NotReasons = d.strs(v, "filter.not_reasons") },
		"status":              func(v *yaml.Node) { f.Status = d.ints(v, "filter.status", 100, 599) },
		"status_classes":      func(v *yaml.Node) { f.StatusClasses = d.ints(v, "filter.status_classes", 1, 5) },
		"methods":             func(v *yaml.Node) { f.Methods = d.strs(v, "filter.methods") },
		"path_contains":       func(v *yaml.Node) { f.PathContains = d.strs(v, "filter.path_contains") },
		"path_suffix":         func(v *yaml.Node) { f.PathSuffix = d.strs(v, "filter.path_suffix") },
		"path_regexp":         func(v *yaml.Node) { f.PathRegexp = d.regexp(v, "filter.path_regexp") },
		"not_path_suffix":     func(v *yaml.Node) { f.NotPathSuffix = d.strs(v, "filter.not_path_suffix") },
		"user_agent_contains": func(v *yaml.Node) { f.UserAgentContains = d.strs(v, "filter.user_agent_contains") },
		"query_contains":      func(v *yaml.Node) { f.QueryContains = d.strs(v, "filter.query_contains") },
	})
	return f
}

// item returns the i-th element of a sequence node, or the node itself.
func item(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

func (d *decoder) profile(n *yaml.Node) ProfileSpec {
	p := ProfileSpec{Pos: d.pos(n)}
	has := d.mapping(n, "profile", fields{
		"name": func(v *yaml.Node) { p.Name = d.name(v, "profile name") },
		"scenarios": func(v *yaml.Node) {
			p.Scenarios = d.strs(v, "scenarios")
			for i, s := range p.Scenarios {
				if _, err := path.Match(s, ""); err != nil {
					d.errorf(item(v, i), "scenarios: bad glob %q", clip(s))
				}
			}
		},
		"type":         func(v *yaml.Node) { p.Type = d.oneOf(v, "type", profileTypes) },
		"duration":     func(v *yaml.Node) { p.Duration = d.duration(v, "duration") },
		"escalate":     func(v *yaml.Node) { p.Escalate = d.boolean(v, "escalate") },
		"max_duration": func(v *yaml.Node) { p.MaxDuration = d.duration(v, "max_duration") },
		"scope":        func(v *yaml.Node) { p.Scope = d.oneOf(v, "scope", profileScopes) },
	})
	if n.Kind != yaml.MappingNode {
		return p
	}
	if _, ok := has["name"]; !ok {
		d.errorf(n, "profile: name is required")
	}
	if p.Type == "" {
		p.Type = DefaultProfileType
	}
	if p.Duration == 0 {
		p.Duration = DefaultProfileDuration
	}
	if p.Scope == "" {
		p.Scope = DefaultProfileScope
	}
	if p.MaxDuration == 0 {
		p.MaxDuration = max(DefaultMaxDuration, p.Duration)
	}
	if v, ok := has["max_duration"]; ok && p.MaxDuration < p.Duration {
		d.errorf(v, "profile %q: max_duration %s is shorter than duration %s", p.Name, p.MaxDuration, p.Duration)
	}
	return p
}
