package query_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-ips/herd/internal/query"
)

// A file redirected to standard input ("-") has its size known, for the
// progress bar; a pipe has none.
func TestOpenInputsStdinSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(p, []byte(strings.Repeat("x\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ins, _, err := query.OpenInputs([]string{"-"}, f)
	if err != nil || len(ins) != 1 || ins[0].Size != 2000 || !ins[0].ModTime.IsZero() {
		t.Errorf("a file as standard input: %+v, %v; want size 2000 and no time", ins, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if ins, _, _ := query.OpenInputs([]string{"-"}, r); ins[0].Size != -1 {
		t.Errorf("a pipe as standard input: size %d, want -1", ins[0].Size)
	}
	if ins, _, _ := query.OpenInputs([]string{"-"}, strings.NewReader("x")); ins[0].Size != -1 {
		t.Errorf("a reader as standard input: size %d, want -1", ins[0].Size)
	}
}
