package config

import (
	"encoding/base64"
	"net/netip"
	"reflect"
	"slices"
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
  backend: iptables
api:
  listen: "[::1]:9090"
  trusted_proxies: [10.0.0.0/8]
  open_forward_auth: true
  forward_auth_listen: 127.0.0.1:8081
  max_connections: 2000
  max_connections_per_address: 50
metrics:
  listen: "0.0.0.0:9100"
  allow_remote: true
console:
  enabled: true
  listen: "[::1]:8443"
  password_file: /srv/herd/console.password
allow: [192.0.2.7, "2001:db8::/32", "::ffff:198.51.100.1", 10.1.2.3/8]
simulate: true
timezone: UTC
geoip:
  enabled: false
  dir: /srv/geoip
control_socket: /run/herd-test/control.sock
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
		Firewall: Firewall{Enabled: false, Table: "herd_test", Forward: true, Backend: BackendIptables},
		API: API{Listen: "[::1]:9090", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, OpenForwardAuth: true, ForwardAuthListen: "127.0.0.1:8081",
			MaxConnections: 2000, MaxConnectionsPerAddress: 50},
		Metrics: Metrics{Listen: "0.0.0.0:9100", AllowRemote: true},
		Console: Console{Enabled: true, Listen: "[::1]:8443", PasswordFile: "/srv/herd/console.password", Line: 26},
		Allow: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("198.51.100.1/32"),
			netip.MustParsePrefix("10.0.0.0/8"),
		},
		Simulate:      true,
		Timezone:      "UTC",
		GeoIP:         GeoIP{Enabled: false, Dir: "/srv/geoip"},
		ControlSocket: "/run/herd-test/control.sock",
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
			File:          "herd.yaml",
			Sources:       []Source{{Files: []string{"/var/log/auth.log", "/var/log/nginx/access.log"}}},
			RulesDir:      DefaultRulesDir,
			ControlSocket: DefaultControlSocket,
			Database:      Database{Driver: "sqlite", DSN: DefaultDSN},
			Firewall:      Firewall{Enabled: true, Table: "herd"},
			API:           API{Listen: DefaultListen},
			Metrics:       Metrics{Listen: DefaultMetricsListen},
			Console:       Console{Listen: DefaultConsoleListen, PasswordFile: DefaultConsolePasswordFile},
			GeoIP:         GeoIP{Enabled: true, Dir: DefaultGeoIPDir},
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

