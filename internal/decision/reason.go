package decision

import (
	"fmt"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// Reason says why Add gave d the verdict v, for the log line of every
// decision that did not change the set: what made it invalid, what refused
// it, or what kept the live one. It returns "" for Added and Extended.
// now is the time Add ran, as the set's clock gave it.
func Reason(d event.Decision, v Verdict, now time.Time) string {
	switch v {
	case Added, Extended:
		return ""
	case Kept:
		return "already banned as long or longer"
	case Refused:
		return fmt.Sprintf("the never-ban set covers part of %s (loopback, a host address or the allowlist)", d.Scope)
	}
	switch {
	case d.Type != event.Ban:
		return fmt.Sprintf("a %s decision: only bans are enforced", d.Type)
	case d.Simulated:
		return "simulated: alert and decide, never enforce"
	case !d.Scope.IsValid():
		return "no valid scope"
	case d.Scope.Addr().Is4In6():
		return fmt.Sprintf("scope %s is an IPv4-mapped IPv6 range, which no packet matches", d.Scope)
	case !d.Until.IsZero() && !d.Until.After(now):
		return fmt.Sprintf("expired before it was applied: until %s, now %s (an old log's bans end in the past)",
			d.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return "invalid"
}
