package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// frames reads every message of r, recording errors as "!err" entries, and
// stops at the first error that is not ErrOversize.
func frames(r io.Reader, max int) []string {
	f := NewFrameReader(r, max)
	var out []string
	for {
		msg, err := f.Next()
		switch {
		case err == nil:
			out = append(out, string(msg))
			continue
		case errors.Is(err, ErrOversize):
			out = append(out, "!oversize")
			continue
		case err == io.EOF:
			return out
		case errors.Is(err, ErrFraming):
			return append(out, "!framing")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return append(out, "!cut")
		default:
			return append(out, "!"+err.Error())
		}
	}
}

// chunks is a reader that returns its parts one Read at a time, as TCP
// segments arrive.
type chunks struct{ parts []string }

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.parts) > 0 && c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	return n, nil
}

func TestFrameReader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string
		max   int
		want  []string
	}{
		{"lf", []string{"<13>a\n<13>b\r\n<13>c"}, 64, []string{"<13>a", "<13>b", "<13>c"}},
		{"lf split reads", []string{"<13>ab", "c\n<1", "3>d\n"}, 64, []string{"<13>abc", "<13>d"}},
		{"lf empty lines", []string{"<13>a\n\n"}, 64, []string{"<13>a", ""}},
		{"octet", []string{"5 <13>a6 <13>bc"}, 64, []string{"<13>a", "<13>bc"}},
		{"octet count across reads", []string{"1", "1 <13>hello", " w", "8 <13>orl", "d3 ", "<1>"}, 64, []string{"<13>hello w", "<13>orld", "<1>"}},
		{"octet keeps newlines inside", []string{"8 <13>a\nb\n"}, 64, []string{"<13>a\nb\n"}},
		{"octet garbage header", []string{"12x <13>a"}, 64, []string{"!framing"}},
		{"octet leading zero", []string{"5 <13>a05 <13>b"}, 64, []string{"<13>a", "!framing"}},
		{"octet header too long", []string{"1234567890 a"}, 64, []string{"!framing"}},
		{"octet missing length", []string{"5 <13>a <13>b"}, 64, []string{"<13>a", "!framing"}},
		{"octet cut by the end", []string{"10 <13>a"}, 64, []string{"!cut"}},
		{"octet cut in the header", []string{"5 <13>a1"}, 64, []string{"<13>a", "!cut"}},
		{"octet oversize skipped", []string{"12 <13>abcdefgh", "5 <13>x"}, 8, []string{"!oversize", "<13>x"}},
		{"octet oversize across reads", []string{"20 <13>abc", "defghijklmn", "op5 <13>y"}, 8, []string{"!oversize", "<13>y"}},
		{"octet exactly max", []string{"8 <13>abcd"}, 8, []string{"<13>abcd"}},
		{"lf oversize", []string{"<13>abcdefghij\n<13>ok\n"}, 8, []string{"!oversize", "<13>ok"}},
		{"lf oversize across reads", []string{"<13>abc", "defghijklmnopqrstuvwxyz", "0123456789", "\n<13>ok\n"}, 8, []string{"!oversize", "<13>ok"}},
		{"lf exactly max", []string{"<13>abcd\r\n"}, 8, []string{"<13>abcd"}},
		{"lf oversize without newline at the end", []string{"<13>abcdefghijklmnopqrstuvwxyz"}, 8, []string{"!oversize"}},
		{"empty stream", nil, 8, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := frames(&chunks{parts: append([]string(nil), tc.parts...)}, tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// One byte at a time gives the same messages.
			got = frames(iotest.OneByteReader(strings.NewReader(strings.Join(tc.parts, ""))), tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("byte by byte: got %q, want %q", got, tc.want)
			}
		})
	}
}

// endless is a reader of n bytes of 'A' with no newline.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), e.n)
	for i := range p[:k] {
		p[i] = 'A'
	}
	e.n -= k
	return k, nil
}

// TestFrameReaderEndlessLine: a sender that never sends a newline costs
// one oversize count and no memory beyond the fixed buffer; the message
// after its newline gets through.
func TestFrameReaderEndlessLine(t *testing.T) {
	r := io.MultiReader(strings.NewReader("<13>"), &endless{n: 64 << 20}, strings.NewReader("\n<13>next\n"))
	f := NewFrameReader(r, 1024)
	size := cap(f.buf)
	if _, err := f.Next(); !errors.Is(err, ErrOversize) {
		t.Fatalf("first Next: %v, want ErrOversize", err)
	}
	msg, err := f.Next()
	if err != nil || string(msg) != "<13>next" {
		t.Fatalf("second Next: %q, %v", msg, err)
	}
	if cap(f.buf) != size {
		t.Errorf("buffer grew from %d to %d bytes", size, cap(f.buf))
	}
	if _, err := f.Next(); err != io.EOF {
		t.Errorf("third Next: %v, want EOF", err)
	}
}

func TestFrameReaderFraming(t *testing.T) {
	for in, want := range map[string]Framing{"5 <13>a": FramingOctet, "<13>a\n": FramingLF, "x\n": FramingLF} {
		f := NewFrameReader(strings.NewReader(in), 64)
		if f.Framing() != FramingUnknown {
			t.Errorf("%q: framing before reading = %v", in, f.Framing())
		}
		if _, err := f.Next(); err != nil {
			t.Fatal(err)
		}
		if f.Framing() != want {
			t.Errorf("%q: framing %v, want %v", in, f.Framing(), want)
		}
	}
}

// loop is a reader that repeats its data forever.
type loop struct {
	data []byte
	off  int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func TestFrameReaderDoesNotAllocate(t *testing.T) {
	msg := "<38>Nov 23 11:31:39 vm sshd: Failed password"
	for _, data := range []string{msg + "\n", fmt.Sprintf("%d %s", len(msg), msg)} {
		f := NewFrameReader(&loop{data: []byte(data)}, 1024)
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := f.Next(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%q: Next allocates %v times", data, n)
		}
	}
}

func BenchmarkFrameReader(b *testing.B) {
	msg := "<38>Nov 23 11:31:39 vm sshd[4242]: Failed password for root from 203.0.113.7 port 4242 ssh2"
	for name, data := range map[string]string{"lf": msg + "\n", "octet": fmt.Sprintf("%d %s", len(msg), msg)} {
		b.Run(name, func(b *testing.B) {
			f := NewFrameReader(&loop{data: bytes.Repeat([]byte(data), 64)}, DefaultMaxMessage)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
