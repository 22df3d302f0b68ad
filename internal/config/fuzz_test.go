package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to the decoder: it must not panic, and
// every error must name the file and a line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"sources:\n  - files: [/var/log/auth.log]\n    program: sshd\n",
		"database:\n  driver: postgres\n  dsn: x\nfirewall: {enabled: false, table: t, forward: true}\n",
		"allow: [192.0.2.7, \"2001:db8::/32\"]\nsimulate: true\ntimezone: UTC\n",
		"a: &x 1\nb: *x\n",
		"sources: [\n",
		"--- \n...\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("f.yaml", data, none)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config f.yaml:") {
					t.Fatalf("error without a position: %q", line)
				}
			}
			return
		}
		if c.Database.Driver != "sqlite" && c.Database.Driver != "postgres" {
			t.Fatalf("driver %q accepted", c.Database.Driver)
		}
		for _, p := range c.Allow {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("allow %v not normalised", p)
			}
		}
	})
}
