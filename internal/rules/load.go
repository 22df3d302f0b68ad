package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

//go:embed defaults/*.yaml
var defaultFS embed.FS

// Defaults returns the rules embedded in the binary, in file-name order.
// Their positions name the embedded files ("defaults/sshd.yaml"). Each call
// returns a fresh Set the caller may modify.
func Defaults() (*Set, error) {
	names, err := fs.Glob(defaultFS, "defaults/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	set := &Set{}
	var errs []error
	for _, name := range names {
		data, err := defaultFS.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, fileErrs := ParseFile(name, data)
		errs = append(errs, fileErrs...)
		errs = append(errs, set.merge(s)...)
	}
	errs = append(errs, set.checkReferences()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// Load returns the default rules overridden and extended by every *.yaml
// file in userDir, read in file-name order. A user rule with the name of an
// earlier parser, scenario or profile replaces it in place (keeping its
// order); a new name is appended. userDir "" means the defaults alone. The
// error joins every problem found, each prefixed with "file:line: ".
func Load(userDir string) (*Set, error) {
	set, err := Defaults()
	if err != nil {
		return nil, fmt.Errorf("rules: embedded defaults: %w", err)
	}
	if userDir == "" {
		return set, nil
	}
	paths, err := filepath.Glob(filepath.Join(userDir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if _, err := os.Stat(userDir); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	slices.Sort(paths)
	if err := set.loadFiles(paths); err != nil {
		return nil, err
	}
	if errs := set.checkReferences(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// LoadWith returns the default rules overridden and extended by the given
// files, read in the order given, as Load does with a directory's files.
func LoadWith(paths ...string) (*Set, error) {
	set, err := Defaults()
	if err != nil {
		return nil, fmt.Errorf("rules: embedded defaults: %w", err)
	}
	if err := set.loadFiles(paths); err != nil {
		return nil, err
	}
	if errs := set.checkReferences(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// LoadFiles returns the rules of the given files alone (no defaults), read in
// the order given, with the same replace-by-name rule as Load. Unlike Load it
// does not require profiles to name scenarios it knows: the files may refer
// to default scenarios.
func LoadFiles(paths ...string) (*Set, error) {
	set := &Set{}
	if err := set.loadFiles(paths); err != nil {
		return nil, err
	}
	return set, nil
}

func (set *Set) loadFiles(paths []string) error {
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
			continue
		}
		s, fileErrs := ParseFile(p, data)
		errs = append(errs, fileErrs...)
		errs = append(errs, set.merge(s)...)
	}
	return errors.Join(errs...)
}

// Check returns every problem in the rule file at path, each prefixed with
// "path:line: ", or nil when the file is sound. Besides the file's own
// structure it reports profiles naming scenarios that neither the file nor
// the defaults define.
func Check(path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("rules: %w", err)}
	}
	s, errs := ParseFile(path, data)
	if len(errs) > 0 {
		return errs
	}
	all, err := Defaults()
	if err != nil {
		return []error{fmt.Errorf("rules: embedded defaults: %w", err)}
	}
	errs = append(errs, all.merge(s)...)
	return append(errs, all.checkReferences()...)
}

// merge adds the rules of o to set: a rule whose name set already holds
// replaces it in place, a new one is appended. It returns no error today;
// the signature leaves room for cross-file conflicts.
func (set *Set) merge(o *Set) []error {
	set.Parsers = mergeByName(set.Parsers, o.Parsers, func(p *ParserSpec) string { return p.Name })
	set.Scenarios = mergeByName(set.Scenarios, o.Scenarios, func(s *ScenarioSpec) string { return s.Name })
	set.Profiles = mergeByName(set.Profiles, o.Profiles, func(p *ProfileSpec) string { return p.Name })
	return nil
}

func mergeByName[T any](base, add []T, name func(*T) string) []T {
	index := make(map[string]int, len(base))
	for i := range base {
		index[name(&base[i])] = i
	}
	for i := range add {
		n := name(&add[i])
		if j, ok := index[n]; ok && n != "" {
			base[j] = add[i]
			continue
		}
		index[n] = len(base)
		base = append(base, add[i])
	}
	return base
}

// checkReferences reports profiles that name a scenario (not a glob) that
// the set does not define: most likely a typo that would leave the profile
// dead.
func (set *Set) checkReferences() []error {
	names := make(map[string]bool, len(set.Scenarios))
	for _, s := range set.Scenarios {
		names[s.Name] = true
	}
	var errs []error
	for _, p := range set.Profiles {
		for _, s := range p.Scenarios {
			if isGlob(s) {
				continue // a glob may match rules added later
			}
			if !names[s] {
				errs = append(errs, &Error{Pos: p.Pos, Err: fmt.Errorf("profile %q: unknown scenario %q", p.Name, s)})
			}
		}
	}
	return errs
}

func isGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}
