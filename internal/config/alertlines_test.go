package config

import (
	"strings"
	"testing"
)

func TestAlertLinesBytes(t *testing.T) {
	c, err := parse("herd.yaml", []byte("alert_lines_bytes: 8388608\n"), none)
	if err != nil || c.AlertLinesBytes != 8<<20 {
		t.Fatalf("alert_lines_bytes: 8388608 gave %d, %v", c.AlertLinesBytes, err)
	}
	if c, err := parse("herd.yaml", nil, none); err != nil || c.AlertLinesBytes != 0 {
		t.Errorf("default: %d, %v (0 means DefaultAlertLinesBytes)", c.AlertLinesBytes, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"alert_lines_bytes: 100\n", `config herd.yaml:1: alert_lines_bytes: 100 is out of range (65536 to 1073741824)`},
		{"alert_lines_bytes: 4MiB\n", `config herd.yaml:1: alert_lines_bytes: expected a whole number`},
	} {
		if _, err := parse("herd.yaml", []byte(tc.text), none); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}
