package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestJournaldKey(t *testing.T) {
	none := func(string) bool { return false }
	for _, tc := range []struct {
		text string
		want Journald
	}{
		{"journald:\n  enabled: true\n  units: [ssh.service, nginx.service]\n", Journald{Enabled: true, Units: []string{"ssh.service", "nginx.service"}, Line: 2}},
		{"journald:\n  units: [ssh.service]\n", Journald{Enabled: true, Units: []string{"ssh.service"}, Line: 2}},
		{"journald: {enabled: false}\n", Journald{Enabled: false, Line: 1}},
		{"journald: {}\n", Journald{Enabled: true, Line: 1}},
	} {
		c, err := parse("herd.yaml", []byte(tc.text), none)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if !reflect.DeepEqual(c.Journald, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.text, c.Journald, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"journald:\n  enabled: yes\n", `config herd.yaml:2: journald.enabled: expected true or false`},
		{"journald:\n  unit: [ssh.service]\n", `config herd.yaml:2: journald: unknown key "unit"`},
		{"journald:\n  units: ssh.service\n", `config herd.yaml:2: journald.units: expected a list`},
		{"journald: true\n", `config herd.yaml:1: journald: expected a mapping`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestJournaldDefault: the journal is followed by default only when no
// authentication log file exists and journalctl is on PATH.
func TestJournaldDefault(t *testing.T) {
	t.Setenv("PATH", "/opt/x/bin:relative:/usr/bin")
	for _, tc := range []struct {
		present []string
		want    bool
	}{
		{[]string{"/usr/bin/journalctl"}, true},
		{[]string{"/usr/bin/journalctl", "/var/log/auth.log"}, false},
		{[]string{"/usr/bin/journalctl", "/var/log/secure"}, false},
		{[]string{"relative/journalctl"}, false},
		{nil, false},
	} {
		exists := func(p string) bool {
			for _, q := range tc.present {
				if p == q {
					return true
				}
			}
			return false
		}
		c, err := parse("herd.yaml", []byte("sources: []\n"), exists)
		if err != nil {
			t.Fatal(err)
		}
		if c.Journald.Enabled != tc.want || defaults(exists).Journald.Enabled != tc.want {
			t.Errorf("present %q: journald enabled = %v, want %v", tc.present, c.Journald.Enabled, tc.want)
		}
		// Stated in the file, the key wins over the default.
		c, err = parse("herd.yaml", []byte("journald: {enabled: false}\n"), exists)
		if err != nil || c.Journald.Enabled {
			t.Errorf("present %q: journald: {enabled: false} gave %+v, %v", tc.present, c.Journald, err)
		}
	}
}
