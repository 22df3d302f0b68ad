package app_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
)

// An agent whose configured log is missing says so at start, and an agent
// left with nothing to follow says that first.
func TestAgentWarnsOfSourcesItCannotRead(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.log")
	cfg := testConfig(dir, missing)
	r := startAgent(t, app.AgentOptions{Config: cfg, DryRun: true})
	wants := []string{
		`level=WARN msg="agent: follows nothing now: none of the configured inputs can be read (below)"`,
		`level=WARN msg="agent: ` + missing + `: missing (the agent waits for it to appear)"`,
	}
	// The agent is ready before its sources start (and warn): wait for them.
	logs := r.logs.String()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); logs = r.logs.String() {
		if strings.Contains(logs, wants[0]) && strings.Contains(logs, wants[1]) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the agent's log:\n%s", want, logs)
		}
	}
}
