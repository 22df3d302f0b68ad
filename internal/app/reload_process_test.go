package app_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentReloadsOnSIGHUPProcess runs `herd agent` (built by the test) as
// a child process and reloads it with SIGHUP and with `herd reload`: a
// bucket one failure from overflow survives a SIGHUP that adds an unrelated
// scenario (the next failure bans); a broken rule file sent by SIGHUP is
// refused and logged with its file:line, `herd reload` then exits 1 with
// the same errors, and the rules in force keep banning; once the file is
// removed, `herd reload` succeeds.
func TestAgentReloadsOnSIGHUPProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herd")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build herd with")
	}
	l := newReloadLab(t, "")
	bin := filepath.Join(l.dir, "herd")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/herd-ips/herd/cmd/herd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, logs syncBuffer
	agent := exec.Command(bin, "agent", "--config", l.cfgPath, "--dry-run")
	agent.Stdout, agent.Stderr = &out, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	defer func() {
		if agent.ProcessState == nil {
			agent.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent log:\n%s\nagent output:\n%s", tail(logs.String(), 6000), out.String())
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("agent exited while waiting for %s: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	banned := func(src string) bool { return strings.Contains(out.String(), "ban "+src+"/32 ") }
	hup := func() {
		t.Helper()
		if err := agent.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	reload := func() (int, string, string) {
		t.Helper()
		var o, e strings.Builder
		c := exec.Command(bin, "reload", "--config", l.cfgPath)
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, o.String(), e.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), o.String(), e.String()
		}
		t.Fatalf("herd reload: %v", err)
		return 0, "", ""
	}

	wait("the control socket", func() bool { return strings.Contains(logs.String(), "agent: control socket") })
	// The agent reads the log from its end: fail as a warm-up source until
	// its ban shows the follower is reading.
	wait("the warm-up ban", func() bool {
		l.fail(t, "192.0.2.20", 1)
		return banned("192.0.2.20")
	})

	l.fail(t, "192.0.2.10", 3) // A: 3 of 3
	l.fail(t, "192.0.2.11", 4) // B: banned once A's lines are read
	wait("B's ban", func() bool { return banned("192.0.2.11") })
	if banned("192.0.2.10") {
		t.Fatal("A banned before its 4th failure")
	}
	l.writeRule(t, "unrelated.yaml", unrelatedRules)
	hup()
	wait("the reload", func() bool { return strings.Contains(logs.String(), "agent: reloaded") })
	if !strings.Contains(logs.String(), "reload-unrelated") {
		t.Errorf("the reload's log does not name the fresh scenario")
	}
	l.fail(t, "192.0.2.10", 1)
	wait("A's ban on its 4th failure, after SIGHUP", func() bool { return banned("192.0.2.10") })

	l.writeRule(t, "zz-broken.yaml", brokenRules)
	broken := filepath.Join(l.rulesDir, "zz-broken.yaml")
	hup()
	wait("the refusal", func() bool { return strings.Contains(logs.String(), "reload refused") })
	if !strings.Contains(logs.String(), broken+":7)") {
		t.Errorf("the refusal's log does not name %s:7", broken)
	}
	code, _, errOut := reload()
	if code != 1 || !strings.Contains(errOut, broken+":7)") || !strings.Contains(errOut, broken+":9)") {
		t.Errorf("herd reload of a broken rule set: exit %d, stderr %q; want 1 naming lines 7 and 9", code, errOut)
	}
	l.fail(t, "192.0.2.12", 5)
	wait("C's ban by the rules still in force", func() bool { return banned("192.0.2.12") })

	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	code, stdout, errOut := reload()
	if code != 0 || !strings.Contains(stdout, "reloaded: ") {
		t.Errorf("herd reload: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}

	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop within 20s of SIGTERM")
	}
	if _, err := os.Stat(l.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
}
