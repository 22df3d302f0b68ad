package config

import (
	"net/netip"
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
		"syslog:\n  udp: 127.0.0.1:5514\n  tcp: \"[::1]:5514\"\n  max_message: 4096\n  idle_timeout: 30s\n",
		"syslog: {tcp: 0.0.0.0:514, allow_remote: true, max_connections: 8}\n",
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
		for _, addr := range []string{c.Syslog.UDP, c.Syslog.TCP} {
			if ap, err := netip.ParseAddrPort(addr); addr != "" && (err != nil || !ap.Addr().IsLoopback() && !c.Syslog.AllowRemote) {
				t.Fatalf("syslog address %q accepted (allow_remote %v)", addr, c.Syslog.AllowRemote)
			}
		}
		for _, p := range c.Allow {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("allow %v not normalised", p)
			}
		}
	})
}
