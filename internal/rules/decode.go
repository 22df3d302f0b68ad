package rules

import (
	"bytes"
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
	"github.com/herd-ips/herd/internal/yamlstrict"
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
	sessionKeys    = []string{"pid", "user", "conn", "conn-open", "header"}
	scenarioTypes  = []string{"leaky", "trigger", "distinct"}
	distinctFields = []string{"user", "path", "target", "port", "user_agent", "host", "query"}
	groupBys       = []string{"source", "source+host"}
	profileTypes   = []string{"ban", "captcha"}
	profileScopes  = []string{"ip", "range"}
	setFields      = []string{"status", "port", "bytes", "user", "method", "path", "host", "user_agent"}
)

// Grouping by network (docs/rules.md, "Grouping by network") adds a value
// to group_by and one to distinct, which means something only there.
const (
	groupByNetwork = "network"
	distinctSource = "source"
)

// The values the loader accepts for distinct and group_by.
var (
	scenarioDistincts = append(slices.Clip(distinctFields), distinctSource)
	scenarioGroupBys  = append(slices.Clip(groupBys), groupByNetwork)
)

// decoder walks the yaml.Node tree of one file, collecting every problem it
// finds instead of stopping at the first.
type decoder struct {
	yamlstrict.Decoder
	file string
	errs []error
}

func newDecoder(file string) *decoder {
	d := &decoder{file: file}
	d.Decoder = yamlstrict.Decoder{
		Report: func(line int, err error) {
			d.errs = append(d.errs, &Error{Pos: Pos{File: file, Line: line}, Err: err})
		},
		AliasNote:     " in rule files",
		KnownKeysOnly: true,
		ParserLines:   true,
	}
	return d
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line} }

// ParseFile decodes one rule file. name is used in positions and errors.
// It returns every problem found, each prefixed with "name:line: ", and the
// rules that decoded cleanly (which are incomplete when errors is non-empty).
func ParseFile(name string, data []byte) (*Set, []error) {
	d := newDecoder(name)
	set := &Set{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			d.Syntax(err)
			break
		}
		d.document(&doc, set)
	}
	return set, d.errs
}

