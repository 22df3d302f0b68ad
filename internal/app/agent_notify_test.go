package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herd-ips/herd/internal/config"
)

func TestAgentNotifiesDecisions(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := &config.Config{
		Database:      config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "herd.db")},
		Timezone:      "UTC",
		Notifications: []config.Notification{{Name: "hook", Type: "webhook", URL: srv.URL}},
	}
	var lines strings.Builder
	for i := range 6 {
		// The user name is attacker text: a JSON breakout attempt.
		fmt.Fprintf(&lines, "Failed password for invalid user x\"}],\"a\":{\" from 192.0.2.77 port %d ssh2\n", 40000+i)
	}
	logs := runStdinAgent(t, cfg, lines.String())
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) == 0 {
		t.Fatalf("no notification sent\n%s", logs)
	}
	var got struct {
		Source   string
		Decision struct{ Type, Scope string }
		Lines    []string
	}
	if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil {
		t.Fatalf("notification is not JSON: %v\n%s", err, bodies[0])
	}
	if got.Source != "192.0.2.77" || got.Decision.Type != "ban" || got.Decision.Scope != "192.0.2.77/32" {
		t.Errorf("notification %s", bodies[0])
	}
	if len(got.Lines) == 0 || !strings.Contains(got.Lines[0], `x"}],"a":{"`) {
		t.Errorf("lines %q", got.Lines)
	}
}
