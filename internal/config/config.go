// Package config decodes herd.yaml strictly into the agent's configuration
// spec, with built-in defaults and file:line errors.
//
// The result is a spec: plain values checked for shape and range. Package
// app compiles it into running parts (followers, store, firewall). Loading
// reads the configuration file and looks at which default log files exist;
// it does nothing else.
package config

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herd-ips/herd/internal/yamlstrict"
)

// Defaults of the configuration.
const (
	DefaultPath     = "/etc/herd/herd.yaml"
	DefaultRulesDir = "/etc/herd/rules.d"
	DefaultDriver   = "sqlite"
	DefaultDSN      = "/var/lib/herd/herd.db"
	DefaultTable    = "herd"
	// DefaultControlSocket is where the agent answers herd reload.
	DefaultControlSocket = "/run/herd/control.sock"
)

// DefaultLogs are the log files followed when the configuration names no
// sources: those of them that exist when the configuration is loaded.
var DefaultLogs = []string{
	"/var/log/auth.log",
	"/var/log/secure",
	"/var/log/nginx/access.log",
	"/var/log/nginx/error.log",
	"/var/log/apache2/access.log",
	"/var/log/apache2/error.log",
	"/var/log/mail.log",
	"/var/log/vsftpd.log",
	"/var/log/mysql/error.log",
}

// Config is the agent's configuration as herd.yaml states it, defaults
// filled in.
type Config struct {
	// File is the file the configuration was read from, "" for the
	// built-in defaults.
	File     string
	Sources  []Source
	RulesDir string // user rules; DefaultRulesDir need not exist
	Database Database
	Firewall Firewall
	XDP      XDP
	Sensor   Sensor
	API      API
	Metrics  Metrics
	Console  Console
	Journald Journald
	Syslog   Syslog
	Report   Report
	// Allow are the prefixes never to ban, besides loopback and the host's
	// own addresses. Single addresses are /32 or /128; all are masked and
	// unmapped.
	Allow    []netip.Prefix
	Simulate bool   // alert and decide, never enforce
	Timezone string // zone of timestamps that carry none; "" = local
	Hub      Hub

	// JSONClientFields name the fields of JSON access logs that hold the
	// client address, tried in order: a top-level key or request.KEY
	// (Caddy). Nil = the server's own peer address only (remote_addr,
	// request.remote_ip). YAML: json_client_fields.
	JSONClientFields []string

	// AlertLinesBytes is the memory, in bytes, of the ring of recent log
	// lines from which each alert takes the lines behind it (at most 32);
	// 0 means DefaultAlertLinesBytes. YAML: alert_lines_bytes, from
	// MinAlertLinesBytes to MaxAlertLinesBytes.
	AlertLinesBytes int

	// GeoIP configures country and ASN enrichment (internal/geoip).
	GeoIP GeoIP

	// Notifications are the channels alerts and decisions are sent to
	// (internal/notify).
	Notifications []Notification

	// ControlSocket is the path of the agent's control socket, a Unix
	// socket of mode 0600 through which herd reload asks the running agent
	// to read its rules and this file again; "" turns it off (SIGHUP still
	// reloads). Default DefaultControlSocket. YAML: control_socket.
	ControlSocket string
}

// The notification channel types (Notification.Type).
var NotificationTypes = []string{"webhook", "slack", "ntfy", "email"}

// Notification configures one notification channel (docs/notifications.md).
type Notification struct {
	Name string
	Type string // one of NotificationTypes
	URL  string // webhook, slack, ntfy: where to POST
	// TokenFile holds a token sent as "Authorization: Bearer" (webhook,
	// slack, ntfy); refused when others may read it.
	TokenFile string
	Alerts    bool   // every alert; default: only alerts that led to a decision
	Title     string // text/template of the title or subject; "" = default
	Body      string // text/template of the body; "" = default
	Rate      int    // messages per Window before a digest; 0 = default (10)
	Window    time.Duration
	Retries   int // after the first attempt; 0 = default (5), -1 = none
	Backoff   time.Duration
	// E-mail: the SMTP server (host:port), sender and recipients;
	// credentials are read from PasswordFile and only ever sent over TLS.
	SMTP         string
	From         string
	To           []string
	Username     string
	PasswordFile string
	CAFile       string
	PlainText    bool // a relay without STARTTLS (loopback); never with credentials
	Line         int  // line of herd.yaml that defines it
}

// GeoIP configures enrichment from the databases `herd geoip update`
// installs. The agent never fetches them: a missing database turns
// enrichment off, with one log line.
type GeoIP struct {
	Enabled bool   // default true: on when the databases are there
	Dir     string // default DefaultGeoIPDir
}

// DefaultGeoIPDir is where herd geoip update installs the databases.
const DefaultGeoIPDir = "/var/lib/herd/geoip"

