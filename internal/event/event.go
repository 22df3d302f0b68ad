// Package event defines the values that cross the boundaries between herd's
// stages: a parsed Event, the Alert a scenario raises, and the Decision a
// profile takes. Addresses are netip values from the parser to the firewall.
package event

import (
	"net/netip"
	"time"
)

// The origins of decisions (Decision.Origin). The store keeps them as they
// are spelled here; the local API and herd status show them.
const (
	// OriginHerd marks a decision a profile took from local detections,
	// or one a machine reported through the local API.
	OriginHerd = "herd"
	// OriginCommunity marks a decision taken from a hub's blocklist.
	OriginCommunity = "community"
	// OriginCLI marks a decision added with herd decisions add.
	OriginCLI = "cli"
	// OriginConsole marks a decision added from the web console.
	OriginConsole = "console"
	// OriginPredicted marks a decision taken from a hub's predictions:
	// short-lived bans of attackers expected soon (docs/hub.md).
	OriginPredicted = "predicted"
)

// Kind classifies what an event says about its source.
type Kind uint8

// The event kinds. KindNone marks a line a parser recognised but that says
// nothing about an attack (for example a connection opening whose address
// later lines of the same session refer to).
const (
	KindNone Kind = iota
	KindAuthFailure
	KindAuthSuccess
	KindHTTPRequest
	KindScan
	KindAbuse
	numKinds
)

var kindNames = [numKinds]string{"none", "auth_failure", "auth_success", "http_request", "scan", "abuse"}

// String returns the kind's name as rule files spell it ("auth_failure").
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "invalid"
}

// ParseKind returns the Kind whose name is s, and false if there is none.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// Event is one security-relevant fact taken from one log line (or packet).
//
// The byte-slice fields are views into the buffer the line was read into (or
// a parser's scratch space): they stay valid only until the producer parses
// its next line. A consumer that keeps an event beyond that must call Clone.
// Event is passed by pointer on hot paths and never allocates there.
type Event struct {
	Time    time.Time  // when the line says it happened, in the line's zone
	Source  netip.Addr // the address the line blames; unmapped (never ::ffff:a.b.c.d)
	Service string     // service family ("ssh", "http", "smtp", "imap", "ftp", "mysql", ...)
	Kind    Kind
	Reason  string // the parser rule's finer label ("invalid_user", "kex_error"); may be empty
	Parser  string // name of the parser rule that produced the event

	Status uint16 // HTTP status, 0 when absent
	Port   uint16 // target (local) port, 0 when absent
	Bytes  int64  // response size in bytes, -1 when the log says "-"

	User      []byte // user name the source tried; attacker-written
	Method    []byte // HTTP method; attacker-written
	Path      []byte // HTTP request target (path and query); attacker-written
	Proto     []byte // HTTP protocol ending the request line ("HTTP/1.1"); attacker-written
	UserAgent []byte // HTTP User-Agent; attacker-written
	Referer   []byte // HTTP Referer; attacker-written
	Host      []byte // HTTP virtual host, when the log carries it

	// Geo is where Source is, when GeoIP enrichment is on and a scenario
	// filter asks for it; the zero value otherwise.
	Geo Geo
}

// Geo is what enrichment knows of an address: its country and the
// autonomous system announcing it. Its strings belong to the database that
// filled it and are never attacker-written.
type Geo struct {
	Country string // ISO 3166-1 alpha-2 code ("FR"), "" when unknown
	ASN     uint32 // autonomous system number, 0 when unknown
	ASOrg   string // the autonomous system's organisation, "" when unknown
}

// Known reports whether g says anything.
func (g Geo) Known() bool { return g.Country != "" || g.ASN != 0 }

// Reset clears e for reuse without releasing its storage.
func (e *Event) Reset() {
	*e = Event{Bytes: -1}
}

// Clone returns a copy of e whose byte fields no longer alias the producer's
// buffer. It allocates.
func (e *Event) Clone() Event {
	c := *e
	c.User = clone(e.User)
	c.Method = clone(e.Method)
	c.Path = clone(e.Path)
	c.Proto = clone(e.Proto)
	c.UserAgent = clone(e.UserAgent)
	c.Referer = clone(e.Referer)
	c.Host = clone(e.Host)
	return c
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Alert is what a scenario raises when a source's behaviour crosses its
// threshold. It owns its memory.
type Alert struct {
	Scenario string
	Source   netip.Addr   // the address that triggered the alert
	Scope    netip.Prefix // the group the bucket was keyed on (a /64 for IPv6 by default)
	First    time.Time    // time of the first event in the bucket
	Last     time.Time    // time of the event that overflowed it
	Events   int          // events counted into the bucket, the overflowing one included
	Remedy   bool         // false for scenarios that only inform (no decision)
	Geo      Geo          // where Source is; zero when enrichment is off
}

// DecisionType says what to do to a source.
type DecisionType uint8

// The decision types.
const (
	Ban DecisionType = iota + 1
	Captcha
)

// String returns the type's name as the CrowdSec API spells it.
func (t DecisionType) String() string {
	switch t {
	case Ban:
		return "ban"
	case Captcha:
		return "captcha"
	}
	return "invalid"
}

// Decision is a remediation taken against a scope until it expires.
type Decision struct {
	Type      DecisionType
	Scope     netip.Prefix // a single address is a /32 or /128
	Duration  time.Duration
	Until     time.Time
	Scenario  string
	Origin    string // who took it: one of the Origin constants
	Simulated bool   // taken in simulation mode: reported, never enforced
}

// Change is a batched diff of the live decisions, in the order an enforcer
// applies it: every Delete first, then every Add. A scope in both is a
// replacement (a longer ban), which an enforcer must delete and add again
// since some kernels keep the old expiry of an element already present.
// The slices belong to the receiver once handed over.
type Change struct {
	Add    []Decision
	Delete []netip.Prefix
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool { return len(c.Add) == 0 && len(c.Delete) == 0 }
