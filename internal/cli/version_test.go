package cli

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "vcs.revision", Value: "9cab153f"}, {Key: "vcs.time", Value: "2026-12-07T02:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            buildInfo
	}{
		{"no build info", defaultVersion, "", nil, buildInfo{Version: defaultVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}},
		{"a checkout", defaultVersion, "", vcs, buildInfo{Version: defaultVersion, Commit: "9cab153f", Time: "2026-12-07T02:00:00Z", Modified: true, Go: "go1.26.8", Platform: "linux/" + runtime.GOARCH}},
		{"ldflags win", "1.2.3", "abc", vcs, buildInfo{Version: "1.2.3", Commit: "abc", Time: "2026-12-07T02:00:00Z", Modified: true, Go: "go1.26.8", Platform: "linux/" + runtime.GOARCH}},
		{"go install at a tag", defaultVersion, "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, buildInfo{Version: "v1.4.0", Go: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH}},
	} {
		if got := readBuildInfo(tc.version, tc.commit, tc.bi); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, errOut := run(t, "", "version")
	if lines := strings.Split(out, "\n"); code != ExitOK || len(lines) != 4 || lines[0] != "herd "+Version || !strings.HasPrefix(lines[1], "commit ") || !strings.HasPrefix(lines[2], "go1.") {
		t.Errorf("version: exit %d %q %s", code, out, errOut)
	}
	code, out, _ = run(t, "", "version", "--json")
	var v buildInfo
	if err := json.Unmarshal([]byte(out), &v); code != ExitOK || err != nil || v.Version != Version || v.Go == "" {
		t.Errorf("version --json: exit %d %v %q", code, err, out)
	}
}
