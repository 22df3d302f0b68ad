package detect

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
	Locked     bool // false while the stream has shown no line
	Configured bool // set by herd.yaml or --format, not detected
	// Unknown: the stream's first line is a record of no known format, so
	// none of its lines is parsed (parse.Parser.Detect).
	Unknown bool
}

// String says "nginx-error (detected)", "clf (configured)", "unknown" or
// "undetected" (nothing read yet).
func (b Binding) String() string {
	switch {
	case !b.Locked:
		return "undetected"
	case b.Unknown:
		return "unknown (detected)"
	case b.Configured:
		return b.Family.String() + " (configured)"
	}
	return b.Family.String() + " (detected)"
}

// SourceBinding returns the binding a source's configuration imposes: its
// format, else message when it names a program; unlocked when the format
// is to be detected.
func SourceBinding(format, program string) (Binding, error) {
	f, detect, err := ParseFormat(format)
	if err != nil {
		return Binding{}, err
	}
	if detect && program != "" {
		return Binding{Family: parse.FamilyMessage, Locked: true, Configured: true}, nil
	}
	return Binding{Family: f, Locked: !detect, Configured: !detect}, nil
}

// Lock detects b's family from head, the start of its stream, when b is
// not locked yet, and locks it once head shows a line: the first line
// decides (parse.Parser.Detect), and a first line of no known format locks
// b as Unknown. It reports whether b is locked.
func (b *Binding) Lock(d Detecter, head []byte) bool {
	if b.Locked {
		return true
	}
	if !parse.HeadLines(head) {
		return false
	}
	f, ok := d.Detect(head)
	b.Family, b.Locked, b.Unknown = f, true, !ok
	return true
}

// Detecter tells a file's format from its head: *Detector, *parse.Parser.
type Detecter interface {
	Detect(head []byte) (parse.Family, bool)
}

// ReadHead returns up to HeadBytes of the start of the file at path.
func ReadHead(path string) ([]byte, error) {
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

// PeekHead returns up to HeadBytes of what r will give, without consuming
// it, and the reader to read from instead of r.
func PeekHead(r io.Reader) ([]byte, io.Reader) {
	br := bufio.NewReaderSize(r, HeadBytes)
	head, _ := br.Peek(HeadBytes) // a shorter input gives what there is
	return head, br
}
