package herd_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// clockFree lists the functions of package time that read or wait on the
// system clock. Outside the places below, code takes a clock.Clock (nil =
// clock.Real) so that tests and replays drive it.
var clockFree = map[string]bool{
	"Now": true, "Since": true, "Until": true, "After": true, "AfterFunc": true,
	"NewTicker": true, "NewTimer": true, "Tick": true, "Sleep": true,
}

// systemClockOK lists the trees that may use the system clock: the clock
// package itself, and the programs and tools that run beside herd. The
// composition root (app), the command line (cli) and its commands (query)
// take a clock.Clock like every stage; cli.Main passes clock.Real.
var systemClockOK = []string{"internal/clock", "cmd", "tools"}

// deadlineOK lists, by file and function, the few places outside those
// trees that read time.Now, each with its reason. Only time.Now is allowed
// there, never a timer or a sleep; an entry that matches nothing fails the
// test, so the list cannot outlive its code.
var deadlineOK = map[string]string{
	"internal/herdtest/netns.go:Dial":             "socket deadline: the kernel's poller compares it with the system clock",
	"internal/herdtest/tlscert.go:Certificate":    "test certificates: crypto/tls checks validity against the system clock",
	"internal/source/journald/journald.go:once":   "socket deadline of now: ends a pipe read when the context ends",
	"internal/source/syslog/syslog.go:Read":       "socket deadline: idle timeout of a TCP read",
	"internal/hub/blocklist/server.go:writeFrame": "socket deadline: write timeout of the push stream",
	"internal/lapi/push.go:push":                  "socket deadline: write timeout of the push stream",
	"internal/lapi/lapi.go:flush":                 "socket deadline: write timeout of a decision stream",
	"internal/lapi/forwardauth_listen.go:faConn":  "socket deadline: idle, header and write timeouts of a forward-auth connection",
	"internal/lapi/forwardauth_listen.go:refuse":  "socket deadline: write and drain timeouts of a refused forward-auth connection",
}

// TestTimeIsInjected fails on any use of the system clock (time.Now,
// time.After, time.NewTicker and the rest of clockFree, called or passed as
// a value) in non-test code outside systemClockOK and deadlineOK.
func TestTimeIsInjected(t *testing.T) {
	used := map[string]bool{}
	walkGo(t, func(path string, fset *token.FileSet, f *ast.File) {
		for _, ok := range systemClockOK {
			if path == ok || strings.HasPrefix(path, ok+"/") {
				return
			}
		}
		timeName := importName(f, "time")
		if timeName == "" {
			return
		}
		for _, d := range f.Decls {
			fn := declName(d)
			ast.Inspect(d, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok || x.Name != timeName || !clockFree[sel.Sel.Name] {
					return true
				}
				key := path + ":" + fn
				if _, listed := deadlineOK[key]; listed && sel.Sel.Name == "Now" {
					used[key] = true
					return true
				}
				t.Errorf("%s: %s uses time.%s; take a clock.Clock through Options (nil = clock.Real), or, for a socket deadline, add %q to deadlineOK with its reason",
					fset.Position(sel.Pos()), fn, sel.Sel.Name, key)
				return true
			})
		}
	})
	var stale []string
	for k := range deadlineOK {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("deadlineOK names %s, which no longer reads time.Now; remove the entry", k)
	}
}

// TestDeadlinesUseTheSystemClock hunts the opposite mistake: a socket
// deadline computed from an injected clock. The poller compares deadlines
// with the system clock, so one taken from a fake or replayed time fires at
// once or never. Every Set*Deadline argument must be time.Now()-based or
// the zero time.Time{} (no deadline).
func TestDeadlinesUseTheSystemClock(t *testing.T) {
	walkGo(t, func(path string, fset *token.FileSet, f *ast.File) {
		timeName := importName(f, "time")
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "SetDeadline", "SetReadDeadline", "SetWriteDeadline":
			default:
				return true
			}
			if timeName != "" && systemTime(call.Args[0], timeName) {
				return true
			}
			t.Errorf("%s: %s argument is not time.Now()-based or time.Time{}: a deadline from an injected clock is compared with the system clock",
				fset.Position(call.Pos()), sel.Sel.Name)
			return true
		})
	})
}

// systemTime reports whether e is time.Now(), time.Now().Add(...) or
// time.Time{}.
func systemTime(e ast.Expr, timeName string) bool {
	isTime := func(e ast.Expr, name string) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := s.X.(*ast.Ident)
		return ok && x.Name == timeName && s.Sel.Name == name
	}
	switch e := e.(type) {
	case *ast.CompositeLit:
		return isTime(e.Type, "Time") && len(e.Elts) == 0
	case *ast.CallExpr:
		if isTime(e.Fun, "Now") {
			return true
		}
		if s, ok := e.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Add" {
			if inner, ok := s.X.(*ast.CallExpr); ok && isTime(inner.Fun, "Now") {
				return true
			}
		}
	}
	return false
}

// walkGo calls fn with every non-test Go file of the module, by its
// slash-separated path.
func walkGo(t *testing.T, fn func(path string, fset *token.FileSet, f *ast.File)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bench-results") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(filepath.ToSlash(path), fset, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// importName returns the name under which f imports path, or "".
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndex(path, "/")+1:]
		}
	}
	return ""
}

// declName names a declaration for error messages and deadlineOK keys.
func declName(d ast.Decl) string {
	if fd, ok := d.(*ast.FuncDecl); ok {
		return fd.Name.Name
	}
	return "(package level)"
}