func (d *decoder) document(doc *yaml.Node, set *Set) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return // an empty document, e.g. a file of comments
	}
	d.Mapping(root, "rule file", yamlstrict.Fields{
		"parsers": func(v *yaml.Node) {
			d.Sequence(v, "parsers", func(n *yaml.Node) { set.Parsers = append(set.Parsers, d.parser(n)) })
		},
		"scenarios": func(v *yaml.Node) {
			d.Sequence(v, "scenarios", func(n *yaml.Node) { set.Scenarios = append(set.Scenarios, d.scenario(n)) })
		},
		"profiles": func(v *yaml.Node) {
			d.Sequence(v, "profiles", func(n *yaml.Node) { set.Profiles = append(set.Profiles, d.profile(n)) })
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

// name decodes a required, non-empty identifier-like string.
func (d *decoder) name(n *yaml.Node, what string) string {
	s := d.Str(n, what)
	if s == "" && n.ShortTag() == "!!str" {
		d.Errorf(n, "%s: must not be empty", what)
	}
	return s
}

func (d *decoder) strs(n *yaml.Node, what string) []string {
	var out []string
	if !d.Kind(n, yaml.SequenceNode, what, "a list of strings") {
		return nil
	}
	for _, c := range n.Content {
		if !d.Kind(c, 0, what, "") {
			continue
		}
		s := d.Str(c, what)
		if s == "" && c.ShortTag() == "!!str" {
			d.Errorf(c, "%s: empty string", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

// countries decodes a list of ISO 3166-1 alpha-2 country codes ("FR").
func (d *decoder) countries(n *yaml.Node, what string) []string {
	var out []string
	for i, s := range d.strs(n, what) {
		if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
			d.Errorf(item(n, i), "%s: %q is not a two-letter country code in capitals (\"FR\")", what, yamlstrict.Clip(s))
			continue
		}
		out = append(out, s)
	}
	return out
}

// asns decodes a list of autonomous system numbers (64500).
func (d *decoder) asns(n *yaml.Node, what string) []uint32 {
	var out []uint32
	for _, i := range d.ints(n, what, 1, 1<<32-1) {
		out = append(out, uint32(i))
	}
	return out
}

// oneOf decodes a string that must be one of allowed.
func (d *decoder) oneOf(n *yaml.Node, what string, allowed []string) string {
	s := d.Str(n, what)
	if n.ShortTag() == "!!str" && !slices.Contains(allowed, s) {
		d.Errorf(n, "%s: %q is not one of %s", what, yamlstrict.Clip(s), strings.Join(allowed, ", "))
		return ""
	}
	return s
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.Errorf(n, "%s: expected true or false, found %s", what, yamlstrict.Describe(n))
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.Errorf(n, "%s: %v", what, err)
	}
	return b
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, "%s: expected an integer, found %s", what, yamlstrict.Describe(n))
		return 0
	}
	var i int
	if err := n.Decode(&i); err != nil {
		d.Errorf(n, "%s: %v", what, err)
		return 0
	}
	if i < lo || i > hi {
		d.Errorf(n, "%s: %d is out of range %d..%d", what, i, lo, hi)
		return 0
	}
	return i
}

func (d *decoder) ints(n *yaml.Node, what string, lo, hi int) []int {
	var out []int
	if !d.Kind(n, yaml.SequenceNode, what, "a list of integers") {
		return nil
	}
	for _, c := range n.Content {
		if d.Kind(c, 0, what, "") {
			if i := d.integer(c, what, lo, hi); i != 0 {
				out = append(out, i)
			}
		}
	}
	return out
}

// span decodes a [min, max] pair of positive integers, min <= max.
func (d *decoder) span(n *yaml.Node, what string) []int {
	out := d.ints(n, what, 1, 4096)
	if len(out) != 2 || out[0] > out[1] {
		d.Errorf(n, "%s: expected [min, max] with 1 <= min <= max", what)
		return nil
	}
	return out
}

// duration decodes a positive Go duration ("10s", "4h").
func (d *decoder) duration(n *yaml.Node, what string) time.Duration {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.Errorf(n, "%s: expected a duration such as \"10s\" or \"4h\", found %s", what, yamlstrict.Describe(n))
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, "%s: invalid duration %q (write e.g. \"10s\", \"5m\", \"4h\")", what, yamlstrict.Clip(n.Value))
		return 0
	}
	if v <= 0 {
		d.Errorf(n, "%s: duration must be positive, found %s", what, n.Value)
		return 0
	}
	return v
}

func (d *decoder) regexp(n *yaml.Node, what string) string {
	s := d.Str(n, what)
	if s == "" {
		return s
	}
	if _, err := regexp.Compile(s); err != nil {
		d.Errorf(n, "%s: %v", what, err)
	}
	return s
}

func (d *decoder) parser(n *yaml.Node) ParserSpec {
	p := ParserSpec{Pos: d.pos(n)}
	var has map[string]*yaml.Node
	has = d.Mapping(n, "parser", yamlstrict.Fields{
		"name":     func(v *yaml.Node) { p.Name = d.name(v, "parser name") },
		"programs": func(v *yaml.Node) { p.Programs = d.programs(v) },
		"raw":      func(v *yaml.Node) { p.Raw = d.boolean(v, "raw") },
		"service":  func(v *yaml.Node) { p.Service = d.name(v, "service") },
		"kind": func(v *yaml.Node) {
			p.Kind = d.Str(v, "kind")
			if v.ShortTag() == "!!str" {
				if _, ok := event.ParseKind(p.Kind); !ok {
					d.Errorf(v, "kind: unknown event kind %q (known: %s)", yamlstrict.Clip(p.Kind), strings.Join(kindNames(), ", "))
				}
			}
		},
		"reason":    func(v *yaml.Node) { p.Reason = d.Str(v, "reason") },
		"prefilter": func(v *yaml.Node) { p.Prefilter = d.strs(v, "prefilter") },
		"patterns": func(v *yaml.Node) {
			p.Patterns = d.strs(v, "patterns")
			if v.Kind == yaml.SequenceNode && len(v.Content) == len(p.Patterns) {
				for _, c := range v.Content {
					p.PatternLines = append(p.PatternLines, c.Line)
				}
			}
		},
		"regexps": func(v *yaml.Node) {
			if d.Kind(v, yaml.SequenceNode, "regexps", "a list of strings") {
				for _, c := range v.Content {
					if d.Kind(c, 0, "regexps", "") {
						if s := d.regexp(c, "regexps"); s != "" {
							p.Regexps = append(p.Regexps, s)
							p.RegexpLines = append(p.RegexpLines, c.Line)
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
		d.Errorf(n, "parser: name is required")
	}
	what := "parser"
	if p.Name != "" {
		what = fmt.Sprintf("parser %q", p.Name)
	}
	_, hasPrograms := has["programs"]
	switch {
	case hasPrograms && p.Raw:
		d.Errorf(has["raw"], "%s: programs and raw: true exclude each other", what)
	case !hasPrograms && !p.Raw && (has["raw"] == nil || has["raw"].ShortTag() == "!!bool"):
		d.Errorf(n, "%s: needs programs (syslog program names) or raw: true", what)
	case hasPrograms && has["programs"].Kind == yaml.SequenceNode && len(has["programs"].Content) == 0:
		d.Errorf(has["programs"], "%s: programs is empty", what)
	}
	if f, ok := has["family"]; ok && !p.Raw {
		d.Errorf(f, "%s: family applies to raw parsers only (raw: true)", what)
	}
	if _, ok := has["service"]; !ok {
		d.Errorf(n, "%s: service is required", what)
	}
	if _, ok := has["kind"]; !ok {
		d.Errorf(n, "%s: kind is required", what)
	}
	_, hasPat := has["patterns"]
	_, hasRe := has["regexps"]
	_, hasFmt := has["format"]
	switch {
	case !hasPat && !hasRe && !hasFmt:
		d.Errorf(n, "%s: needs patterns, regexps or format", what)
	case hasFmt && (hasPat || hasRe):
		d.Errorf(has["format"], "%s: format replaces patterns and regexps; use one or the other", what)
	case hasPat && !hasRe && has["patterns"].Kind == yaml.SequenceNode && len(has["patterns"].Content) == 0,
		hasRe && !hasPat && has["regexps"].Kind == yaml.SequenceNode && len(has["regexps"].Content) == 0:
		d.Errorf(n, "%s: no pattern given", what)
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
				d.Errorf(item(n, i), "programs: bad glob %q", yamlstrict.Clip(c.Value))
			}
		}
	}
	return ps
}

// setFields decodes the constant field values of a parser.
func (d *decoder) setFields(n *yaml.Node) map[string]string {
	if !d.Kind(n, yaml.MappingNode, "set", "a mapping of field: value") {
		return nil
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.Kind(k, 0, "set", "") || !d.Kind(v, 0, "set", "") {
			continue
		}
		key := d.Str(k, "set key")
		if k.ShortTag() != "!!str" {
			continue
		}
		if !slices.Contains(setFields, key) {
			d.Errorf(k, "set: unknown field %q (known: %s)", yamlstrict.Clip(key), strings.Join(setFields, ", "))
			continue
		}
		if _, dup := out[key]; dup {
			d.Errorf(k, "set: key %q repeated", key)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
			d.Errorf(v, "set.%s: expected a value, found %s", key, yamlstrict.Describe(v))
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
			d.Errorf(v, "set.%s: invalid value %q", key, yamlstrict.Clip(val))
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
	has := d.Mapping(n, "scenario", yamlstrict.Fields{
		"name":        func(v *yaml.Node) { s.Name = d.name(v, "scenario name") },
		"description": func(v *yaml.Node) { s.Description = d.Str(v, "description") },
		"type":        func(v *yaml.Node) { s.Type = d.oneOf(v, "type", scenarioTypes) },
		"filter":      func(v *yaml.Node) { s.Filter = d.filter(v) },
		"capacity":    func(v *yaml.Node) { s.Capacity = d.integer(v, "capacity", 1, 1<<30) },
		"leak":        func(v *yaml.Node) { s.Leak = d.duration(v, "leak") },
		"distinct":    func(v *yaml.Node) { s.Distinct = d.oneOf(v, "distinct", scenarioDistincts) },
		"window":      func(v *yaml.Node) { s.Window = d.duration(v, "window") },
		"group_by":    func(v *yaml.Node) { s.GroupBy = d.oneOf(v, "group_by", scenarioGroupBys) },
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
		d.Errorf(n, "scenario: name is required")
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
			d.Errorf(n, "%s: a leaky scenario needs capacity", what)
		}
		if !hasLeak {
			d.Errorf(n, "%s: a leaky scenario needs leak (one event leaks out every leak)", what)
		}
		if hasDistinct {
			d.Errorf(at("distinct"), "%s: distinct applies to type: distinct only", what)
		}
	case "distinct":
		if !hasCap {
			d.Errorf(n, "%s: a distinct scenario needs capacity (distinct values held before overflow)", what)
		}
		if !hasDistinct {
			d.Errorf(n, "%s: a distinct scenario needs distinct (%s)", what, strings.Join(scenarioDistincts, ", "))
		}
		if !hasWindow && !hasLeak {
			d.Errorf(n, "%s: a distinct scenario needs window or leak", what)
		}
	case "trigger":
		for _, k := range []string{"capacity", "leak", "distinct", "window"} {
			if _, ok := has[k]; ok {
				d.Errorf(has[k], "%s: %s has no meaning for a trigger scenario", what, k)
			}
		}
	}
	if f, ok := has["filter"]; !ok {
		d.Errorf(n, "%s: filter is required (a scenario without one would count every event)", what)
	} else if f.Kind == yaml.MappingNode && len(f.Content) == 0 {
		d.Errorf(f, "%s: filter is empty (a scenario without one would count every event)", what)
	}
	// Grouping by network counts the distinct sources of a network, and
	// distinct sources mean something only within a network.
	if s.GroupBy == groupByNetwork && (typ != "distinct" || (hasDistinct && s.Distinct != distinctSource)) {
		d.Errorf(at("group_by"), "%s: group_by: network needs type: distinct with distinct: source", what)
	}
	if s.Distinct == distinctSource && s.GroupBy != groupByNetwork {
		d.Errorf(at("distinct"), "%s: distinct: source needs group_by: network", what)
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
	d.Mapping(n, "filter", yamlstrict.Fields{
		"kinds": func(v *yaml.Node) {
			f.Kinds = d.strs(v, "filter.kinds")
			for i, k := range f.Kinds {
				if _, ok := event.ParseKind(k); !ok {
					d.Errorf(item(v, i), "filter.kinds: unknown event kind %q (known: %s)", yamlstrict.Clip(k), strings.Join(kindNames(), ", "))
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
		"not_methods":         func(v *yaml.Node) { f.NotMethods = d.strs(v, "filter.not_methods") },
		"not_protocols":       func(v *yaml.Node) { f.NotProtocols = d.strs(v, "filter.not_protocols") },
		"query_digits":        func(v *yaml.Node) { f.QueryDigits = d.span(v, "filter.query_digits") },
		"referer_contains":    func(v *yaml.Node) { f.RefererContains = d.strs(v, "filter.referer_contains") },
		"not_path_contains":   func(v *yaml.Node) { f.NotPathContains = d.strs(v, "filter.not_path_contains") },
		"with_user":           func(v *yaml.Node) { f.WithUser = d.boolean(v, "filter.with_user") },
		"users":               func(v *yaml.Node) { f.Users = d.users(v, "filter.users") },
		"unless_user_seen_ok": func(v *yaml.Node) { f.UnlessUserSeenOK = d.duration(v, "filter.unless_user_seen_ok") },
		"countries":           func(v *yaml.Node) { f.Countries = d.countries(v, "filter.countries") },
		"not_countries":       func(v *yaml.Node) { f.NotCountries = d.countries(v, "filter.not_countries") },
		"asns":                func(v *yaml.Node) { f.ASNs = d.asns(v, "filter.asns") },
		"not_asns":            func(v *yaml.Node) { f.NotASNs = d.asns(v, "filter.not_asns") },
	})
	return f
}

// users reads a filter's user names: each a name (matched against the
// event's user name without its "@domain"), a full address with '@'
// (matched whole), either ending with one '*' that matches any rest.
func (d *decoder) users(n *yaml.Node, what string) []string {
	list := d.strs(n, what)
	for i, u := range list {
		if j := strings.IndexByte(u, '*'); u == "" || u == "*" || j >= 0 && j != len(u)-1 {
			d.Errorf(item(n, i), "%s: %q: write a name or an address, with at most one '*' at its end", what, yamlstrict.Clip(u))
		}
	}
	return list
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
	has := d.Mapping(n, "profile", yamlstrict.Fields{
		"name": func(v *yaml.Node) { p.Name = d.name(v, "profile name") },
		"scenarios": func(v *yaml.Node) {
			p.Scenarios = d.strs(v, "scenarios")
			for i, s := range p.Scenarios {
				if _, err := path.Match(s, ""); err != nil {
					d.Errorf(item(v, i), "scenarios: bad glob %q", yamlstrict.Clip(s))
				}
			}
		},
		"type":         func(v *yaml.Node) { p.Type = d.oneOf(v, "type", profileTypes) },
		"duration":     func(v *yaml.Node) { p.Duration = d.duration(v, "duration") },
		"escalate":     func(v *yaml.Node) { p.Escalate = d.boolean(v, "escalate") },
		"max_duration": func(v *yaml.Node) { p.MaxDuration = d.duration(v, "max_duration") },
		"scope":        func(v *yaml.Node) { p.Scope = d.oneOf(v, "scope", profileScopes) },
		"ipv6_prefix":  func(v *yaml.Node) { p.IPv6Prefix = d.integer(v, "ipv6_prefix", 48, 128) },
		"countries":    func(v *yaml.Node) { p.Countries = d.countries(v, "countries") },
		"asns":         func(v *yaml.Node) { p.ASNs = d.asns(v, "asns") },
	})
	if n.Kind != yaml.MappingNode {
		return p
	}
	if _, ok := has["name"]; !ok {
		d.Errorf(n, "profile: name is required")
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
	if p.IPv6Prefix == 0 {
		p.IPv6Prefix = DefaultIPv6Prefix
	}
	if p.MaxDuration == 0 {
		p.MaxDuration = max(DefaultMaxDuration, p.Duration)
	}
	if v, ok := has["max_duration"]; ok && p.MaxDuration < p.Duration {
		d.Errorf(v, "profile %q: max_duration %s is shorter than duration %s", p.Name, p.MaxDuration, p.Duration)
	}
	return p
}
