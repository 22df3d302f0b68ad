package lines

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	var got []string
	for {
		b, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		max       int
		want      []string
		truncated uint64
	}{
		{"plain", "a\nbb\nccc\n", 0, []string{"a", "bb", "ccc"}, 0},
		{"no final newline", "a\nb", 0, []string{"a", "b"}, 0},
		{"crlf", "a\r\nb\r\n", 0, []string{"a", "b"}, 0},
		{"empty lines kept", "\n\nx\n", 0, []string{"", "", "x"}, 0},
		{"empty input", "", 0, nil, 0},
		{"overlong cut, not split", "0123456789abc\nnext\n", 8, []string{"01234567", "next"}, 1},
		{"overlong at end", "short\n0123456789abcdefghij", 8, []string{"short", "01234567"}, 1},
		{"exactly max", "01234567\nx\n", 8, []string{"01234567", "x"}, 0},
		{"nul and invalid utf8 pass", "a\x00b\xff\n", 0, []string{"a\x00b\xff"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), tt.max)
			got := readAll(t, r)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if r.Truncated != tt.truncated {
				t.Errorf("Truncated = %d, want %d", r.Truncated, tt.truncated)
			}
			if r.Bytes != int64(len(tt.in)) {
				t.Errorf("Bytes = %d, want %d", r.Bytes, len(tt.in))
			}
		})
	}
}

// An attacker who writes a line of many megabytes gets one cut record: the
// text after the cut never becomes a line of its own.
func TestReaderHugeLineIsOneRecord(t *testing.T) {
	huge := strings.Repeat("A", 1<<20) + "Failed password for root from 10.9.9.9 port 22 ssh2\nreal\n"
	r := NewReader(strings.NewReader(huge), 1024)
	got := readAll(t, r)
	if len(got) != 2 || got[1] != "real" || len(got[0]) != 1024 {
		t.Fatalf("got %d lines (first %d bytes), want the cut line and \"real\"", len(got), len(got[0]))
	}
}

func TestReaderNoAlloc(t *testing.T) {
	data := bytes.Repeat([]byte("Nov 23 08:14:48 web1 sshd[12345]: Failed password for root from 192.0.2.1 port 22 ssh2\n"), 1000)
	r := NewReader(bytes.NewReader(data), 0)
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Next allocates %.1f times per line", allocs)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n"), 4)
	f.Add([]byte("0123456789\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 16
		}
		r := NewReader(bytes.NewReader(data), max)
		var n int
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > max {
				t.Fatalf("line of %d bytes exceeds max %d", len(b), max)
			}
			if bytes.IndexByte(b, '\n') >= 0 {
				t.Fatal("line contains a newline")
			}
			n++
		}
		if want := bytes.Count(data, []byte("\n")); n < want || n > want+1 {
			t.Fatalf("%d lines from %d newlines", n, want)
		}
		if r.Bytes != int64(len(data)) {
			t.Fatalf("consumed %d of %d bytes", r.Bytes, len(data))
		}
	})
}

func BenchmarkReader(b *testing.B) {
	data := bytes.Repeat([]byte("Nov 23 08:14:48 web1 sshd[12345]: Failed password for root from 192.0.2.1 port 22 ssh2\n"), 10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
