package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/ipx"
)

// Bounds of CrowdSec's files.
const (
	maxWhitelistBytes = 4 << 20
	// MaxDecisionsInput bounds cscli decisions list -o json's output read.
	MaxDecisionsInput = 256 << 20
	maxYAMLDocuments  = 64
)

// CrowdsecAllowlist is what CrowdSec's whitelist parsers (and allowlists)
// hold that herd's allowlist can take, and what it cannot.
type CrowdsecAllowlist struct {
	Prefixes []netip.Prefix
	// Unsupported lists entries herd has no equivalent for: expressions
	// (evt.Parsed..., evt.Meta...), malformed addresses, each "file: text".
	Unsupported []string
	Files       []string
}

// whitelistNode is one YAML document of a CrowdSec parser file: herd reads
// its whitelist block.
type whitelistNode struct {
	Name      string `yaml:"name"`
	Whitelist *struct {
		Reason     string   `yaml:"reason"`
		IP         []string `yaml:"ip"`
		CIDR       []string `yaml:"cidr"`
		Expression []string `yaml:"expression"`
	} `yaml:"whitelist"`
}

// ReadCrowdsecWhitelists reads the whitelist parser files of a CrowdSec
// configuration directory: parsers/s02-enrich/*.yaml (those with a
// whitelist block; the package's is whitelists.yaml) and, when present,
// the hub's copies they link to. Addresses and CIDR prefixes are kept;
// expressions are named as having no equivalent.
func ReadCrowdsecWhitelists(dir string) (CrowdsecAllowlist, error) {
	var out CrowdsecAllowlist
	files, err := filepath.Glob(filepath.Join(dir, "parsers", "s02-enrich", "*.yaml"))
	if err != nil {
		return out, fmt.Errorf("crowdsec: %w", err)
	}
	if _, err := os.Stat(dir); err != nil {
		return out, fmt.Errorf("crowdsec: %w", err)
	}
	slices.Sort(files)
	seen := map[netip.Prefix]bool{}
	for _, f := range files {
		b, err := readBounded(f, maxWhitelistBytes)
		if err != nil {
			return out, fmt.Errorf("crowdsec: %w", err)
		}
		n, err := addWhitelists(&out, seen, f, b)
		if err != nil {
			return out, err
		}
		if n > 0 {
			out.Files = append(out.Files, f)
		}
	}
	return out, nil
}

// ParseCrowdsecWhitelist adds the whitelist blocks of one parser file's
// text to out; it returns how many blocks it found.
func ParseCrowdsecWhitelist(out *CrowdsecAllowlist, file string, b []byte) (int, error) {
	seen := map[netip.Prefix]bool{}
	for _, p := range out.Prefixes {
		seen[p] = true
	}
	return addWhitelists(out, seen, file, b)
}

func addWhitelists(out *CrowdsecAllowlist, seen map[netip.Prefix]bool, file string, b []byte) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	blocks := 0
	for i := 0; ; i++ {
		if i >= maxYAMLDocuments {
			return blocks, fmt.Errorf("crowdsec: %s: more than %d YAML documents", file, maxYAMLDocuments)
		}
		var n whitelistNode
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return blocks, nil
		}
		if err != nil {
			return blocks, fmt.Errorf("crowdsec: %s: %w", file, err)
		}
		if n.Whitelist == nil {
			continue
		}
		blocks++
		for _, s := range append(slices.Clone(n.Whitelist.IP), n.Whitelist.CIDR...) {
			p, err := parseIgnore(strings.TrimSpace(s))
			if err != nil {
				out.Unsupported = append(out.Unsupported, fmt.Sprintf("%s: %q is not an address or prefix", file, clip(s)))
				continue
			}
			if !seen[p] {
				seen[p] = true
				out.Prefixes = append(out.Prefixes, p)
			}
		}
		for _, e := range n.Whitelist.Expression {
			out.Unsupported = append(out.Unsupported, fmt.Sprintf("%s: expression %q has no equivalent (herd's allowlist takes addresses and prefixes)", file, clip(e)))
		}
	}
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAllBounded(f, limit, path)
}

