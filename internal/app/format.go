package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/parse"
)

// HeadBytes is how much of a file's start format detection reads.
const HeadBytes = 64 << 10

// ParseFormat returns the format family called name (a source's format:
// in herd.yaml, --format of replay and explain); "" means detect. "any"
// is refused: provenance cannot be turned off outside tests.
func ParseFormat(name string) (f parse.Family, detect bool, err error) {
	if name == "" {
		return parse.FamilyAny, true, nil
	}
	f, ok := parse.FamilyByName(name)
	if !ok || f == parse.FamilyAny {
		return parse.FamilyAny, false, fmt.Errorf("unknown format %q (known: %s)", name, strings.Join(FormatNames(), ", "))
	}
	return f, false, nil
}

// FormatNames lists the format names ParseFormat accepts, aliases left out.
func FormatNames() []string {
	var out []string
	for _, n := range parse.FamilyNames() {
		if n != "any" {
			out = append(out, n)
		}
	}
	return out
}

// Binding is the format family a stream of lines (a file, standard input)
// is read as: configured, or detected from its first lines and then locked.
type Binding struct {
	Family     parse.Family
	Locked     bool // false while no line could be told apart
	Configured bool // set by herd.yaml or --format, not detected
}

// String says "nginx-error (detected)" or "clf (configured)".
func (b Binding) String() string {
	switch {
	case !b.Locked:
		return "undetected"
	case b.Configured:
		return b.Family.String() + " (configured)"
	}
	return b.Family.String() + " (detected)"
}

// sourceBinding returns the binding a source's configuration imposes: its
// format, else message when it names a program; unlocked when the format
// is to be detected.
func sourceBinding(src *config.Source) (Binding, error) {
	f, detect, err := ParseFormat(src.Format)
	if err != nil {
		return Binding{}, err
	}
	if detect && src.Program != "" {
		return Binding{Family: parse.FamilyMessage, Locked: true, Configured: true}, nil
	}
	return Binding{Family: f, Locked: !detect, Configured: !detect}, nil
}

// lock detects b's family from head when b is not locked yet, and locks it
// when detection gives an answer. It reports whether b is locked.
func (b *Binding) lock(d *Detector, head []byte) bool {
	if b.Locked {
		return true
	}
	if f, ok := d.Detect(head); ok {
		b.Family, b.Locked = f, true
	}
	return b.Locked
}

// readHead returns up to HeadBytes of the start of the file at path.
func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, HeadBytes)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// peekHead returns up to HeadBytes of what r will give, without consuming
// it, and the reader to read from instead of r.
func peekHead(r io.Reader) ([]byte, io.Reader) {
	br := bufio.NewReaderSize(r, HeadBytes)
	head, _ := br.Peek(HeadBytes) // a shorter input gives what there is
	return head, br
}
