package textmatch

import (
	"strings"
	"testing"
)

// Prefix is the literal text an anchored expression starts with, and
// nothing when the expression is not anchored at the text's start, starts
// with a group, a class or case-insensitive text, or anchors lines (m).
func TestRegexpPrefix(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`^Failed \S+ for (?P<user>.*) from (?P<source>\S+) port \d+$`, "Failed "},
		{`^kernel: ?\[ *\d+\.\d+\]:? Failed (?P<source>\S+)`, "kernel:"},
		{`^pam_unix\(sshd:auth\): authentication failure; rhost=(?P<source>\S+)`, "pam_unix(sshd:auth): authentication failure; rhost="},
		{`^(?:Failed|Invalid) user from (?P<source>\S+)`, ""},
		{`^Failed (?:password|none) for x from (?P<source>\S+)`, "Failed "},
		{`Failed password from (?P<source>\S+)`, ""},
		{`(?m)^Failed password from (?P<source>\S+)`, ""},
		{`(?i)^failed password from (?P<source>\S+)`, ""},
		{`^(?P<source>\S+) refused`, ""},
		{`^[Ff]ailed from (?P<source>\S+)`, ""},
		{`^Failed|^Refused (?P<source>\S+)`, ""},
		{`^(?i:f)ailed from (?P<source>\S+)`, ""},
		{`^ailed from (?P<source>\S+)`, "ailed from "},
	}
	for _, tt := range tests {
		re, err := CompileRegexp(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if got := string(re.Prefix()); got != tt.want {
			t.Errorf("Prefix(%s) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	// Every message a prefixed expression matches starts with its prefix.
	msgs := []string{
		"Failed password for root from 192.0.2.1 port 22",
		"kernel: [ 1.5] Failed 192.0.2.2",
		"xFailed password for root from 192.0.2.1 port 22",
		"pam_unix(sshd:auth): authentication failure; rhost=192.0.2.3",
		"Failed none for x from 192.0.2.4",
	}
	for _, tt := range tests {
		re, _ := CompileRegexp(tt.expr)
		for _, m := range msgs {
			var c Captures
			if re.Match([]byte(m), &c) && !strings.HasPrefix(m, string(re.Prefix())) {
				t.Errorf("%s matches %q, which does not start with %q", tt.expr, m, re.Prefix())
			}
		}
	}
}
