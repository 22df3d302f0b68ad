package rules

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBrokenFiles checks every file in testdata/bad: each "# want: LINE: TEXT"
// comment must be matched by one error starting with "FILE:LINE: TEXT", and
// every error Check returns must be wanted.
func TestBrokenFiles(t *testing.T) {
	paths, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, l := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(l, "# want: "); ok {
					wants = append(wants, path+":"+w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("file has no # want: comment")
			}
			errs := Check(path)
			matched := make([]bool, len(errs))
			for _, w := range wants {
				found := false
				for i, e := range errs {
					if !matched[i] && strings.HasPrefix(e.Error(), w) {
						matched[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("missing error %q", w)
				}
			}
			for i, e := range errs {
				if !matched[i] {
					t.Errorf("unexpected error %q", e)
				}
			}
		})
	}
}

func TestParseFileFields(t *testing.T) {
	src := `
parsers:
  - name: sshd-fail
    programs: [sshd, "sshd-*"]
    service: ssh
    kind: auth_failure
    reason: failed_password
    prefilter: ["Failed "]
    patterns:
      - "Failed password for %{user} from %{source} port %{port} ssh2"
    session: pid
    set: {status: "401", port: 22}
  - name: access
    raw: true
    service: http
    kind: http_request
    format: clf
scenarios:
  - name: probe
    description: many 404s
    type: distinct
    filter:
      kinds: [http_request]
      services: [http]
      reasons: [a]
      not_reasons: [b]
      status: [404]
      status_classes: [4]
      methods: [GET]
      path_contains: [".env"]
      path_suffix: [".php"]
      path_regexp: "^/wp-"
      not_path_suffix: [".css"]
      user_agent_contains: [sqlmap]
      query_contains: ["union"]
    capacity: 10
    distinct: path
    window: 1m
    group_by: source+host
    ipv6_prefix: 56
    blackhole: 5m
    remedy: false
    simulated: true
  - name: t
    type: trigger
    filter: {kinds: [scan]}
profiles:
  - name: p
    scenarios: [probe, "ssh-*"]
    type: captcha
    duration: 1h
    escalate: true
    max_duration: 24h
    scope: range
  - name: q
`
	set, errs := ParseFile("f.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := set.Parsers[0]
	if p.Pos != (Pos{"f.yaml", 3}) || p.Name != "sshd-fail" || len(p.Programs) != 2 || p.Service != "ssh" ||
		p.Kind != "auth_failure" || p.Reason != "failed_password" || p.Prefilter[0] != "Failed " ||
		len(p.Patterns) != 1 || p.Session != "pid" || p.Set["status"] != "401" || p.Set["port"] != "22" {
		t.Errorf("parser = %+v", p)
	}
	if a := set.Parsers[1]; !a.Raw || a.Format != "clf" || a.Pos.Line != 13 {
		t.Errorf("access parser = %+v", a)
	}
	s := set.Scenarios[0]
	f := s.Filter
	if s.Type != "distinct" || s.Capacity != 10 || s.Distinct != "path" || s.Window != time.Minute ||
		s.GroupBy != "source+host" || s.IPv6Prefix != 56 || s.Blackhole != 5*time.Minute ||
		s.Remedy == nil || *s.Remedy || !s.Simulated || s.Description != "many 404s" {
		t.Errorf("scenario = %+v", s)
	}
	if len(f.Kinds) != 1 || f.Services[0] != "http" || f.Reasons[0] != "a" || f.NotReasons[0] != "b" ||
		f.Status[0] != 404 || f.StatusClasses[0] != 4 || f.Methods[0] != "GET" || f.PathContains[0] != ".env" ||
		f.PathSuffix[0] != ".php" || f.PathRegexp != "^/wp-" || f.NotPathSuffix[0] != ".css" ||
		f.UserAgentContains[0] != "sqlmap" || f.QueryContains[0] != "union" {
		t.Errorf("filter = %+v", f)
	}
	if tr := set.Scenarios[1]; tr.Type != "trigger" || tr.GroupBy != "source" || tr.IPv6Prefix != 64 || tr.Remedy == nil || !*tr.Remedy {
		t.Errorf("trigger defaults = %+v", tr)
	}
	pr := set.Profiles[0]
	if pr.Type != "captcha" || pr.Duration != time.Hour || !pr.Escalate || pr.MaxDuration != 24*time.Hour ||
		pr.Scope != "range" || len(pr.Scenarios) != 2 {
		t.Errorf("profile = %+v", pr)
	}
	if q := set.Profiles[1]; q.Type != "ban" || q.Duration != 4*time.Hour || q.MaxDuration != 168*time.Hour || q.Scope != "ip" {
		t.Errorf("profile defaults = %+v", q)
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, src := range []string{"", "# only comments\n", "---\n", "parsers: []\nscenarios: []\nprofiles: []\n"} {
		set, errs := ParseFile("e.yaml", []byte(src))
		if len(errs) > 0 || len(set.Parsers)+len(set.Scenarios)+len(set.Profiles) != 0 {
			t.Errorf("%q: %v %+v", src, errs, set)
		}
	}
}

func TestDefaultsLoad(t *testing.T) {
	set, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Profiles) == 0 {
		t.Fatal("no default profiles")
	}
	for _, p := range set.Parsers {
		if !strings.HasPrefix(p.Pos.File, "defaults/") || p.Pos.Line == 0 {
			t.Errorf("parser %s: position %+v", p.Name, p.Pos)
		}
	}
}

func TestLoadUserDir(t *testing.T) {
	defaults, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Replace the first default profile, add a parser and a scenario.
	first := defaults.Profiles[0].Name
	write(t, filepath.Join(dir, "10-local.yaml"), `
profiles:
  - name: `+first+`
    duration: 1h
parsers:
  - name: myapp-login
    programs: [myapp]
    service: myapp
    kind: auth_failure
    patterns: ["login failed for %{user} from %{source}"]
scenarios:
  - name: myapp-bruteforce
    filter: {services: [myapp], kinds: [auth_failure]}
    capacity: 3
    leak: 1m
`)
	write(t, filepath.Join(dir, "ignored.yml"), "garbage: [")
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Profiles) != len(defaults.Profiles) || set.Profiles[0].Name != first || set.Profiles[0].Duration != time.Hour {
		t.Errorf("profile not replaced in place: %+v", set.Profiles)
	}
	if got := set.Parsers[len(set.Parsers)-1]; got.Name != "myapp-login" || got.Pos.File != filepath.Join(dir, "10-local.yaml") {
		t.Errorf("last parser = %+v", got)
	}
	if len(set.Scenarios) != len(defaults.Scenarios)+1 {
		t.Errorf("scenarios: %d, want %d", len(set.Scenarios), len(defaults.Scenarios)+1)
	}

	// A broken user file fails the load with file:line.
	write(t, filepath.Join(dir, "20-bad.yaml"), "scenarios:\n  - name: x\n    capcity: 3\n")
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "20-bad.yaml")+":3: scenario: unknown key \"capcity\"") {
		t.Errorf("Load with broken file: %v", err)
	}

	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestUnknownScenarioReference(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	write(t, p, "profiles:\n  - name: p\n    scenarios: [nosuch, \"x-*\", ssh-bruteforce]\n")
	want := p + `:2: profile "p": unknown scenario "nosuch"`
	if _, err := Load(dir); err == nil || err.Error() != want {
		t.Errorf("Load: %v, want %s", err, want)
	}
	if errs := Check(p); len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("Check = %v", errs)
	}
	// LoadFiles reads user files alone: references to defaults are fine.
	if _, err := LoadFiles(p); err != nil {
		t.Errorf("LoadFiles: %v", err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

var errPrefix = regexp.MustCompile(`^fuzz\.yaml:[1-9][0-9]*: `)

func FuzzParseFile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.yaml")
	defaults, _ := filepath.Glob("defaults/*.yaml")
	for _, p := range append(seeds, defaults...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, errs := ParseFile("fuzz.yaml", data)
		for _, e := range errs {
			if !errPrefix.MatchString(e.Error()) {
				t.Errorf("error without file:line: %q", e)
			}
		}
	})
}
