package sensor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Fingerprints is a list of client fingerprints (JA3 and HASSH as MD5 hex,
// JA4 as printed) known to belong to attack tools. Its file has one entry a
// line, "ja3|ja4|hassh FINGERPRINT [label...]"; # starts a comment.
type Fingerprints struct {
	m map[string]string
}

// LoadFingerprints reads a fingerprint file.
func LoadFingerprints(path string) (*Fingerprints, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sensor: %w", err)
	}
	defer f.Close()
	return ParseFingerprints(path, f)
}

// ParseFingerprints reads a fingerprint list from r; name is used in errors.
func ParseFingerprints(name string, r io.Reader) (*Fingerprints, error) {
	fp := &Fingerprints{m: map[string]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(string(line))
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 2 {
			return nil, fmt.Errorf("%s:%d: want KIND FINGERPRINT [LABEL]", name, n)
		}
		switch fs[0] {
		case "ja3", "hassh":
			if len(fs[1]) != 32 || strings.Trim(fs[1], "0123456789abcdef") != "" {
				return nil, fmt.Errorf("%s:%d: %s fingerprint %q is not 32 lowercase hex digits", name, n, fs[0], fs[1])
			}
		case "ja4":
			if len(fs[1]) != 36 || fs[1][10] != '_' || fs[1][23] != '_' {
				return nil, fmt.Errorf("%s:%d: ja4 fingerprint %q is not of the form t13d1516h2_8daaf6152771_e5627efa2ab1", name, n, fs[1])
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown fingerprint kind %q (ja3, ja4, hassh)", name, n, fs[0])
		}
		fp.m[fs[1]] = strings.Join(fs[2:], " ")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return fp, nil
}

// Has reports whether fingerprint s is listed.
func (f *Fingerprints) Has(s string) bool {
	if f == nil || s == "" {
		return false
	}
	_, ok := f.m[s]
	return ok
}

// Len returns the number of fingerprints listed.
func (f *Fingerprints) Len() int {
	if f == nil {
		return 0
	}
	return len(f.m)
}
