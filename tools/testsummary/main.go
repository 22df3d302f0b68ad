// Command testsummary reads `go test -json` on standard input and prints
// what a person running the whole suite needs: each package's result line
// as go test prints it, every skipped test with the reason it gave, and
// the whole output of every failed test. It exits 1 when a test or a
// package failed (or when the input holds no test at all), 0 otherwise.
//
//	go test -count=1 -json ./... | go run ./tools/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type testKey struct{ pkg, test string }

// summary accumulates the events of one run.
type summary struct {
	out              io.Writer
	outputs          map[testKey][]string // output of tests still running
	passed, skipped  int
	failed           int
	pkgFailed        int
	skips            []string
	sawPackageResult bool
}

func newSummary(w io.Writer) *summary {
	return &summary{out: w, outputs: map[testKey][]string{}}
}

func (s *summary) add(ev testEvent) {
	k := testKey{ev.Package, ev.Test}
	switch ev.Action {
	case "output":
		if ev.Test == "" {
			// Package-level lines: print the result lines (ok, FAIL,
			// "no test files") and anything a failing package printed.
			line := ev.Output
			if strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "?") ||
				strings.HasPrefix(line, "panic:") || strings.Contains(line, "[build failed]") || strings.Contains(line, "[setup failed]") {
				fmt.Fprint(s.out, line)
			} else {
				s.outputs[k] = append(s.outputs[k], line)
			}
			return
		}
		s.outputs[k] = append(s.outputs[k], ev.Output)
	case "pass":
		if ev.Test != "" {
			s.passed++
		} else {
			s.sawPackageResult = true
		}
		delete(s.outputs, k)
	case "skip":
		if ev.Test == "" {
			s.sawPackageResult = true
			delete(s.outputs, k)
			return
		}
		s.skipped++
		s.skips = append(s.skips, skipReason(ev.Package, ev.Test, s.outputs[k]))
		delete(s.outputs, k)
	case "fail":
		if ev.Test == "" {
			s.sawPackageResult = true
			s.pkgFailed++
			for _, l := range s.outputs[k] {
				fmt.Fprint(s.out, l)
			}
		} else {
			s.failed++
			fmt.Fprintf(s.out, "=== FAIL %s %s\n", ev.Package, ev.Test)
			for _, l := range s.outputs[k] {
				fmt.Fprint(s.out, l)
			}
		}
		delete(s.outputs, k)
	}
}

// skipReason makes one line of a skipped test's output: the package, the
// test and what it said (t.Skip's message), without go test's framing.
func skipReason(pkg, test string, out []string) string {
	var msg []string
	for _, l := range out {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, t)
	}
	return fmt.Sprintf("%s %s: %s", pkg, test, strings.Join(msg, " / "))
}

// finish prints the skips and the totals and says whether the run passed.
func (s *summary) finish() bool {
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "== %d skipped tests, with their reasons\n", len(s.skips))
		for _, l := range s.skips {
			fmt.Fprintf(s.out, "SKIP %s\n", l)
		}
	}
	fmt.Fprintf(s.out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if s.failed > 0 || s.pkgFailed > 0 {
		return false
	}
	if s.passed == 0 || !s.sawPackageResult {
		fmt.Fprintln(s.out, "testsummary: no test ran")
		return false
	}
	return true
}

func run(in io.Reader, out io.Writer) bool {
	s := newSummary(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev testEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// Not an event: a build error printed by go itself.
			fmt.Fprintln(out, sc.Text())
			s.pkgFailed++
			continue
		}
		s.add(ev)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading: %v\n", err)
		return false
	}
	return s.finish()
}

func main() {
	if !run(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}