// ReadAllBounded reads r to its end, refusing more than limit bytes; name
// is used in the error.
func ReadAllBounded(r io.Reader, limit int64, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// The shape of cscli decisions list -o json: alerts, each with its
// decisions. Other fields are ignored.
type csAlert struct {
	Scenario  string       `json:"scenario"`
	Decisions []csDecision `json:"decisions"`
}

type csDecision struct {
	ID        int64  `json:"id"`
	Origin    string `json:"origin"`
	Type      string `json:"type"`
	Scope     string `json:"scope"`
	Value     string `json:"value"`
	Duration  string `json:"duration"`
	Scenario  string `json:"scenario"`
	Simulated bool   `json:"simulated"`
}

// ImportedDecisions are the decisions of cscli decisions list -o json that
// herd can take, and a count of the others by reason.
type ImportedDecisions struct {
	Decisions []event.Decision
	Skipped   map[string]int
}

// ImportScenarioPrefix starts the Scenario (reason) of imported decisions:
// "crowdsec:crowdsecurity/ssh-bf".
const ImportScenarioPrefix = "crowdsec:"

// ParseCrowdsecDecisions reads cscli decisions list -o json's output (a
// JSON array of alerts, or null when there is none). Bans of an Ip or a
// Range scope (no wider than /16 or, IPv6, /32, as the local API takes
// from machines) with a positive remaining duration are kept, as Decisions
// with Type ban, Scope, Duration (the remaining one, capped at maxDur) and
// Scenario ImportScenarioPrefix + CrowdSec's scenario; Origin and Until
// are left to the caller. The community's decisions (origins CAPI and
// lists) are skipped unless community is set: herd's hub gives its own
// list. Everything skipped is counted by reason.
func ParseCrowdsecDecisions(b []byte, community bool, maxDur time.Duration) (ImportedDecisions, error) {
	out := ImportedDecisions{Skipped: map[string]int{}}
	var alerts []csAlert
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&alerts); err != nil {
		return out, fmt.Errorf("crowdsec decisions: invalid JSON (want cscli decisions list -o json): %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return out, errors.New("crowdsec decisions: trailing data after the JSON array")
	}
	seen := map[netip.Prefix]int{}
	for _, a := range alerts {
		for _, d := range a.Decisions {
			reason := ""
			var scope netip.Prefix
			dur, derr := time.ParseDuration(d.Duration)
			switch {
			case d.Simulated:
				reason = "simulated"
			case !strings.EqualFold(d.Type, "ban"):
				reason = "type " + clip(strings.ToLower(d.Type)) + " (herd imports bans)"
			case !community && (strings.EqualFold(d.Origin, "CAPI") || strings.EqualFold(d.Origin, "lists")):
				reason = "community (origin " + clip(d.Origin) + "; herd's hub gives its own list)"
			case derr != nil:
				reason = "unreadable duration"
			case dur <= 0:
				reason = "expired"
			case strings.EqualFold(d.Scope, "ip"):
				a, err := netip.ParseAddr(d.Value)
				if err != nil || a.Zone() != "" {
					reason = "bad address"
					break
				}
				a = a.Unmap()
				scope = netip.PrefixFrom(a, a.BitLen())
			case strings.EqualFold(d.Scope, "range"):
				p, err := ipx.ParsePrefix(d.Value)
				if err != nil {
					reason = "bad range"
					break
				}
				scope = p.Masked()
				if (scope.Addr().Is4() && scope.Bits() < 16) || (scope.Addr().Is6() && scope.Bits() < 32) {
					reason, scope = "range wider than /16 (IPv4) or /32 (IPv6)", netip.Prefix{}
				}
			default:
				reason = "scope " + clip(d.Scope) + " (herd bans addresses and ranges)"
			}
			if reason != "" {
				out.Skipped[reason]++
				continue
			}
			dur = min(dur, maxDur).Truncate(time.Second)
			sc := d.Scenario
			if sc == "" {
				sc = a.Scenario
			}
			if i, dup := seen[scope]; dup {
				// One scope banned twice: keep the longer.
				if out.Decisions[i].Duration < dur {
					out.Decisions[i].Duration = dur
				}
				out.Skipped["duplicate scope"]++
				continue
			}
			seen[scope] = len(out.Decisions)
			out.Decisions = append(out.Decisions, event.Decision{Type: event.Ban, Scope: scope, Duration: dur,
				Scenario: ImportScenarioPrefix + strings.ToValidUTF8(clip(sc), "?")})
		}
	}
	return out, nil
}
