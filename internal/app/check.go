package app

import (
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// CheckRules reports every problem in one rule file: its structure first,
// then each rule compiled on its own, so one bad template does not hide the
// next. Every error names file:line.
func CheckRules(path string) []error {
	if errs := rules.Check(path); len(errs) > 0 {
		return errs
	}
	set, err := rules.LoadFiles(path)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i := range set.Parsers {
		if _, err := parse.Compile(set.Parsers[i:i+1], parse.Options{}); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range set.Scenarios {
		if _, err := scenario.Compile(set.Scenarios[i:i+1], scenario.Options{}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(set.Profiles) > 0 {
		if _, err := profile.Compile(set.Profiles, profile.Options{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
