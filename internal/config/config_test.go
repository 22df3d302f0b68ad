package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func none(string) bool { return false }

func TestParse(t *testing.T) {
	const file = `# herd.yaml
sources:
  - files: [/var/log/auth.log]
  - files: ["/var/log/nginx/*.access.log"]
    program: nginx
rules_dir: /srv/rules
database:
  driver: postgres
  dsn: postgres://herd@localhost/herd
firewall:
  enabled: false
  table: herd_test
  forward: true
api:
  listen: "[::1]:9090"
  trusted_proxies: [10.0.0.0/8]
  open_forward_auth: true
  forward_auth_listen: 127.0.0.1:8081
allow: [192.0.2.7, "2001:db8::/32", "::ffff:198.51.100.1", 10.1.2.3/8]
simulate: true
timezone: UTC
`
	c, err := parse("herd.yaml", []byte(file), none)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: "herd.yaml",
		Sources: []Source{
			{Files: []string{"/var/log/auth.log"}, Line: 3},
			{Files: []string{"/var/log/nginx/*.access.log"}, Program: "nginx", Line: 4},
		},
		RulesDir: "/srv/rules",
		Database: Database{Driver: "postgres", DSN: "postgres://herd@localhost/herd"},
		Firewall: Firewall{Enabled: false, Table: "herd_test", Forward: true},
		API:      API{Listen: "[::1]:9090", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, OpenForwardAuth: true, ForwardAuthListen: "127.0.0.1:8081"},
		Allow: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("198.51.100.1/32"),
			netip.MustParsePrefix("10.0.0.0/8"),
		},
		Simulate: true,
		Timezone: "UTC",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestDefaults(t *testing.T) {
	present := map[string]bool{"/var/log/auth.log": true, "/var/log/nginx/access.log": true}
	for _, text := range []string{"", "# only comments\n", "simulate: false\n"} {
		c, err := parse("herd.yaml", []byte(text), func(p string) bool { return present[p] })
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		want := &Config{
			File:     "herd.yaml",
			Sources:  []Source{{Files: []string{"/var/log/auth.log", "/var/log/nginx/access.log"}}},
			RulesDir: DefaultRulesDir,
			Database: Database{Driver: "sqlite", DSN: DefaultDSN},
			Firewall: Firewall{Enabled: true, Table: "herd"},
			API:      API{Listen: DefaultListen},
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%q:\ngot  %+v\nwant %+v", text, c, want)
		}
	}
	// Sources given explicitly replace the defaults, even as an empty list.
	c, err := parse("herd.yaml", []byte("sources: []\n"), func(string) bool { return true })
	if err != nil || len(c.Sources) != 0 {
		t.Errorf("sources: [] gave %v, %v", c, err)
	}
}

// TestErrors checks that each problem is reported with its file and line.
func TestErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"sourcs: []\n", `config herd.yaml:1: herd.yaml: unknown key "sourcs"`},
		{"firewall:\n  enabled: true\n  tabel: x\n", `config herd.yaml:3: firewall: unknown key "tabel"`},
		{"firewall:\n  enabled: yes\n", `config herd.yaml:2: firewall.enabled: expected true or false, found the string "yes"`},
		{"sources:\n  - files: [a]\n    programme: sshd\n", `config herd.yaml:3: source: unknown key "programme"`},
		{"sources:\n  - program: sshd\n", `config herd.yaml:2: source: needs files`},
		{"database:\n  driver: mysql\n", `config herd.yaml:2: database.driver: must be sqlite or postgres`},
		{"database:\n  driver: postgres\n", `config herd.yaml:2: database: postgres needs a dsn`},
		{"allow:\n  - 192.0.2.0/24\n  - 300.1.2.3\n", `config herd.yaml:3: allow:`},
		{"allow: 192.0.2.7\n", `config herd.yaml:1: allow: expected a list`},
		{"timezone: Mars/Olympus\n", `config herd.yaml:1: timezone: unknown zone`},
		{"firewall:\n  table: \"a b\"\n", `config herd.yaml:2: firewall.table:`},
		{"api:\n  listen: localhost:80\n", `config herd.yaml:2: api.listen:`},
		{"api:\n  bogus: 1\n", `config herd.yaml:2:`},
		{"simulate: true\nsimulate: false\n", `config herd.yaml:2: herd.yaml: key "simulate" repeated`},
		{"a: &x 1\nsimulate: *x\n", `anchors and aliases are not supported`},
		{"sources: [\n", `config herd.yaml:`},
		{"- 1\n", `config herd.yaml:1: herd.yaml: expected a mapping, found a list`},
		{"simulate: true\n---\nsimulate: false\n", `only one YAML document`},
	} {
		_, err := parse("herd.yaml", []byte(tc.text), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

func TestManyErrorsAllReported(t *testing.T) {
	_, err := parse("x.yaml", []byte("foo: 1\nbar: 2\nsimulate: 3\n"), none)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"x.yaml:1:", "x.yaml:2:", "x.yaml:3:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v: missing %s", err, w)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(t.TempDir() + "/none.yaml"); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestDistExample decodes the example configuration shipped in dist/, so
// that it cannot drift from the schema.
func TestDistExample(t *testing.T) {
	c, err := Load("../../dist/herd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 2 || !c.Firewall.Enabled || c.Database.Driver != "sqlite" || len(c.Allow) != 1 {
		t.Errorf("dist/herd.yaml decoded to %+v", c)
	}
}
