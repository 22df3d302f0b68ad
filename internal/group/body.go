package group

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"
)

// Decision is what a member shares of one of its decisions: the address or
// range, the scenario, the duration, the origin it had on the sender (herd
// for its own detections) and, when the group allows it, the evidence lines
// behind it.
type Decision struct {
	Scope    netip.Prefix  `json:"scope"`
	Scenario string        `json:"scenario"`
	Duration time.Duration `json:"duration_ns"`
	Origin   string        `json:"origin"`
	Evidence []string      `json:"evidence,omitempty"`
}

// Body is the plaintext of a message.
type Body struct {
	Decisions []Decision `json:"decisions"`
	// Leave says the sender leaves the group: an admin that reads it
	// removes the sender (a new epoch).
	Leave bool `json:"leave,omitempty"`
}

// Limits of a body.
const (
	MaxDecisions   = 1024
	MaxEvidence    = 32
	MaxLineBytes   = 4096
	MaxScenarioLen = 256
)

// EncodeBody returns b as JSON.
func EncodeBody(b Body) ([]byte, error) { return json.Marshal(b) }

// DecodeBody parses and checks a message's plaintext: at most MaxDecisions
// decisions, valid masked prefixes, a positive duration of at most a year,
// scenario and origin of at most MaxScenarioLen bytes of UTF-8, at most
// MaxEvidence lines of at most MaxLineBytes each.
func DecodeBody(p []byte) (Body, error) {
	var b Body
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Body{}, fmt.Errorf("group: body: %w", ErrMalformed)
	}
	if dec.More() {
		return Body{}, fmt.Errorf("group: body: trailing data: %w", ErrMalformed)
	}
	if len(b.Decisions) > MaxDecisions {
		return Body{}, fmt.Errorf("group: body: %d decisions: %w", len(b.Decisions), ErrMalformed)
	}
	for i, d := range b.Decisions {
		switch {
		case !d.Scope.IsValid() || d.Scope != d.Scope.Masked() || d.Scope.Addr().Is4In6() || d.Scope.Addr().Zone() != "":
			return Body{}, fmt.Errorf("group: body: decision %d: scope: %w", i, ErrMalformed)
		case d.Duration <= 0 || d.Duration > 366*24*time.Hour:
			return Body{}, fmt.Errorf("group: body: decision %d: duration: %w", i, ErrMalformed)
		case len(d.Scenario) > MaxScenarioLen || !utf8.ValidString(d.Scenario) || len(d.Origin) > MaxScenarioLen || !utf8.ValidString(d.Origin):
			return Body{}, fmt.Errorf("group: body: decision %d: text: %w", i, ErrMalformed)
		case len(d.Evidence) > MaxEvidence:
			return Body{}, fmt.Errorf("group: body: decision %d: evidence: %w", i, ErrMalformed)
		}
		for _, l := range d.Evidence {
			if len(l) > MaxLineBytes || !utf8.ValidString(l) {
				return Body{}, fmt.Errorf("group: body: decision %d: evidence line: %w", i, ErrMalformed)
			}
		}
	}
	return b, nil
}