// Hub configures membership of a herd hub (internal/hub): the signals this
// agent shares and the community blocklist it receives. A zero Hub (no URL)
// means the agent works alone.
type Hub struct {
	// URL is the hub's base URL (https://hub.example:8443/); "" = no hub.
	URL string
	// KeyFile holds this agent's ed25519 reporter key, generated on first
	// start when missing. Default DefaultHubKeyFile.
	KeyFile string
	// Share sends signals (source, scenario class, minute) of this agent's
	// own decisions to the hub. Default true when URL is set. YAML: share:
	// true, false, or a list of classes (ssh-bruteforce, portscan, ...):
	// only those are sent. The community blocklist is received whatever
	// Share says (Receive); a member that sends nothing has no trust and
	// no vote at the hub.
	Share bool
	// ShareClasses, when not nil, are the only classes whose signals are
	// sent (share: [a list]); names are checked against the hub's classes
	// when the agent starts.
	ShareClasses []string
	// Receive applies the hub's signed community blocklist as decisions of
	// origin "community". Default true when URL is set.
	Receive bool
	// Predictions applies the hub's predictions (short-lived entries for
	// attackers expected soon, a list apart from the community's) as
	// decisions of origin "predicted". Default true when Receive is on;
	// the never-ban set and allowlists win over them as over any decision.
	Predictions bool
	// PublicKey is the hub's ed25519 blocklist-signing public key, base64
	// (standard encoding, 32 bytes); snapshots and deltas not signed by it
	// are refused. Required when Receive is on.
	PublicKey string
	// CAFile is a PEM bundle to verify the hub's TLS certificate with
	// instead of the system roots ("" = system roots).
	CAFile string
	// GroupsFile holds the state of the private groups this agent belongs
	// to, with their keys (docs/groups.md); "" = groups.json beside
	// KeyFile.
	GroupsFile string
	// GroupKeyFile holds this agent's X25519 key, to which groups' epoch
	// keys are wrapped; "" = hub-group.key beside KeyFile.
	GroupKeyFile string
	// EgressJournal records every request this agent sends to the hub,
	// as it is sent (herd hub egress); "" = hub-egress.log beside
	// KeyFile.
	EgressJournal string
	// GroupMaxDuration caps the duration of decisions received from
	// groups (default DefaultGroupMaxDuration).
	GroupMaxDuration time.Duration
	Line             int // line of herd.yaml that defines it; 0 for defaults
}

// DefaultHubKeyFile is where the agent keeps its hub reporter key.
const DefaultHubKeyFile = "/var/lib/herd/hub.key"

// DefaultGroupMaxDuration caps group decisions' durations by default.
const DefaultGroupMaxDuration = 24 * time.Hour

// GroupsPath returns the groups file's path.
func (h Hub) GroupsPath() string {
	if h.GroupsFile != "" {
		return h.GroupsFile
	}
	return filepath.Join(filepath.Dir(cmp.Or(h.KeyFile, DefaultHubKeyFile)), "groups.json")
}

// GroupKeyPath returns the X25519 key file's path.
func (h Hub) GroupKeyPath() string {
	if h.GroupKeyFile != "" {
		return h.GroupKeyFile
	}
	return filepath.Join(filepath.Dir(cmp.Or(h.KeyFile, DefaultHubKeyFile)), "hub-group.key")
}

// EgressPath returns the egress journal's path.
func (h Hub) EgressPath() string {
	if h.EgressJournal != "" {
		return h.EgressJournal
	}
	return filepath.Join(filepath.Dir(cmp.Or(h.KeyFile, DefaultHubKeyFile)), "hub-egress.log")
}

// GroupCap returns the cap of group decisions' durations.
func (h Hub) GroupCap() time.Duration { return cmp.Or(h.GroupMaxDuration, DefaultGroupMaxDuration) }

// Source is one group of log files read the same way.
type Source struct {
	Files []string // paths or globs
	// Program names the program of lines without a syslog envelope; it
	// implies format message unless Format says otherwise.
	Program string
	// Format binds every file of the source to one log format (one of
	// FormatNames; docs/sources.md). "" detects the format of each file from
	// its first lines and locks it for that file.
	Format string
	Line   int // line of herd.yaml that defines it; 0 for defaults
}

// FormatNames are the values of a source's format: what internal/parse
// calls format families, with the aliases common and combined (clf), json
// (json-access) and journald (journal).
var FormatNames = []string{"syslog", "journal", "journald", "message", "clf", "common", "combined", "vhost_combined", "json-access", "json", "nginx-error", "apache-error", "vsftpd", "mysql", "dovecot", "asterisk", "exim", "freeswitch", "bind", "roundcube", "mongodb", "postgres"}

// Journald configures the systemd journal source (internal/source/journald),
// read through journalctl's JSON output.
type Journald struct {
	// Enabled follows the journal. Default: on when neither
	// /var/log/auth.log nor /var/log/secure exists and journalctl is on
	// PATH (a Debian 12 server without rsyslog, where sshd logs only to
	// the journal); a journald key in herd.yaml without enabled means on.
	Enabled bool
	// Units restricts the journal to these systemd units (ssh.service, …);
	// none means every entry.
	Units []string
	Line  int // line of herd.yaml that defines it; 0 for defaults
}

// Syslog configures the syslog listener (internal/source/syslog): messages
// received over UDP or TCP become log lines like those of a syslog file. Off
// by default.
type Syslog struct {
	// UDP and TCP are the listen addresses (ip:port); "" leaves that
	// transport off. Both off (the default) means no listener.
	UDP, TCP string
	// MaxMessage bounds one message in bytes; longer ones are dropped and
	// counted. 0 = DefaultSyslogMaxMessage.
	MaxMessage int
	// MaxConnections bounds the TCP connections open at once. 0 =
	// DefaultSyslogMaxConnections.
	MaxConnections int
	// IdleTimeout closes a TCP connection silent for this long. 0 =
	// DefaultSyslogIdleTimeout.
	IdleTimeout time.Duration
	// AllowRemote permits addresses other than loopback. Without it they
	// are refused: whoever can send a message can make herd ban any
	// address the message names.
	AllowRemote bool
	Line        int // line of herd.yaml that defines it; 0 for defaults
}

// Enabled reports whether a syslog transport is configured.
func (s *Syslog) Enabled() bool { return s.UDP != "" || s.TCP != "" }

// Defaults of the syslog listener, applied where the fields are 0 (the
// same as internal/source/syslog's).
const (
	DefaultSyslogMaxMessage     = 8192
	DefaultSyslogMaxConnections = 64
	DefaultSyslogIdleTimeout    = 5 * time.Minute
)

// Database says where alerts, decisions and offsets are kept.
type Database struct {
	Driver string // "sqlite" or "postgres"
	DSN    string // file path for sqlite, connection string for postgres
}

// Firewall configures the enforcer.
type Firewall struct {
	Enabled bool   // default true
	Table   string // default "herd"; with iptables, the ipsets' prefix and the chain (upper-cased)
	Forward bool   // also drop forwarded traffic
	// Backend is BackendAuto ("" means the same), BackendNftables or
	// BackendIptables (iptables with ipsets).
	Backend string
}

