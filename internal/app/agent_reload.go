package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// ReloadResult is what one reload of the rules and the configuration did
// (herd reload prints it; the agent logs it).
type ReloadResult struct {
	// OK is false when the reload was refused: the rules or the
	// configuration in force keep running, and Errors say why, each with
	// its file:line.
	OK     bool     `json:"ok"`
	Errors []string `json:"errors,omitempty"`
	// Applied are the configuration keys whose change took effect.
	Applied []string `json:"applied,omitempty"`
	// NeedsRestart are the configuration keys whose change cannot apply
	// to a running agent (listen addresses, sources, the database, ...):
	// the agent keeps their old value until it is restarted.
	NeedsRestart []string `json:"needs_restart,omitempty"`
	// Kept are the scenarios whose spec is unchanged: their live buckets
	// carried on. Fresh are the new or changed ones, which start empty;
	// Dropped the scenarios no longer defined.
	Kept    []string `json:"kept,omitempty"`
	Fresh   []string `json:"fresh,omitempty"`
	Dropped []string `json:"dropped,omitempty"`
	// Buckets is how many live buckets carried on.
	Buckets int `json:"buckets"`
}

// reloader serializes the reloads of one agent (SIGHUP and herd reload may
// come at once) and remembers the configuration in force.
type reloader struct {
	mu      sync.Mutex
	running *config.Config // the configuration whose live keys are in force
}

// liveKeys are the configuration keys a running agent applies at a reload:
// they only shape the detector, which is rebuilt.
var liveKeys = map[string]bool{
	"RulesDir":         true,
	"Simulate":         true,
	"Timezone":         true,
	"JSONClientFields": true,
	"AlertLinesBytes":  true,
}

// reload reads the configuration file and the rules again and, when both
// are sound, puts a detector built from them in place of the running one
// between two lines (detect.Pipeline.Swap): scenarios whose spec is
// unchanged keep their live buckets. A configuration or rule set with an
// error is refused whole, the old one running on. why says what asked
// ("SIGHUP", "herd reload") for the log.
func (a *agent) reload(why string) ReloadResult {
	a.rl.mu.Lock()
	defer a.rl.mu.Unlock()
	res := a.reloadLocked()
	if !res.OK {
		a.log.Error("agent: reload refused; the rules and configuration in force keep running", "by", why, "errors", strings.Join(res.Errors, "; "))
		return res
	}
	a.log.Info("agent: reloaded", "by", why, "scenarios_kept", len(res.Kept), "scenarios_fresh", res.Fresh,
		"scenarios_dropped", res.Dropped, "buckets_kept", res.Buckets, "applied", res.Applied)
	if len(res.NeedsRestart) > 0 {
		a.log.Warn("agent: configuration changes that need a restart were not applied", "keys", res.NeedsRestart)
	}
	return res
}

func (a *agent) reloadLocked() ReloadResult {
	refuse := func(err error) ReloadResult {
		return ReloadResult{Errors: errorLines(err)}
	}
	running := a.rl.running
	if running == nil {
		running = a.cfg
	}
	next, err := a.readConfig()
	if err != nil {
		return refuse(err)
	}
	applied, restart := configChanges(a.cfg, running, next)
	if a.syslog != nil && next.Timezone != a.cfg.Timezone {
		// The syslog receiver was given the zone when it started.
		restart = append(restart, "timezone (of the syslog receiver; files and the journal use the new one)")
	}
	// What the new detector is built from: the configuration in force
	// with the live keys of the new one.
	cfg := *running
	cfg.RulesDir, cfg.Simulate, cfg.Timezone = next.RulesDir, next.Simulate, next.Timezone
	cfg.JSONClientFields, cfg.AlertLinesBytes = next.JSONClientFields, next.AlertLinesBytes
	det, err := a.detectorFor(&cfg)
	if err != nil {
		return refuse(err)
	}
	ad, _ := a.pipe.Swap(det)
	a.det = det
	a.rl.running = &cfg
	return ReloadResult{OK: true, Applied: applied, NeedsRestart: restart,
		Kept: ad.Kept, Fresh: ad.Fresh, Dropped: ad.Dropped, Buckets: ad.Buckets}
}

// readConfig reads the configuration the agent started with again: its
// file, or the built-in defaults when it had none.
func (a *agent) readConfig() (*config.Config, error) {
	var c *config.Config
	if a.cfg.File == "" {
		c = config.Default()
	} else {
		var err error
		if c, err = config.Load(a.cfg.File); err != nil {
			return nil, err
		}
	}
	if a.o.Stdin != nil {
		c = c.StdinOnly()
	}
	return c, nil
}