func TestXDP(t *testing.T) {
	c, err := parse("herd.yaml", []byte("xdp:\n  interfaces: [eth0, eth1]\n  mode: native\n  max_entries: 4096\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if x := c.XDP; !x.Enabled || len(x.Interfaces) != 2 || x.Interfaces[1] != "eth1" || x.Mode != XDPNative || x.MaxEntries != 4096 {
		t.Errorf("xdp %+v", x)
	}
	c, err = parse("herd.yaml", []byte("xdp:\n  enabled: false\n"), none)
	if err != nil || c.XDP.Enabled {
		t.Errorf("xdp disabled: %+v, %v", c.XDP, err)
	}
	c, err = parse("herd.yaml", []byte("simulate: false\n"), none)
	if err != nil || c.XDP.Enabled {
		t.Errorf("xdp absent: %+v, %v", c.XDP, err)
	}
}

func TestSensor(t *testing.T) {
	c, err := parse("herd.yaml", []byte("sensor:\n  interfaces: [eth0]\n  filter: tcp or udp\n  workers: 2\n  flows: 4096\n  fingerprints: /etc/herd/fp.txt\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Sensor; !s.Enabled || len(s.Interfaces) != 1 || s.Filter != "tcp or udp" || s.Workers != 2 || s.Flows != 4096 || s.Fingerprints != "/etc/herd/fp.txt" || s.Line != 2 {
		t.Errorf("sensor %+v", s)
	}
	c, err = parse("herd.yaml", []byte("sensor:\n  enabled: false\n"), none)
	if err != nil || c.Sensor.Enabled {
		t.Errorf("sensor disabled: %+v, %v", c.Sensor, err)
	}
	c, err = parse("herd.yaml", []byte("simulate: false\n"), none)
	if err != nil || c.Sensor.Enabled {
		t.Errorf("sensor absent: %+v, %v", c.Sensor, err)
	}
}

// TestErrors checks that each problem is reported with its file and line.
func TestErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"sourcs: []\n", `config herd.yaml:1: herd.yaml: unknown key "sourcs"`},
		{"firewall:\n  enabled: true\n  tabel: x\n", `config herd.yaml:3: firewall: unknown key "tabel"`},
		{"firewall:\n  backend: ipfw\n", `config herd.yaml:2: firewall.backend: "ipfw" is not auto, nftables or iptables`},
		{"firewall:\n  enabled: yes\n", `config herd.yaml:2: firewall.enabled: expected true or false, found the string "yes"`},
		{"sources:\n  - files: [a]\n    programme: sshd\n", `config herd.yaml:3: source: unknown key "programme"`},
		{"sources:\n  - program: sshd\n", `config herd.yaml:2: source: needs files`},
		{"database:\n  driver: mysql\n", `config herd.yaml:2: database.driver: must be sqlite or postgres`},
		{"database:\n  driver: postgres\n", `config herd.yaml:2: database: postgres needs a dsn`},
		{"allow:\n  - 192.0.2.0/24\n  - 300.1.2.3\n", `config herd.yaml:3: allow:`},
		{"allow: 192.0.2.7\n", `config herd.yaml:1: allow: expected a list`},
		{"timezone: Mars/Olympus\n", `config herd.yaml:1: timezone: unknown zone`},
		{"control_socket: run/herd.sock\n", `config herd.yaml:1: control_socket: "run/herd.sock" is not an absolute path`},
		{"firewall:\n  table: \"a b\"\n", `config herd.yaml:2: firewall.table:`},
		{"api:\n  listen: localhost:80\n", `config herd.yaml:2: api.listen:`},
		{"api:\n  bogus: 1\n", `config herd.yaml:2:`},
		{"api:\n  max_connections: 0\n", `config herd.yaml:2: api.max_connections:`},
		{"api:\n  max_connections_per_address: -1\n", `config herd.yaml:2: api.max_connections_per_address:`},
		{"metrics:\n  listen: 0.0.0.0:6060\n", `config herd.yaml:2: metrics.listen: 0.0.0.0 is not a loopback address; set metrics.allow_remote: true`},
		{"metrics:\n  allow_remote: false\n  listen: \"[2001:db8::1]:6060\"\n", `config herd.yaml:3: metrics.listen: 2001:db8::1 is not a loopback`},
		{"metrics:\n  listen: localhost:6060\n", `config herd.yaml:2: metrics.listen: "localhost:6060" is not an address:port`},
		{"metrics:\n  lisen: x\n", `config herd.yaml:2: metrics: unknown key "lisen"`},
		{"simulate: true\nsimulate: false\n", `config herd.yaml:2: herd.yaml: key "simulate" repeated`},
		{"a: &x 1\nsimulate: *x\n", `anchors and aliases are not supported`},
		{"sources: [\n", `config herd.yaml:`},
		{"- 1\n", `config herd.yaml:1: herd.yaml: expected a mapping, found a list`},
		{"simulate: true\n---\nsimulate: false\n", `only one YAML document`},
		{"xdp:\n  mode: native\n", `config herd.yaml:2: xdp: needs interfaces`},
		{"\nsensor:\n  workers: 2\n", `config herd.yaml:3: sensor: needs interfaces`},
		{"sensor:\n  interfaces: [eth0]\n  workers: 0\n", `config herd.yaml:3: sensor.workers:`},
		{"sensor:\n  interfaces: [\"a b\"]\n", `config herd.yaml:2: sensor.interfaces: "a b" is not an interface name`},
		{"sensor:\n  interfaces: [eth0]\n  snaplen: 9\n", `config herd.yaml:3: sensor: unknown key "snaplen"`},
		{"xdp:\n  interfaces: [eth0]\n  mode: offload\n", `config herd.yaml:3: xdp.mode: "offload" is not generic or native`},
		{"xdp:\n  interfaces: [\"a/b\"]\n", `config herd.yaml:2: xdp.interfaces: "a/b" is not an interface name`},
		{"xdp:\n  interfaces: [eth0]\n  max_entries: 0\n", `config herd.yaml:3: xdp.max_entries:`},
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

// TestMetricsOff checks that listen: "" turns the endpoint off and that a
// loopback address needs no allow_remote.
func TestMetricsOff(t *testing.T) {
	for text, want := range map[string]Metrics{
		"metrics:\n  listen: \"\"\n":           {},
		"metrics:\n  listen: \"[::1]:6061\"\n": {Listen: "[::1]:6061"},
		"metrics:\n  allow_remote: true\n":     {Listen: DefaultMetricsListen, AllowRemote: true},
	} {
		c, err := parse("herd.yaml", []byte(text), none)
		if err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if c.Metrics != want {
			t.Errorf("%q: metrics %+v, want %+v", text, c.Metrics, want)
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

func TestHub(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	c, err := Parse("herd.yaml", []byte("hub:\n  url: https://hub.example:8443/\n  public_key: "+key+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hub.URL != "https://hub.example:8443/" || !c.Hub.Share || !c.Hub.Receive || !c.Hub.Predictions || c.Hub.KeyFile != DefaultHubKeyFile || c.Hub.Line == 0 {
		t.Errorf("hub = %+v", c.Hub)
	}
	c, err = Parse("herd.yaml", []byte("hub:\n  url: https://hub.example:8443/\n  public_key: "+key+"\n  predictions: false\n"))
	if err != nil || !c.Hub.Receive || c.Hub.Predictions {
		t.Errorf("predictions: false: %+v %v", c.Hub, err)
	}
	if c, err := Parse("herd.yaml", []byte("sources: []\n")); err != nil || c.Hub.URL != "" {
		t.Errorf("no hub key: %+v %v", c, err)
	}
	for _, bad := range []string{
		"hub:\n  url: ftp://x/\n  receive: false\n",
		"hub:\n  share: true\n",
		"hub:\n  url: https://h/\n",
		"hub:\n  url: https://h/\n  public_key: AAAA\n",
		"hub:\n  url: https://h/\n  receive: false\n  colour: red\n",
		"hub:\n  url: https://h/\n  receive: false\n  predictions: maybe\n",
	} {
		if _, err := Parse("herd.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "herd.yaml:") {
			t.Errorf("%q: err = %v, want a herd.yaml:line error", bad, err)
		}
	}
}

func TestHubShareClasses(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		share   bool
		classes []string
	}{
		{"share: true", true, nil},
		{"share: false", false, nil},
		{"share: [ssh-bruteforce, portscan]", true, []string{"ssh-bruteforce", "portscan"}},
		{"share: []", false, []string{}},
	} {
		c, err := Parse("herd.yaml", []byte("hub:\n  url: http://h:1\n  receive: false\n  "+tc.yaml+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if c.Hub.Share != tc.share || !slices.Equal(c.Hub.ShareClasses, tc.classes) || (tc.classes != nil) != (c.Hub.ShareClasses != nil) {
			t.Errorf("%s: share %v classes %#v", tc.yaml, c.Hub.Share, c.Hub.ShareClasses)
		}
	}
}
