package app

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// CheckRules reports every problem in one rule file: its structure, then
// each rule compiled on its own, so that one bad template does not hide the
// next, and every pattern and regexp of a rule compiled even when an
// earlier one failed. Every error names file:line, a pattern's error the
// pattern's own line. A rule in which the structure check already found a
// problem is not compiled (its errors would repeat that problem).
func CheckRules(path string) []error {
	errs := rules.Check(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return errs
	}
	set, _ := rules.ParseFile(path, data)
	bad := faultLines(path, errs)
	// Each rule spans the lines from its own to the next rule's.
	var starts []int
	for _, p := range set.Parsers {
		starts = append(starts, p.Pos.Line)
	}
	for _, s := range set.Scenarios {
		starts = append(starts, s.Pos.Line)
	}
	for _, p := range set.Profiles {
		starts = append(starts, p.Pos.Line)
	}
	slices.Sort(starts)
	faulty := func(line int) bool {
		end := int(^uint(0) >> 1)
		if i, found := slices.BinarySearch(starts, line+1); found || i < len(starts) {
			end = starts[i]
		}
		for _, b := range bad {
			if b >= line && b < end {
				return true
			}
		}
		return false
	}
	for i := range set.Parsers {
		if faulty(set.Parsers[i].Pos.Line) {
			continue
		}
		if _, err := parse.Compile(set.Parsers[i:i+1], parse.Options{}); err != nil {
			errs = append(errs, splitJoined(err)...)
		}
	}
	for i := range set.Scenarios {
		if faulty(set.Scenarios[i].Pos.Line) {
			continue
		}
		if _, err := scenario.Compile(set.Scenarios[i:i+1], scenario.Options{}); err != nil {
			errs = append(errs, splitJoined(err)...)
		}
	}
	var profs []rules.ProfileSpec
	for _, p := range set.Profiles {
		if !faulty(p.Pos.Line) {
			profs = append(profs, p)
		}
	}
	if len(profs) > 0 {
		if _, err := profile.Compile(profs, profile.Options{}); err != nil {
			errs = append(errs, splitJoined(err)...)
		}
	}
	// In the file's order.
	slices.SortStableFunc(errs, func(a, b error) int {
		return lineIn(path, a) - lineIn(path, b)
	})
	return errs
}

// lineIn returns the line of path that err names, or 0.
func lineIn(path string, err error) int {
	if l := faultLines(path, []error{err}); len(l) > 0 {
		return l[0]
	}
	return 0
}

// faultLines returns the lines of path that errs name ("path:LINE: ...").
func faultLines(path string, errs []error) []int {
	var lines []int
	for _, err := range errs {
		msg := err.Error()
		i := strings.Index(msg, path+":")
		if i < 0 {
			continue
		}
		rest := msg[i+len(path)+1:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			lines = append(lines, n)
		}
	}
	return lines
}

// splitJoined returns the errors an errors.Join holds, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}