// XDP configures the XDP filter (internal/enforce/xdp), an enforcer beside
// the firewall that drops banned sources at the driver. Off by default.
type XDP struct {
	Enabled    bool
	Interfaces []string // where to attach; required when enabled
	Mode       string   // XDPGeneric ("" means the same) or XDPNative
	MaxEntries int      // capacity of each trie (IPv4, IPv6); 0 = the filter's default (1,048,576)
	Line       int      // where the section starts, for errors
}

// Sensor configures the live packet sensor (internal/sensor on
// internal/sensor/afpacket) that herd agent runs beside its logs. Off by
// default.
type Sensor struct {
	Enabled      bool
	Interfaces   []string // where to capture; required when enabled
	Filter       string   // capture filter expression (afpacket.Compile); "" keeps every packet
	Workers      int      // capture sockets (PACKET_FANOUT) per interface; 0 = 1
	Flows        int      // flow table capacity per worker; 0 = the sensor's default (65536)
	Fingerprints string   // file of known-bad client fingerprints; "" = none
	Line         int      // where the section starts, for errors
}

// XDP attach modes.
const (
	XDPGeneric = "generic" // in the kernel's generic receive path: every driver, skb already built
	XDPNative  = "native"  // in the driver, before the skb: needs driver support
)

// Firewall backends.
const (
	BackendAuto     = "auto" // nftables when netlink answers, else iptables+ipset when installed
	BackendNftables = "nftables"
	BackendIptables = "iptables"
)

// API configures the local API (internal/lapi): the CrowdSec bouncer
// protocol, herd's push stream and forward-auth for reverse proxies.
type API struct {
	// Listen is the TCP address to serve on; "" disables the API. Default
	// DefaultListen (loopback only).
	Listen string
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP
	// forward-auth believes; nil means loopback.
	TrustedProxies []netip.Prefix
	// OpenForwardAuth lets trusted proxies call /v1/forward-auth without a
	// key (Traefik cannot send one).
	OpenForwardAuth bool
	// ForwardAuthListen, when set, is a second TCP address answering
	// /v1/forward-auth only, with a minimal HTTP/1.1 server of its own
	// (lapi.Server.ServeForwardAuth), for proxies that ask on every
	// request. "" (the default) serves forward-auth on Listen only.
	ForwardAuthListen string
	// MaxConnections bounds the connections each of the API's listeners
	// (Listen, ForwardAuthListen) holds open at once, and
	// MaxConnectionsPerAddress those from one client (an IPv4 address or
	// an IPv6 /64); connections beyond are closed at once. 0 (the
	// default) derives them from the process's file limit
	// (connlimit.FromFileLimit).
	MaxConnections           int
	MaxConnectionsPerAddress int
	// TLSCert and TLSKey are PEM files (absolute paths) of the certificate
	// (chain) and private key to serve HTTPS with; both or neither. The
	// agent reads them at start and again when they change.
	TLSCert, TLSKey string
	TLSLine         int // line of herd.yaml's tls_cert key, for errors
}

// Report configures sending this agent's alerts and decisions to a central
// local API (internal/report), as a machine registered there with `herd
// machines add`. The zero value (no url) reports nothing.
type Report struct {
	URL     string // base URL of the central local API, http:// or https://
	Machine string // the machine's name on the central host
	// Password, or PasswordFile: a file holding it (surrounding white
	// space ignored), which the agent refuses when others may read it.
	// Exactly one is set when URL is.
	Password     string
	PasswordFile string
	// CAFile is a PEM bundle to verify the central API's certificate with
	// instead of the system roots ("" = system roots).
	CAFile string
	// Receive follows the central API's decisions (its push stream) and
	// enforces them here too. Default: on when a bouncer key is given.
	Receive bool
	// BouncerKey, or BouncerKeyFile (refused when others may read it): the
	// key `herd bouncers add` made on the central host, with which the
	// decisions are received. One of them is needed when Receive is on.
	BouncerKey     string
	BouncerKeyFile string
	Line           int // line of herd.yaml that defines it
}

// DefaultListen is the local API's default address.
const DefaultListen = "127.0.0.1:8080"

// Metrics configures the agent's Prometheus endpoint (internal/metrics).
type Metrics struct {
	// Listen is the TCP address serving /metrics; "" turns it off. Default
	// DefaultMetricsListen. An address that is not loopback is refused
	// unless AllowRemote is set.
	Listen      string
	AllowRemote bool
	// TLSCert and TLSKey serve /metrics over HTTPS, as API's.
	TLSCert, TLSKey string
	TLSLine         int // line of herd.yaml's tls_cert key, for errors
}

// Console configures the web console (internal/console) that herd agent
// serves: off unless Enabled, on loopback unless AllowRemote, and only once
// a password is set (herd console passwd).
type Console struct {
	Enabled bool
	// Listen is the TCP address of the console. Default
	// DefaultConsoleListen (loopback only).
	Listen      string
	AllowRemote bool // Listen may be beyond loopback
	// PasswordFile holds the password's hash (herd console passwd).
	// Default DefaultConsolePasswordFile.
	PasswordFile string
	// TLSCert and TLSKey serve the console over HTTPS, as API's.
	TLSCert, TLSKey string
	TLSLine         int // line of herd.yaml's tls_cert key, for errors
	Line            int // line of the console key, for errors
}

// The console's defaults.
const (
	DefaultConsoleListen       = "127.0.0.1:8081"
	DefaultConsolePasswordFile = "/var/lib/herd/console.password"
)

// DefaultMetricsListen is the metrics endpoint's default address.
const DefaultMetricsListen = "127.0.0.1:6060"

// Bounds of alert_lines_bytes, and its default: 4 MiB keep some 25,000
// lines of 150 bytes.
const (
	DefaultAlertLinesBytes = 4 << 20
	MinAlertLinesBytes     = 64 << 10
	MaxAlertLinesBytes     = 1 << 30
)

