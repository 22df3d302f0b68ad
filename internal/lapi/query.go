package lapi

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/store"
)

// filter is what a bouncer's query parameters select. The zero filter
// selects every decision.
type filter struct {
	ip       netip.Addr   // ip=: decisions whose scope contains it
	rng      netip.Prefix // range=: with contains, decisions containing it; else decisions inside it
	contains bool
	// scopeIP and scopeRange say which scopes pass; both true when the
	// query names none.
	scopeIP, scopeRange bool
	value               netip.Prefix // value=: exact scope
	hasValue            bool         // value= was given (an unparsable one matches nothing)
	typ                 string       // type=: exact, "" for any
	origins             []string     // origins=: any of them, nil for any
	containing          []string     // scenarios_containing=: any of them, lower case
	notContaining       []string     // scenarios_not_containing=: none of them, lower case

	startup bool // stream only: startup=true
}

// maxQuery bounds the raw query string a bouncer may send.
const maxQuery = 4096

// parseDecisionQuery reads the query of GET /v1/decisions: ip, range,
// contains, scope, value, type, origins, scenarios_containing and
// scenarios_not_containing. Unknown parameters are ignored, as bouncers of
// other versions may send some.
func parseDecisionQuery(raw string) (filter, error) {
	return parseQuery(raw, false)
}

// parseStreamQuery reads the query of GET /v1/decisions/stream: startup,
// scopes (default "ip,range", as CrowdSec), origins, scenarios_containing and
// scenarios_not_containing.
func parseStreamQuery(raw string) (filter, error) {
	return parseQuery(raw, true)
}

func parseQuery(raw string, stream bool) (filter, error) {
	f := filter{contains: true, scopeIP: true, scopeRange: true}
	if len(raw) > maxQuery {
		return f, fmt.Errorf("query of %d bytes, more than %d", len(raw), maxQuery)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return f, fmt.Errorf("query: %w", err)
	}
	first := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := first("origins"); ok {
		f.origins = splitList(v, false)
	}
	if v, ok := first("scenarios_containing"); ok {
		f.containing = splitList(v, true)
	}
	if v, ok := first("scenarios_not_containing"); ok {
		f.notContaining = splitList(v, true)
	}
	if stream {
		if v, ok := first("startup"); ok {
			switch v {
			case "true":
				f.startup = true
			case "false", "":
			default:
				return f, fmt.Errorf("startup=%q: want true or false", v)
			}
		}
		if v, ok := first("scopes"); ok {
			f.scopeIP, f.scopeRange = false, false
			for _, s := range splitList(v, true) {
				switch s {
				case "ip":
					f.scopeIP = true
				case "range":
					f.scopeRange = true
				}
			}
		}
		return f, nil
	}
	if v, ok := first("ip"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || a.Zone() != "" {
			return f, fmt.Errorf("ip=%q: not an address", v)
		}
		f.ip = a.Unmap()
	}
	if v, ok := first("range"); ok {
		p, err := ipx.ParsePrefix(v)
		if err != nil {
			return f, fmt.Errorf("range=%q: not a range", v)
		}
		f.rng = p
	}
	if v, ok := first("contains"); ok {
		switch v {
		case "true", "":
		case "false":
			f.contains = false
		default:
			return f, fmt.Errorf("contains=%q: want true or false", v)
		}
	}
	if v, ok := first("scope"); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "ip":
			f.scopeRange = false
		case "range":
			f.scopeIP = false
		default: // country, as, username...: herd has none
			f.scopeIP, f.scopeRange = false, false
		}
	}
	if v, ok := first("value"); ok {
		f.hasValue = true
		if p, err := ipx.ParsePrefix(v); err == nil {
			f.value = p
		}
	}
	if v, ok := first("type"); ok {
		f.typ = v
	}
	return f, nil
}

// splitList splits a comma-separated list, trimming spaces, dropping empty
// items, lower-casing them when lower.
func splitList(v string, lower bool) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if lower {
			item = strings.ToLower(item)
		}
		out = append(out, item)
	}
	return out
}

// match reports whether f selects d.
func (f *filter) match(d *store.DecisionRecord) bool {
	if d.Simulated {
		return false
	}
	isIP := d.Scope.IsSingleIP()
	if isIP && !f.scopeIP || !isIP && !f.scopeRange {
		return false
	}
	if f.ip.IsValid() && !d.Scope.Contains(f.ip) {
		return false
	}
	if f.rng.IsValid() {
		if f.contains {
			// The decision contains the whole queried range.
			if d.Scope.Bits() > f.rng.Bits() || !d.Scope.Contains(f.rng.Addr()) {
				return false
			}
		} else if d.Scope.Bits() < f.rng.Bits() || !f.rng.Contains(d.Scope.Addr()) {
			return false
		}
	}
	if f.hasValue && (!f.value.IsValid() || f.value != d.Scope.Masked()) {
		return false
	}
	if f.typ != "" && f.typ != d.Type.String() {
		return false
	}
	if f.origins != nil && !containsString(f.origins, d.Origin) {
		return false
	}
	if f.containing != nil && !anyIn(d.Scenario, f.containing) {
		return false
	}
	if f.notContaining != nil && anyIn(d.Scenario, f.notContaining) {
		return false
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// anyIn reports whether scenario contains any of the lower-case words,
// ignoring ASCII case.
func anyIn(scenario string, words []string) bool {
	for _, w := range words {
		if containsFold(scenario, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case word w, ignoring
// ASCII case. It does not allocate.
func containsFold(s, w string) bool {
	if w == "" {
		return true
	}
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
