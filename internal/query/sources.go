package query

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/herd-ips/herd/internal/config"
)

// maxSourceProblems bounds the problems CheckSources reports about the
// files one glob matches.
const maxSourceProblems = 16

// SourceProblem is a configured input that the agent cannot read now, or
// the whole configuration when it leaves the agent nothing to follow.
type SourceProblem struct {
	// Source is the path or glob of herd.yaml, "journald", or "" for the
	// configuration as a whole.
	Source  string `json:"source"`
	Problem string `json:"problem"`
}

func (p SourceProblem) String() string {
	if p.Source == "" {
		return p.Problem
	}
	return p.Source + ": " + p.Problem
}

// CheckSources returns what keeps the agent from reading the inputs cfg
// configures, as this process sees them now: a named file that is missing,
// a directory or unreadable, a glob that matches nothing or files that
// cannot be read, a journal without journalctl, and, above all, a
// configuration that leaves nothing to follow. The agent logs each at
// start; herd status shows them. Readability is judged with this process's
// rights: herd status run by a user may find unreadable what the agent,
// as root, reads.
func CheckSources(cfg *config.Config) []SourceProblem {
	var out []SourceProblem
	readable := 0
	for i := range cfg.Sources {
		for _, g := range cfg.Sources[i].Files {
			n, ps := checkGlob(g)
			readable += n
			out = append(out, ps...)
		}
	}
	if cfg.Journald.Enabled {
		if _, err := exec.LookPath("journalctl"); err != nil {
			out = append(out, SourceProblem{"journald", "journalctl is not on PATH: the journal cannot be read"})
		} else {
			readable++
		}
	}
	if cfg.Syslog.Enabled() {
		readable++
	}
	switch {
	case len(cfg.Sources) == 0 && !cfg.Journald.Enabled && !cfg.Syslog.Enabled():
		why := "no sources in " + cfg.File
		if cfg.File == "" {
			why = "none of the default logs exists (" + strings.Join(config.DefaultLogs, ", ") + ")"
		}
		out = append([]SourceProblem{{"", "follows nothing: " + why + ", and the journal and the syslog listener are off; name log files under sources in herd.yaml"}}, out...)
	case readable == 0:
		out = append([]SourceProblem{{"", "follows nothing now: none of the configured inputs can be read (below)"}}, out...)
	}
	return out
}

// checkGlob returns how many files g names that can be read now, and the
// problems of the others.
func checkGlob(g string) (int, []SourceProblem) {
	if !strings.ContainsAny(g, `*?[\`) {
		if p := checkFile(g); p != "" {
			return 0, []SourceProblem{{g, p}}
		}
		return 1, nil
	}
	paths, err := filepath.Glob(g)
	if err != nil {
		return 0, []SourceProblem{{g, "not a valid glob: " + err.Error()}}
	}
	if len(paths) == 0 {
		return 0, []SourceProblem{{g, "matches no file yet (the agent picks files up as they appear)"}}
	}
	n := 0
	var out []SourceProblem
	for _, p := range paths {
		if msg := checkFile(p); msg != "" {
			if len(out) < maxSourceProblems {
				out = append(out, SourceProblem{p, msg})
			}
			continue
		}
		n++
	}
	return n, out
}

// checkFile says what keeps path from being read, "" when nothing does.
func checkFile(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing (the agent waits for it to appear)"
	case err != nil:
		return "cannot be read: " + errText(err)
	case fi.IsDir():
		return "a directory, not a log file (name the files, or a glob such as " + filepath.Join(path, "*.log") + ")"
	case !fi.Mode().IsRegular():
		return "" // a named pipe or a device: opening it could block; the agent will try
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot be read by uid %d: %s", os.Getuid(), errText(err))
	}
	f.Close()
	return ""
}

// errText is err's innermost message: the path is already named.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