// Error is one problem of a configuration file, at a line.
type Error struct {
	File string
	Line int
	Err  error
}

// Error returns "config FILE:LINE: problem" on one line: line breaks that
// the YAML library quotes from the file are escaped.
func (e *Error) Error() string {
	msg := strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(e.Err.Error())
	return fmt.Sprintf("config %s:%d: %s", e.File, e.Line, msg)
}
func (e *Error) Unwrap() error { return e.Err }

// Default returns the built-in configuration: the DefaultLogs that exist,
// DefaultRulesDir, SQLite at DefaultDSN, the firewall enabled.
func Default() *Config { return defaults(exists) }

func defaults(exists func(string) bool) *Config {
	c := &Config{
		RulesDir:      DefaultRulesDir,
		ControlSocket: DefaultControlSocket,
		Database:      Database{Driver: DefaultDriver, DSN: DefaultDSN},
		Firewall:      Firewall{Enabled: true, Table: DefaultTable},
		API:           API{Listen: DefaultListen},
		Metrics:       Metrics{Listen: DefaultMetricsListen},
		Console:       Console{Listen: DefaultConsoleListen, PasswordFile: DefaultConsolePasswordFile},
		GeoIP:         GeoIP{Enabled: true, Dir: DefaultGeoIPDir},
	}
	var files []string
	for _, p := range DefaultLogs {
		if exists(p) {
			files = append(files, p)
		}
	}
	if len(files) > 0 {
		c.Sources = []Source{{Files: files}}
	}
	c.Journald.Enabled = journaldDefault(exists)
	return c
}

