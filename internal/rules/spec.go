// Package rules reads herd's rule files (parsers, scenarios, profiles) into
// specs: plain, validated values with the file and line each came from. The
// defaults are embedded in the binary; a user directory overrides rules of the
// same name and adds new ones. Specs are compiled into runtime matchers by the
// parse, scenario and profile packages; this package does no matching itself.
package rules

import "time"

// Pos is where a rule was written, for error messages ("sshd.yaml:12").
type Pos struct {
	File string
	Line int
}

// Set is every rule herd runs with, in load order.
type Set struct {
	Parsers   []ParserSpec
	Scenarios []ScenarioSpec
	Profiles  []ProfileSpec
}

// ParserSpec describes how to turn one family of log lines into events.
//
// A line is offered to a parser when its envelope's program matches one of
// Programs (exact, or a glob with '*' such as "postfix/*"), or, when Raw is
// set, when the line carries no recognised envelope (access logs, MySQL's own
// error log) or the caller named the program explicitly. A parser whose
// Prefilter literals are all absent from the message is skipped without
// running its patterns; when Prefilter is empty it is derived from the
// patterns' literal text.
type ParserSpec struct {
	Pos       Pos
	Name      string   // unique, e.g. "sshd-failed-password"
	Programs  []string // syslog program names or globs; empty when Raw
	Raw       bool     // applies to lines without envelope (the whole line is the message)
	Service   string   // service family written into events ("ssh", "http", ...)
	Kind      string   // event kind name ("auth_failure", ...; "none" remembers a session only)
	Reason    string   // finer label, optional
	Prefilter []string // literals, any of which must occur in the message
	Patterns  []string // templates (see docs/rules.md), tried in order
	Regexps   []string // Go regular expressions with named groups, tried after Patterns
	// PatternLines and RegexpLines are the lines of the file where each
	// of Patterns and Regexps was written (0 when unknown), so that an
	// error in one names its own line.
	PatternLines []int
	RegexpLines  []int
	Format       string // a built-in decoder instead of patterns: "clf" (common/combined/vhost), "json-access"
	// Family names the log format a raw parser reads (RawFamilies), so that
	// it only meets lines of files bound to that format. Empty: the parse
	// package infers it from Format or from the time layout the patterns
	// start with (docs/sources.md).
	Family string
	// Session names what keys a multi-line session ("pid"): an event with no
	// source takes the source last seen for the same program and session key,
	// and every matched line with a source records it. "user" is "pid" that
	// also compares the user names of one connection; "conn" keys the
	// session by the line's %{session} capture, a connection id the server
	// writes, instead of the pid; "conn-open" is "conn" for the line that
	// opens a connection; "header" gives the line's time to the program's
	// next line when that line has none (docs/rules.md).
	Session string
	// Set gives constant field values, e.g. {"status": "401"}.
	Set map[string]string
}

// RawFamilies are the log formats a raw parser may name in Family
// (docs/sources.md): access logs by layout, web servers' error logs and
// services' own log files.
var RawFamilies = []string{"clf", "vhost_combined", "json-access", "nginx-error", "apache-error", "vsftpd", "mysql", "dovecot", "asterisk", "exim", "freeswitch", "bind", "roundcube", "mongodb", "postgres"}

// ScenarioSpec describes a behaviour to recognise per source.
type ScenarioSpec struct {
	Pos         Pos
	Name        string // unique, e.g. "ssh-bruteforce"
	Description string
	Type        string // "leaky" (default), "trigger" or "distinct"
	Filter      FilterSpec
	Capacity    int           // leaky: events held before overflow; overflow on the (Capacity+1)-th
	Leak        time.Duration // leaky: one event leaks out every Leak
	Distinct    string        // field whose distinct values are counted: "user", "path", "target" (path and query), "query", "port", "user_agent", "host" (a sensor event's target address)
	Window      time.Duration // distinct/leaky: how long values are remembered (distinct type)
	GroupBy     string        // "source" (default), "source+host", or "network" (the source's autonomous system, else its /24 or /48), which counts distinct sources: Distinct "source"
	IPv6Prefix  int           // IPv6 sources are grouped by this prefix length; default 64, 128 disables
	Blackhole   time.Duration // quiet period for a key after it overflowed
	Remedy      *bool         // whether an overflow leads to a decision; default true
	Simulated   bool          // alert without deciding, for this scenario alone
}

