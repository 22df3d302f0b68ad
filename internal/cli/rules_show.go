package cli

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/termtext"
)

// listServiceWidth bounds the SERVICE column of rules list: a scenario
// lists the services of its filter, which may be many.
const listServiceWidth = 24

// writeRulesList writes the rules of set as a narrow table, one line each:
// kind, name, service, file:line. Descriptions and the rest are for
// herd rules show.
func writeRulesList(w io.Writer, set *rules.Set) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSERVICE\tWHERE")
	row := func(kind, name, service string, pos rules.Pos) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\n", kind, termtext.String(name), termtext.String(clip(service, listServiceWidth)), termtext.String(pos.File), pos.Line)
	}
	for _, p := range set.Parsers {
		row("parser", p.Name, p.Service, p.Pos)
	}
	for _, s := range set.Scenarios {
		row("scenario", s.Name, cmpOr(strings.Join(s.Filter.Services, ","), "-"), s.Pos)
	}
	for _, p := range set.Profiles {
		row("profile", p.Name, "-", p.Pos)
	}
	tw.Flush()
}

// clip cuts s to n runes, marking the cut with "...".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *env) rulesShowCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "show NAME [--rules DIR]",
		Short: "Show all of a parser, scenario or profile: where it is defined, its fields, what decides on it",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			set, err := rules.Load(dir)
			if err != nil {
				return err
			}
			if !writeRule(e.stdout, set, args[0]) {
				return fmt.Errorf("rules show: no parser, scenario or profile is named %q (see herd rules list)", termtext.String(args[0]))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "rules", "", "directory of user rule files")
	c.ValidArgsFunction = func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		set, err := rules.Load(dir)
		if err != nil || len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		add := func(name, what string) {
			if strings.HasPrefix(name, prefix) {
				out = append(out, cobra.CompletionWithDesc(name, what))
			}
		}
		for _, p := range set.Parsers {
			add(p.Name, "parser")
		}
		for _, s := range set.Scenarios {
			add(s.Name, "scenario")
		}
		for _, p := range set.Profiles {
			add(p.Name, "profile")
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return c
}

// writeRule writes every rule of set named name (a parser and a scenario
// may share a name) and reports whether there was one.
func writeRule(w io.Writer, set *rules.Set, name string) bool {
	found := false
	sep := func() {
		if found {
			fmt.Fprintln(w)
		}
		found = true
	}
	for i := range set.Parsers {
		if p := &set.Parsers[i]; p.Name == name {
			sep()
			fields(w, "parser", p.Name, p.Pos, *p)
		}
	}
	for i := range set.Scenarios {
		if s := &set.Scenarios[i]; s.Name == name {
			sep()
			fields(w, "scenario", s.Name, s.Pos, *s)
			decided := false
			for _, pr := range set.Profiles {
				if profileApplies(pr.Scenarios, s.Name) {
					fmt.Fprintf(w, "%-20s profile %s (%s:%d), the first that applies\n", "decided by:", termtext.String(pr.Name), termtext.String(pr.Pos.File), pr.Pos.Line)
					decided = true
					break
				}
			}
			if !decided {
				fmt.Fprintf(w, "%-20s no profile (alerts only)\n", "decided by:")
			}
		}
	}
	for i := range set.Profiles {
		if p := &set.Profiles[i]; p.Name == name {
			sep()
			fields(w, "profile", p.Name, p.Pos, *p)
		}
	}
	return found
}

// fields writes a rule's spec as "key: value" lines, its zero fields left
// out, named as in the rule files (snake case).
func fields(w io.Writer, kind, name string, pos rules.Pos, spec any) {
	fmt.Fprintf(w, "%-20s %s\n", kind+":", termtext.String(name))
	fmt.Fprintf(w, "%-20s %s:%d\n", "defined at:", termtext.String(pos.File), pos.Line)
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			if f.Name == "Name" || f.Name == "Pos" || fv.IsZero() {
				continue
			}
			key := prefix + snake(f.Name)
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(key+".", fv)
				continue
			}
			for j, line := range valueLines(fv) {
				if j == 0 {
					fmt.Fprintf(w, "%-20s %s\n", key+":", termtext.String(line))
				} else {
					fmt.Fprintf(w, "%-20s %s\n", "", termtext.String(line))
				}
			}
		}
	}
	walk("", reflect.ValueOf(spec))
}

// valueLines renders a spec field: a list one item per line, a map as
// key=value items.
func valueLines(v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Pointer:
		return valueLines(v.Elem())
	case reflect.Slice:
		out := make([]string, v.Len())
		for i := range out {
			item := fmt.Sprint(v.Index(i).Interface())
			if strings.TrimSpace(item) != item {
				item = strconv.Quote(item) // a prefilter's trailing space
			}
			out[i] = "- " + item
		}
		return out
	case reflect.Map:
		var out []string
		iter := v.MapRange()
		for iter.Next() {
			out = append(out, fmt.Sprintf("%v=%v", iter.Key(), iter.Value()))
		}
		sortStrings(out)
		return out
	case reflect.String:
		return []string{strconv.Quote(v.String())}
	}
	return []string{fmt.Sprint(v.Interface())}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// snake turns a Go field name into the rule files' key: GroupBy →
// group_by, IPv6Prefix → ipv6_prefix, PathRegexp → path_regexp.
func snake(name string) string {
	name = strings.Replace(name, "IPv6", "Ipv6", 1)
	var b strings.Builder
	for i, c := range name {
		if unicode.IsUpper(c) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// profileApplies reports whether a profile with these scenario patterns
// ('*' matches any run of characters; none matches every scenario)
// applies to scenario, as internal/profile matches them.
func profileApplies(patterns []string, scenario string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if starMatch(p, scenario) {
			return true
		}
	}
	return false
}

func starMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
