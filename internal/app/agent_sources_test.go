package app_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/app"
)

// An agent whose configured log is missing says so at start, and an agent
// left with nothing to follow says that first.
func TestAgentWarnsOfSourcesItCannotRead(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.log")
	cfg := testConfig(dir, missing)
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	logs := r.logs.String()
	for _, want := range []string{
		`level=WARN msg="agent: follows nothing now: none of the configured inputs can be read (below)"`,
		`level=WARN msg="agent: ` + missing + `: missing (the agent waits for it to appear)"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the agent's log:\n%s", want, logs)
		}
	}
}