// FilterSpec selects the events a scenario counts. Every non-empty criterion
// must hold (AND); values inside one list are alternatives (OR). Matching of
// text criteria is case-insensitive for paths and user agents, exact otherwise.
type FilterSpec struct {
	Kinds             []string // event kinds
	Services          []string
	Reasons           []string
	NotReasons        []string
	Status            []int // HTTP statuses; "4xx"-style ranges are written as Status classes below
	StatusClasses     []int // 4 for any 4xx, 5 for 5xx
	Methods           []string
	PathContains      []string // any of these substrings in the path (after percent-decoding)
	PathSuffix        []string // path (query stripped) ends with any of these
	PathRegexp        string
	NotPathSuffix     []string // e.g. static assets: ".css", ".js", ".png"
	UserAgentContains []string
	QueryContains     []string // substrings of the query string (after percent-decoding), for SQLi/XSS
	RefererContains   []string // substrings of the Referer header, case-insensitively
	NotMethods        []string // the method is none of these (exact)
	// NotProtocols: the request line ends with a protocol ("HTTP/1.1")
	// and it is none of these (exact); a request line without one fails.
	NotProtocols []string
	// QueryDigits: [min, max]: the query string is decimal digits only,
	// min to max of them (cache busting: "/?48213377056").
	QueryDigits     []int
	NotPathContains []string // none of these substrings in the path (after percent-decoding)
	// WithUser: the event names a user (an access log's authenticated user
	// field is not "-"): a 401 a browser gets before it sends credentials
	// names none.
	WithUser bool
	// Users: the event's user name is one of these, case-insensitively. A
	// name without '@' is compared with the user name up to its last '@'
	// (the local part of an address), one with '@' with the whole name;
	// a trailing '*' matches any rest ("nonexistent_user*").
	Users []string
	// UnlessUserSeenOK: when set, an event whose user name (compared as
	// Users does without '@': up to its last '@', any case) logged in
	// successfully within this long before it, from any source, on one of
	// the filter's services (an auth_success event), does not match: a
	// name in real use is not a trap. 0: not checked.
	UnlessUserSeenOK time.Duration
	// Countries, NotCountries: the source's country (ISO 3166-1 alpha-2,
	// from GeoIP enrichment) is one of these / none of these. A source of
	// unknown country matches no Countries and every NotCountries.
	Countries, NotCountries []string
	// ASNs, NotASNs: the source's autonomous system is one of these /
	// none of these (unknown: as for countries).
	ASNs, NotASNs []uint32
}

// ProfileSpec turns alerts into decisions.
type ProfileSpec struct {
	Pos         Pos
	Name        string
	Scenarios   []string      // scenario names or globs this profile applies to; empty = all
	Type        string        // "ban" (default) or "captcha"
	Duration    time.Duration // first decision's duration; default 4h
	Escalate    bool          // repeat offenders get double the previous duration
	MaxDuration time.Duration // escalation cap; default 7 days
	Scope       string        // "ip" (default) or "range" (the scenario's group prefix)
	// IPv6Prefix is the prefix length an "ip"-scoped decision on an IPv6
	// source covers: an attacker rotates addresses within its /64, so the
	// default is 64; 128 bans the single address. 48..128.
	IPv6Prefix int
	// Countries and ASNs, when set, narrow the profile to alerts whose
	// source is in one of these countries or autonomous systems (GeoIP
	// enrichment): a longer ban for a listed ASN, say. Set both, and
	// either matching is enough.
	Countries []string
	ASNs      []uint32
}
