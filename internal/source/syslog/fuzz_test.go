package syslog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzFrameReader checks that framing never panics, never returns a
// message over the limit, and does not depend on how the stream is cut into
// reads (whole, byte by byte, or at the fuzzer's split points).
func FuzzFrameReader(f *testing.F) {
	for _, s := range []string{
		"5 <13>a6 <13>bc", "<13>a\n<13>b\r\n<13>c", "12x <13>a", "20 <13>abc", "<13>abcdefghijklmnop\nok\n",
		"0 ", "999999999 x", "1 x1 y", "\n\n\n", "3 ab",
	} {
		f.Add([]byte(s), uint8(8), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, max, split uint8) {
		m := int(max)%64 + 1
		whole := frames(bytes.NewReader(data), m)
		for _, msg := range whole {
			if !strings.HasPrefix(msg, "!") && len(msg) > m {
				t.Fatalf("message of %d bytes over the limit %d", len(msg), m)
			}
		}
		one := frames(iotest.OneByteReader(bytes.NewReader(data)), m)
		if strings.Join(one, "\x00|") != strings.Join(whole, "\x00|") {
			t.Fatalf("byte by byte %q, whole %q", one, whole)
		}
		var parts []string
		for rest, k := string(data), int(split)%7+1; len(rest) > 0; k = k%7 + 1 {
			n := min(k, len(rest))
			parts, rest = append(parts, rest[:n]), rest[n:]
		}
		cut := frames(&chunks{parts: parts}, m)
		if strings.Join(cut, "\x00|") != strings.Join(whole, "\x00|") {
			t.Fatalf("in reads %q: %q, whole %q", parts, cut, whole)
		}
	})
}

// FuzzAppendLine checks that decoding never panics, that a line holds no
// control byte, that it is bounded, and that a refused message leaves the
// destination as it was.
func FuzzAppendLine(f *testing.F) {
	for _, s := range []string{
		"<38>Nov 23 11:31:39 vm sshd: Failed password", "<38>1 - - sshd 7111 - - m", "<38>1 -", "<38>1 ",
		"<86>2026-11-23T11:31:39.1+01:00 vm sshd[7]: m", "sshd[1]: x", "<192>x", "<1", "\x00", "<13>a\nb",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		dst := []byte("x")
		out, err := AppendLine(dst, msg, recvTime, time.UTC)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || string(out) != "x" {
				t.Fatalf("refused %q: %q, %v", msg, out, err)
			}
			return
		}
		line := out[1:]
		if len(line) == 0 || len(line) > lineCap(len(msg)) {
			t.Fatalf("%q: line of %d bytes", msg, len(line))
		}
		for _, c := range line {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("%q: control byte %#x in %q", msg, c, line)
			}
		}
	})
}

var _ io.Reader = (*chunks)(nil)