// journaldDefault reports whether the journal is followed by default: when
// no syslog file of authentication exists and journalctl is on PATH.
func journaldDefault(exists func(string) bool) bool {
	if exists("/var/log/auth.log") || exists("/var/log/secure") {
		return false
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir != "" && filepath.IsAbs(dir) && exists(filepath.Join(dir, "journalctl")) {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Load reads and decodes the configuration file at path. Every problem is
// reported, joined, each as "config FILE:LINE: ...".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a configuration file's content; name is used in errors.
func Parse(name string, data []byte) (*Config, error) { return parse(name, data, exists) }

func parse(name string, data []byte, exists func(string) bool) (*Config, error) {
	d := newDecoder(name)
	c := defaults(func(string) bool { return false })
	c.File = name
	sourcesSet, journaldSet := false, false
	dec := yaml.NewDecoder(bytes.NewReader(data))
	docs := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			d.Syntax(err)
			break
		}
		if docs++; docs > 1 {
			d.Errorf(&doc, "only one YAML document is allowed")
			break
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue
		}
		d.Mapping(root, "herd.yaml", yamlstrict.Fields{
			"sources": func(v *yaml.Node) {
				sourcesSet = true
				c.Sources = nil
				d.Sequence(v, "sources", func(n *yaml.Node) {
					s := Source{Line: n.Line}
					d.Mapping(n, "source", yamlstrict.Fields{
						"files":   func(v *yaml.Node) { s.Files = d.strs(v, "source.files") },
						"program": func(v *yaml.Node) { s.Program = d.Str(v, "source.program") },
						"format": func(v *yaml.Node) {
							s.Format = d.Str(v, "source.format")
							if !slices.Contains(FormatNames, s.Format) {
								d.Errorf(v, "source.format: unknown format %q (known: %s)", yamlstrict.Clip(s.Format), strings.Join(FormatNames, ", "))
							}
						},
					})
					if len(s.Files) == 0 && n.Kind == yaml.MappingNode {
						d.Errorf(n, "source: needs files (a list of paths or globs)")
					}
					c.Sources = append(c.Sources, s)
				})
			},
			"journald": func(v *yaml.Node) {
				journaldSet = true
				c.Journald = Journald{Enabled: true, Line: v.Line}
				d.Mapping(v, "journald", yamlstrict.Fields{
					"enabled": func(v *yaml.Node) { c.Journald.Enabled = d.boolean(v, "journald.enabled") },
					"units":   func(v *yaml.Node) { c.Journald.Units = d.strs(v, "journald.units") },
				})
			},
			"syslog":    func(v *yaml.Node) { d.syslog(v, &c.Syslog) },
			"rules_dir": func(v *yaml.Node) { c.RulesDir = d.Str(v, "rules_dir") },
			"control_socket": func(v *yaml.Node) {
				if c.ControlSocket = d.Str(v, "control_socket"); c.ControlSocket != "" && !filepath.IsAbs(c.ControlSocket) {
					d.Errorf(v, "control_socket: %q is not an absolute path", yamlstrict.Clip(c.ControlSocket))
				}
			},
			"database": func(v *yaml.Node) {
				dsnSet := false
				d.Mapping(v, "database", yamlstrict.Fields{
					"driver": func(v *yaml.Node) {
						c.Database.Driver = d.Str(v, "database.driver")
						if c.Database.Driver != "sqlite" && c.Database.Driver != "postgres" {
							d.Errorf(v, "database.driver: must be sqlite or postgres, not %q", yamlstrict.Clip(c.Database.Driver))
						}
					},
					"dsn": func(v *yaml.Node) { c.Database.DSN, dsnSet = d.Str(v, "database.dsn"), true },
				})
				if c.Database.Driver == "postgres" && !dsnSet {
					d.Errorf(v, "database: postgres needs a dsn")
				}
				if dsnSet && c.Database.DSN == "" {
					d.Errorf(v, "database.dsn: must not be empty")
				}
			},
			"firewall": func(v *yaml.Node) {
				d.Mapping(v, "firewall", yamlstrict.Fields{
					"enabled": func(v *yaml.Node) { c.Firewall.Enabled = d.boolean(v, "firewall.enabled") },
					"table": func(v *yaml.Node) {
						c.Firewall.Table = d.Str(v, "firewall.table")
						if !validTable(c.Firewall.Table) {
							d.Errorf(v, "firewall.table: %q is not a valid table name (letters, digits, _ and -, at most 64)", yamlstrict.Clip(c.Firewall.Table))
						}
					},
					"forward": func(v *yaml.Node) { c.Firewall.Forward = d.boolean(v, "firewall.forward") },
					"backend": func(v *yaml.Node) {
						c.Firewall.Backend = d.Str(v, "firewall.backend")
						switch c.Firewall.Backend {
						case BackendAuto, BackendNftables, BackendIptables:
						default:
							d.Errorf(v, "firewall.backend: %q is not auto, nftables or iptables", yamlstrict.Clip(c.Firewall.Backend))
						}
					},
				})
			},
			"xdp": func(v *yaml.Node) {
				c.XDP = XDP{Enabled: true, Line: v.Line}
				d.Mapping(v, "xdp", yamlstrict.Fields{
					"enabled":    func(v *yaml.Node) { c.XDP.Enabled = d.boolean(v, "xdp.enabled") },
					"interfaces": func(v *yaml.Node) { c.XDP.Interfaces = d.strs(v, "xdp.interfaces") },
					"mode": func(v *yaml.Node) {
						c.XDP.Mode = d.Str(v, "xdp.mode")
						if c.XDP.Mode != XDPGeneric && c.XDP.Mode != XDPNative {
							d.Errorf(v, "xdp.mode: %q is not generic or native", yamlstrict.Clip(c.XDP.Mode))
						}
					},
					"max_entries": func(v *yaml.Node) { c.XDP.MaxEntries = d.integer(v, "xdp.max_entries", 1, 1<<26) },
				})
				if c.XDP.Enabled && len(c.XDP.Interfaces) == 0 {
					d.Errorf(v, "xdp: needs interfaces (the interfaces to attach to), or enabled: false")
				}
				for _, name := range c.XDP.Interfaces {
					if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
						d.Errorf(v, "xdp.interfaces: %q is not an interface name", yamlstrict.Clip(name))
					}
				}
			},
			"sensor": func(v *yaml.Node) {
				c.Sensor = Sensor{Enabled: true, Line: v.Line}
				d.Mapping(v, "sensor", yamlstrict.Fields{
					"enabled":      func(v *yaml.Node) { c.Sensor.Enabled = d.boolean(v, "sensor.enabled") },
					"interfaces":   func(v *yaml.Node) { c.Sensor.Interfaces = d.strs(v, "sensor.interfaces") },
					"filter":       func(v *yaml.Node) { c.Sensor.Filter = d.Str(v, "sensor.filter") },
					"workers":      func(v *yaml.Node) { c.Sensor.Workers = d.integer(v, "sensor.workers", 1, 64) },
					"flows":        func(v *yaml.Node) { c.Sensor.Flows = d.integer(v, "sensor.flows", 64, 1<<24) },
					"fingerprints": func(v *yaml.Node) { c.Sensor.Fingerprints = d.path(v, "sensor.fingerprints") },
				})
				if c.Sensor.Enabled && len(c.Sensor.Interfaces) == 0 {
					d.Errorf(v, "sensor: needs interfaces (the interfaces to capture on), or enabled: false")
				}
				for _, name := range c.Sensor.Interfaces {
					if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
						d.Errorf(v, "sensor.interfaces: %q is not an interface name", yamlstrict.Clip(name))
					}
				}
			},
			"api": func(v *yaml.Node) {
				d.Mapping(v, "api", yamlstrict.Fields{
					"tls_cert": func(v *yaml.Node) { c.API.TLSCert, c.API.TLSLine = d.path(v, "api.tls_cert"), v.Line },
					"tls_key":  func(v *yaml.Node) { c.API.TLSKey = d.path(v, "api.tls_key") },
					"listen": func(v *yaml.Node) {
						c.API.Listen = d.Str(v, "api.listen")
						if c.API.Listen != "" {
							if _, err := netip.ParseAddrPort(c.API.Listen); err != nil {
								d.Errorf(v, "api.listen: %q is not an address:port (\"\" disables the API)", yamlstrict.Clip(c.API.Listen))
							}
						}
					},
					"trusted_proxies": func(v *yaml.Node) {
						c.API.TrustedProxies = []netip.Prefix{}
						for _, s := range d.strs(v, "api.trusted_proxies") {
							p, err := ParsePrefix(s)
							if err != nil {
								d.Errorf(v, "api.trusted_proxies: %v", err)
								continue
							}
							c.API.TrustedProxies = append(c.API.TrustedProxies, p)
						}
					},
					"open_forward_auth": func(v *yaml.Node) { c.API.OpenForwardAuth = d.boolean(v, "api.open_forward_auth") },
					"max_connections": func(v *yaml.Node) {
						c.API.MaxConnections = d.integer(v, "api.max_connections", 1, 1<<20)
					},
					"max_connections_per_address": func(v *yaml.Node) {
						c.API.MaxConnectionsPerAddress = d.integer(v, "api.max_connections_per_address", 1, 1<<20)
					},
					"forward_auth_listen": func(v *yaml.Node) {
						c.API.ForwardAuthListen = d.Str(v, "api.forward_auth_listen")
						if c.API.ForwardAuthListen != "" {
							if _, err := netip.ParseAddrPort(c.API.ForwardAuthListen); err != nil {
								d.Errorf(v, "api.forward_auth_listen: %q is not an address:port", yamlstrict.Clip(c.API.ForwardAuthListen))
							}
						}
					},
				})
				d.pair(v, "api", c.API.TLSCert, c.API.TLSKey)
			},
			"metrics": func(v *yaml.Node) {
				var listen *yaml.Node
				d.Mapping(v, "metrics", yamlstrict.Fields{
					"tls_cert": func(v *yaml.Node) { c.Metrics.TLSCert, c.Metrics.TLSLine = d.path(v, "metrics.tls_cert"), v.Line },
					"tls_key":  func(v *yaml.Node) { c.Metrics.TLSKey = d.path(v, "metrics.tls_key") },
					"listen": func(v *yaml.Node) {
						listen, c.Metrics.Listen = v, d.Str(v, "metrics.listen")
					},
					"allow_remote": func(v *yaml.Node) { c.Metrics.AllowRemote = d.boolean(v, "metrics.allow_remote") },
				})
				d.pair(v, "metrics", c.Metrics.TLSCert, c.Metrics.TLSKey)
				if listen == nil || c.Metrics.Listen == "" {
					return
				}
				ap, err := netip.ParseAddrPort(c.Metrics.Listen)
				switch {
				case err != nil:
					d.Errorf(listen, "metrics.listen: %q is not an address:port (\"\" turns metrics off)", yamlstrict.Clip(c.Metrics.Listen))
				case !ap.Addr().IsLoopback() && !c.Metrics.AllowRemote:
					d.Errorf(listen, "metrics.listen: %s is not a loopback address; set metrics.allow_remote: true to serve metrics beyond this host", ap.Addr())
				}
			},
			"console": func(v *yaml.Node) {
				c.Console.Line = v.Line
				var listen *yaml.Node
				d.Mapping(v, "console", yamlstrict.Fields{
					"enabled":       func(v *yaml.Node) { c.Console.Enabled = d.boolean(v, "console.enabled") },
					"listen":        func(v *yaml.Node) { listen, c.Console.Listen = v, d.Str(v, "console.listen") },
					"allow_remote":  func(v *yaml.Node) { c.Console.AllowRemote = d.boolean(v, "console.allow_remote") },
					"password_file": func(v *yaml.Node) { c.Console.PasswordFile = d.path(v, "console.password_file") },
					"tls_cert":      func(v *yaml.Node) { c.Console.TLSCert, c.Console.TLSLine = d.path(v, "console.tls_cert"), v.Line },
					"tls_key":       func(v *yaml.Node) { c.Console.TLSKey = d.path(v, "console.tls_key") },
				})
				d.pair(v, "console", c.Console.TLSCert, c.Console.TLSKey)
				if listen == nil {
					return
				}
				ap, err := netip.ParseAddrPort(c.Console.Listen)
				switch {
				case err != nil:
					d.Errorf(listen, "console.listen: %q is not an address:port", yamlstrict.Clip(c.Console.Listen))
				case !ap.Addr().IsLoopback() && !c.Console.AllowRemote:
					d.Errorf(listen, "console.listen: %s is not a loopback address; set console.allow_remote: true to serve the console beyond this host", ap.Addr())
				}
			},
			"allow": func(v *yaml.Node) {
				if !d.Kind(v, yaml.SequenceNode, "allow", "a list of addresses or prefixes") {
					return
				}
				for _, n := range v.Content {
					s := d.Str(n, "allow")
					if s == "" {
						continue
					}
					p, err := ParsePrefix(s)
					if err != nil {
						d.Errorf(n, "allow: %v", err)
						continue
					}
					c.Allow = append(c.Allow, p)
				}
			},
			"notifications": func(v *yaml.Node) {
				c.Notifications = nil
				d.Sequence(v, "notifications", func(n *yaml.Node) {
					c.Notifications = append(c.Notifications, d.notification(n))
				})
			},
			"geoip": func(v *yaml.Node) {
				d.Mapping(v, "geoip", yamlstrict.Fields{
					"enabled": func(v *yaml.Node) { c.GeoIP.Enabled = d.boolean(v, "geoip.enabled") },
					"dir":     func(v *yaml.Node) { c.GeoIP.Dir = d.path(v, "geoip.dir") },
				})
			},
			"report": func(v *yaml.Node) {
				r := Report{Line: v.Line}
				var receive *bool
				d.Mapping(v, "report", yamlstrict.Fields{
					"ca_file": func(v *yaml.Node) { r.CAFile = d.path(v, "report.ca_file") },
					"receive": func(v *yaml.Node) {
						b := d.boolean(v, "report.receive")
						receive = &b
					},
					"bouncer_key":      func(v *yaml.Node) { r.BouncerKey = d.Str(v, "report.bouncer_key") },
					"bouncer_key_file": func(v *yaml.Node) { r.BouncerKeyFile = d.path(v, "report.bouncer_key_file") },
					"url":              func(v *yaml.Node) { r.URL = d.Str(v, "report.url") },
					"machine":          func(v *yaml.Node) { r.Machine = d.Str(v, "report.machine") },
					"password":         func(v *yaml.Node) { r.Password = d.Str(v, "report.password") },
					"password_file":    func(v *yaml.Node) { r.PasswordFile = d.Str(v, "report.password_file") },
				})
				if v.Kind != yaml.MappingNode {
					return
				}
				if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					d.Errorf(v, "report.url: %q is not an http:// or https:// URL", yamlstrict.Clip(r.URL))
				}
				if r.Machine == "" {
					d.Errorf(v, "report: needs machine (the name given to herd machines add on the central host)")
				}
				if (r.Password == "") == (r.PasswordFile == "") {
					d.Errorf(v, "report: needs exactly one of password and password_file")
				}
				if r.PasswordFile != "" && !filepath.IsAbs(r.PasswordFile) {
					d.Errorf(v, "report.password_file: %q is not an absolute path", yamlstrict.Clip(r.PasswordFile))
				}
				if r.BouncerKey != "" && r.BouncerKeyFile != "" {
					d.Errorf(v, "report: bouncer_key and bouncer_key_file are exclusive")
				}
				r.Receive = r.BouncerKey != "" || r.BouncerKeyFile != ""
				if receive != nil {
					if *receive && !r.Receive {
						d.Errorf(v, "report: receive needs bouncer_key or bouncer_key_file (made with herd bouncers add on the central host)")
					}
					r.Receive = *receive && r.Receive
				}
				c.Report = r
			},
			"simulate": func(v *yaml.Node) { c.Simulate = d.boolean(v, "simulate") },
			"alert_lines_bytes": func(v *yaml.Node) {
				c.AlertLinesBytes = d.integer(v, "alert_lines_bytes", MinAlertLinesBytes, MaxAlertLinesBytes)
			},
			"hub": func(v *yaml.Node) {
				c.Hub = Hub{KeyFile: DefaultHubKeyFile, Share: true, Receive: true, Predictions: true, Line: v.Line}
				d.Mapping(v, "hub", yamlstrict.Fields{
					"url": func(v *yaml.Node) {
						c.Hub.URL = d.Str(v, "hub.url")
						if u, err := url.Parse(c.Hub.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
							d.Errorf(v, "hub.url: %q is not an http(s) URL", yamlstrict.Clip(c.Hub.URL))
						}
					},
					"key_file": func(v *yaml.Node) { c.Hub.KeyFile = d.Str(v, "hub.key_file") },
					"share": func(v *yaml.Node) {
						if v.Kind == yaml.SequenceNode {
							c.Hub.ShareClasses = d.strs(v, "hub.share")
							if c.Hub.ShareClasses == nil {
								c.Hub.ShareClasses = []string{}
							}
							c.Hub.Share = len(c.Hub.ShareClasses) > 0
							return
						}
						c.Hub.Share = d.boolean(v, "hub.share")
					},
					"receive":        func(v *yaml.Node) { c.Hub.Receive = d.boolean(v, "hub.receive") },
					"predictions":    func(v *yaml.Node) { c.Hub.Predictions = d.boolean(v, "hub.predictions") },
					"public_key":     func(v *yaml.Node) { c.Hub.PublicKey = d.Str(v, "hub.public_key") },
					"ca_file":        func(v *yaml.Node) { c.Hub.CAFile = d.Str(v, "hub.ca_file") },
					"egress_journal": func(v *yaml.Node) { c.Hub.EgressJournal = d.Str(v, "hub.egress_journal") },
					"groups_file":    func(v *yaml.Node) { c.Hub.GroupsFile = d.Str(v, "hub.groups_file") },
					"group_key_file": func(v *yaml.Node) { c.Hub.GroupKeyFile = d.Str(v, "hub.group_key_file") },
					"group_max_duration": func(v *yaml.Node) {
						c.Hub.GroupMaxDuration = d.duration(v, "hub.group_max_duration", time.Second)
					},
				})
				if c.Hub.URL == "" && v.Kind == yaml.MappingNode {
					d.Errorf(v, "hub: needs url")
				}
				if c.Hub.PublicKey != "" {
					if k, err := base64.StdEncoding.DecodeString(c.Hub.PublicKey); err != nil || len(k) != 32 {
						d.Errorf(v, "hub.public_key: must be a base64 ed25519 public key (32 bytes)")
					}
				} else if c.Hub.Receive && c.Hub.URL != "" {
					d.Errorf(v, "hub: receive needs public_key (the hub's blocklist-signing key, printed by herd hub serve)")
				}
			},
			"json_client_fields": func(v *yaml.Node) {
				c.JSONClientFields = d.strs(v, "json_client_fields")
				if v.Kind == yaml.SequenceNode && len(c.JSONClientFields) == 0 {
					d.Errorf(v, "json_client_fields: empty; leave it out for the default (remote_addr, request.remote_ip)")
				}
				for _, f := range c.JSONClientFields {
					name, _ := strings.CutPrefix(f, "request.")
					if name == "" || name == "request" || strings.ContainsAny(name, ".\"\\ ") {
						d.Errorf(v, "json_client_fields: %q: want a key (remote_addr) or request.KEY (request.remote_ip)", yamlstrict.Clip(f))
					}
				}
			},
			"timezone": func(v *yaml.Node) {
				c.Timezone = d.Str(v, "timezone")
				if c.Timezone != "" {
					if _, err := time.LoadLocation(c.Timezone); err != nil {
						d.Errorf(v, "timezone: unknown zone %q", yamlstrict.Clip(c.Timezone))
					}
				}
			},
		})
	}
	if !sourcesSet || !journaldSet {
		def := defaults(exists)
		if !sourcesSet {
			c.Sources = def.Sources
		}
		if !journaldSet {
			c.Journald = def.Journald
		}
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return c, nil
}