// configChanges compares next with the configuration in force: the live
// keys that changed since running (applied) and the other keys that
// differ from started, the configuration the agent started with (they
// need a restart). Keys are named as in herd.yaml; the lines where values
// were written do not count.
func configChanges(started, running, next *config.Config) (applied, restart []string) {
	s, r, n := reflect.ValueOf(*started), reflect.ValueOf(*running), reflect.ValueOf(*next)
	t := s.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "File" {
			continue
		}
		if liveKeys[f.Name] {
			if !reflect.DeepEqual(withoutLines(r.Field(i)), withoutLines(n.Field(i))) {
				applied = append(applied, yamlKey(f.Name))
			}
			continue
		}
		if !reflect.DeepEqual(withoutLines(s.Field(i)), withoutLines(n.Field(i))) {
			restart = append(restart, yamlKey(f.Name))
		}
	}
	return applied, restart
}

// yamlKey names a Config field as herd.yaml does.
func yamlKey(field string) string {
	switch field {
	case "RulesDir":
		return "rules_dir"
	case "JSONClientFields":
		return "json_client_fields"
	case "AlertLinesBytes":
		return "alert_lines_bytes"
	case "ControlSocket":
		return "control_socket"
	}
	return strings.ToLower(field)
}

// withoutLines returns a copy of v in which every int field named Line (where
// a value was written in herd.yaml) is zero, as an interface for DeepEqual.
func withoutLines(v reflect.Value) any {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	zeroLines(c)
	return c.Interface()
}

func zeroLines(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).Name == "Line" && v.Field(i).Kind() == reflect.Int && v.Field(i).CanSet() {
				v.Field(i).SetInt(0)
				continue
			}
			if v.Field(i).CanSet() {
				zeroLines(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			zeroLines(c.Index(i))
		}
		v.Set(c)
	}
}

// errorLines splits a joined error into its lines, one problem each.
func errorLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		for _, l := range strings.Split(err.Error(), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	walk(err)
	return out
}

// reloadOnSignal reloads the rules and the configuration at each signal of
// the agent's Reload channel (SIGHUP), then lets the TLS listeners read
// their certificates again.
func (a *agent) reloadOnSignal(ctx context.Context) error {
	tls := make(chan os.Signal, 1)
	go func() { _ = tlsfiles.ReloadOn(ctx, tls, a.tlsServers, a.log) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-a.o.Reload:
			a.reload("SIGHUP")
			select {
			case tls <- s:
			default: // one pending is enough
			}
		}
	}
}

// ControlRequest is the one line herd reload writes on the control socket.
const ControlRequest = "reload\n"

// startControl opens the control socket (config control_socket) through
// which herd reload asks for a reload. The socket is created with mode 0600
// in a directory herd creates with mode 0700, and each connection's peer
// credentials are checked: only root and the agent's own user are answered.
// A socket that cannot be opened is logged, not fatal: SIGHUP still
// reloads.
func (a *agent) startControl(context.Context) (func(), error) {
	path := a.cfg.ControlSocket
	if path == "" {
		return nil, nil
	}
	ln, err := listenControl(path)
	if err != nil {
		a.log.Warn("agent: no control socket; herd reload cannot reach this agent (SIGHUP still reloads)", "path", path, "err", err)
		return nil, nil
	}
	a.log.Info("agent: control socket", "path", path)
	a.run(func(ctx context.Context) error { return a.serveControl(ctx, ln) })
	return func() {
		ln.Close()
		os.Remove(path)
	}, nil
}

// listenControl listens on the Unix socket at path: an old socket that no
// agent answers on any more is replaced; one that answers is left alone.
func listenControl(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, errors.New("another agent answers on it")
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	return ln, nil
}

// serveControl answers the control socket's connections until ctx ends.
func (a *agent) serveControl(ctx context.Context, ln *net.UnixListener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("agent: control socket: %w", err)
		}
		go a.answerControl(c)
	}
}

// answerControl reads one request from c and writes the result as JSON.
func (a *agent) answerControl(c *net.UnixConn) {
	defer c.Close()
	if uid, err := peerUID(c); err != nil || (uid != 0 && uid != os.Getuid()) {
		a.log.Warn("agent: control socket: connection refused", "uid", uid, "err", err)
		return
	}
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil || line != ControlRequest {
		_ = json.NewEncoder(c).Encode(ReloadResult{Errors: []string{fmt.Sprintf("control socket: unknown request %q", line)}})
		return
	}
	_ = json.NewEncoder(c).Encode(a.reload("herd reload"))
}

// peerUID returns the user id of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

// Reload asks the agent that answers on the control socket at path to
// reload its rules and configuration (herd reload), and returns what it
// did.
func Reload(ctx context.Context, path string) (ReloadResult, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload: no agent answers on %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, ControlRequest); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %s: %w", path, err)
	}
	var res ReloadResult
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&res); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %s: reading the answer: %w", path, err)
	}
	return res, nil
}
