package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// ReadSecretFile reads a file holding a secret (a machine password, a
// bouncer key), refusing one that users other than its owner and group may
// read; what names its configuration key in errors.
func ReadSecretFile(what, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s %s is readable by every user (mode %v); chmod o-r it", what, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	pw := string(bytes.TrimSpace(b))
	if pw == "" {
		return "", fmt.Errorf("%s %s is empty", what, path)
	}
	return pw, nil
}