// syslog decodes the syslog key into s, which holds the defaults.
func (d *decoder) syslog(n *yaml.Node, s *Syslog) {
	s.Line = n.Line
	var udpNode, tcpNode *yaml.Node
	d.Mapping(n, "syslog", yamlstrict.Fields{
		"udp":             func(v *yaml.Node) { s.UDP, udpNode = d.Str(v, "syslog.udp"), v },
		"tcp":             func(v *yaml.Node) { s.TCP, tcpNode = d.Str(v, "syslog.tcp"), v },
		"max_message":     func(v *yaml.Node) { s.MaxMessage = d.integer(v, "syslog.max_message", 480, 1<<20) },
		"max_connections": func(v *yaml.Node) { s.MaxConnections = d.integer(v, "syslog.max_connections", 1, 65536) },
		"idle_timeout":    func(v *yaml.Node) { s.IdleTimeout = d.duration(v, "syslog.idle_timeout", time.Second) },
		"allow_remote":    func(v *yaml.Node) { s.AllowRemote = d.boolean(v, "syslog.allow_remote") },
	})
	for _, l := range []struct {
		what, addr string
		n          *yaml.Node
	}{{"syslog.udp", s.UDP, udpNode}, {"syslog.tcp", s.TCP, tcpNode}} {
		if l.addr == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(l.addr)
		if err != nil {
			d.Errorf(l.n, "%s: %q is not an ip:port (\"\" turns it off)", l.what, yamlstrict.Clip(l.addr))
			continue
		}
		if !ap.Addr().IsLoopback() && !s.AllowRemote {
			d.Errorf(l.n, "%s: %s is not a loopback address; whoever can reach it can send lines that make herd ban any address they name, so set allow_remote: true only when a firewall limits the port to trusted relays", l.what, l.addr)
		}
	}
}

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

