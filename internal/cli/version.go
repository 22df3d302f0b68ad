package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Commit is the VCS revision herd was built from, set at build time with
// -ldflags "-X github.com/herd-ips/herd/internal/cli.Commit=..." where the
// build has no VCS information of its own (a source tarball, a package
// build); otherwise it is read from the binary's build information.
var Commit = ""

// buildInfo is what herd version prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo merges the -ldflags values (version, commit) with what the
// Go toolchain recorded in the binary: the module's version when built by
// go install at a tagged version, the VCS revision, its time and whether
// the tree was modified. ldflags win: a package build sets them.
func readBuildInfo(version, commit string, bi *debug.BuildInfo) buildInfo {
	out := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return out
	}
	out.Go = bi.GoVersion
	if v := bi.Main.Version; v != "" && v != "(devel)" && version == defaultVersion {
		out.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if out.Commit == "" {
				out.Commit = s.Value
			}
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		case "GOOS":
			out.Platform = s.Value + out.Platform[len(runtime.GOOS):]
		}
	}
	return out
}

// defaultVersion is Version when no -ldflags set it.
const defaultVersion = "0.1.0-dev"

func (e *env) versionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print herd's version, the commit it was built from and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := readBuildInfo(Version, Commit, bi)
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(v)
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			}
			if v.Modified {
				commit += " (modified)"
			}
			if v.Time != "" {
				commit += " of " + v.Time
			}
			_, err := fmt.Fprintf(e.stdout, "herd %s\ncommit %s\n%s %s\n", v.Version, commit, v.Go, v.Platform)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object")
	return c
}
