package main

import (
	"strings"
	"testing"
)

func events(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestSkipReasonsAndResultLines(t *testing.T) {
	in := events(
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: needs root\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"chatter of a passing test\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}`,
		`{"Action":"pass","Package":"p"}`,
	)
	var out strings.Builder
	if !run(strings.NewReader(in), &out) {
		t.Fatalf("a run with one pass and one skip failed:\n%s", out.String())
	}
	got := out.String()
	for _, want := range []string{"ok  \tp\t0.01s\n", "SKIP p TestA: a_test.go:9: needs root\n", "1 passed, 0 failed, 1 skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "chatter") {
		t.Errorf("a passing test's output was printed:\n%s", got)
	}
}

func TestFailurePrintsItsOutput(t *testing.T) {
	in := events(
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}`,
		`{"Action":"fail","Package":"p"}`,
	)
	var out strings.Builder
	if run(strings.NewReader(in), &out) {
		t.Fatalf("a failing run passed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "c_test.go:3: got 1, want 2") || !strings.Contains(out.String(), "0 passed, 1 failed") {
		t.Errorf("failure output missing:\n%s", out.String())
	}
}

func TestNoTestIsAFailure(t *testing.T) {
	var out strings.Builder
	if run(strings.NewReader(""), &out) {
		t.Fatal("an empty run passed")
	}
	in := events(`{"Action":"output","Package":"q","Output":"?   \tq\t[no test files]\n"}`, `{"Action":"skip","Package":"q"}`)
	out.Reset()
	if run(strings.NewReader(in), &out) {
		t.Fatalf("a run of packages without tests passed:\n%s", out.String())
	}
}

func TestBuildErrorFails(t *testing.T) {
	in := "# p\n./a.go:1:1: syntax error\n" + events(`{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}`, `{"Action":"fail","Package":"p"}`)
	var out strings.Builder
	if run(strings.NewReader(in), &out) {
		t.Fatal("a build failure passed")
	}
	if !strings.Contains(out.String(), "syntax error") {
		t.Errorf("the compiler's message is lost:\n%s", out.String())
	}
}