func validTable(s string) bool { return tableName.MatchString(s) }

// ParsePrefix parses an address ("192.0.2.7", a /32 or /128) or a prefix
// ("192.0.2.0/24"), unmapping IPv4-mapped forms and masking host bits.
// Zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// decoder walks the yaml.Node tree, collecting every problem.
type decoder struct {
	yamlstrict.Decoder
	errs []error
}

func newDecoder(file string) *decoder {
	d := &decoder{}
	d.Decoder = yamlstrict.Decoder{
		Report:   func(line int, err error) { d.errs = append(d.errs, &Error{File: file, Line: line, Err: err}) },
		ClipKeys: true,
	}
	return d
}

// path decodes an absolute file path.
func (d *decoder) path(n *yaml.Node, what string) string {
	s := d.Str(n, what)
	if n.ShortTag() == "!!str" && !filepath.IsAbs(s) {
		d.Errorf(n, "%s: %q is not an absolute path", what, yamlstrict.Clip(s))
	}
	return s
}

// notification decodes one entry of notifications.
func (d *decoder) notification(n *yaml.Node) Notification {
	c := Notification{Line: n.Line}
	d.Mapping(n, "notifications", yamlstrict.Fields{
		"name": func(v *yaml.Node) { c.Name = d.Str(v, "notification.name") },
		"type": func(v *yaml.Node) {
			c.Type = d.Str(v, "notification.type")
			if !slices.Contains(NotificationTypes, c.Type) {
				d.Errorf(v, "notification.type: %q is not one of %s", yamlstrict.Clip(c.Type), strings.Join(NotificationTypes, ", "))
			}
		},
		"url":           func(v *yaml.Node) { c.URL = d.Str(v, "notification.url") },
		"token_file":    func(v *yaml.Node) { c.TokenFile = d.path(v, "notification.token_file") },
		"alerts":        func(v *yaml.Node) { c.Alerts = d.boolean(v, "notification.alerts") },
		"title":         func(v *yaml.Node) { c.Title = d.Str(v, "notification.title") },
		"body":          func(v *yaml.Node) { c.Body = d.Str(v, "notification.body") },
		"rate":          func(v *yaml.Node) { c.Rate = d.integer(v, "notification.rate", 1, 100000) },
		"window":        func(v *yaml.Node) { c.Window = d.duration(v, "notification.window", time.Second) },
		"retries":       func(v *yaml.Node) { c.Retries = d.integer(v, "notification.retries", -1, 100) },
		"backoff":       func(v *yaml.Node) { c.Backoff = d.duration(v, "notification.backoff", time.Millisecond) },
		"smtp":          func(v *yaml.Node) { c.SMTP = d.Str(v, "notification.smtp") },
		"from":          func(v *yaml.Node) { c.From = d.Str(v, "notification.from") },
		"to":            func(v *yaml.Node) { c.To = d.strs(v, "notification.to") },
		"username":      func(v *yaml.Node) { c.Username = d.Str(v, "notification.username") },
		"password_file": func(v *yaml.Node) { c.PasswordFile = d.path(v, "notification.password_file") },
		"ca_file":       func(v *yaml.Node) { c.CAFile = d.path(v, "notification.ca_file") },
		"plain_text":    func(v *yaml.Node) { c.PlainText = d.boolean(v, "notification.plain_text") },
	})
	if n.Kind != yaml.MappingNode {
		return c
	}
	switch {
	case c.Name == "":
		d.Errorf(n, "notification: needs a name")
	case c.Type == "":
		d.Errorf(n, "notification %q: needs a type (%s)", yamlstrict.Clip(c.Name), strings.Join(NotificationTypes, ", "))
	case c.Type == "email" && (c.SMTP == "" || c.From == "" || len(c.To) == 0):
		d.Errorf(n, "notification %q: email needs smtp (host:port), from and to", yamlstrict.Clip(c.Name))
	case c.Type == "email" && c.PlainText && c.Username != "":
		d.Errorf(n, "notification %q: credentials are only sent over TLS: plain_text and username exclude each other", yamlstrict.Clip(c.Name))
	case c.Type == "email" && (c.Username == "") != (c.PasswordFile == ""):
		d.Errorf(n, "notification %q: username and password_file go together", yamlstrict.Clip(c.Name))
	case c.Type != "email" && c.Type != "" && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://"):
		d.Errorf(n, "notification %q: %s needs an http:// or https:// url", yamlstrict.Clip(c.Name), c.Type)
	}
	return c
}

// pair checks that a certificate and its key are given together.
func (d *decoder) pair(n *yaml.Node, what, cert, key string) {
	if (cert == "") != (key == "") {
		d.Errorf(n, "%s: tls_cert and tls_key go together: give both or neither", what)
	}
}

func (d *decoder) strs(n *yaml.Node, what string) []string {
	if !d.Kind(n, yaml.SequenceNode, what, "a list of strings") {
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if !d.Kind(c, 0, what, "") {
			continue
		}
		if s := d.Str(c, what); s != "" {
			out = append(out, s)
		} else if c.ShortTag() == "!!str" {
			d.Errorf(c, "%s: empty path", what)
		}
	}
	return out
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.Errorf(n, "%s: expected true or false, found %s", what, yamlstrict.Describe(n))
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b
}

// integer decodes a decimal integer within [lo, hi].
func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, "%s: expected a whole number, found %s", what, yamlstrict.Describe(n))
		return 0
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.Errorf(n, "%s: %s is out of range (%d to %d)", what, yamlstrict.Clip(n.Value), lo, hi)
		return 0
	}
	return int(v)
}

// duration decodes a Go duration string ("30s", "5m") of at least lo.
func (d *decoder) duration(n *yaml.Node, what string, lo time.Duration) time.Duration {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.Errorf(n, "%s: expected a duration such as \"5m\", found %s", what, yamlstrict.Describe(n))
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < lo {
		d.Errorf(n, "%s: %q is not a duration of at least %s", what, yamlstrict.Clip(n.Value), lo)
		return 0
	}
	return v
}
