package client

import (
	"net/netip"
	"slices"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// Share queues the signal of a decision the agent took itself: origin
// "herd", not simulated, a scenario with a class. The signal names one
// address: the decision's when it covers one, else src, the alert's source,
// when the decision's prefix holds it (an IPv6 source's /64). Community and
// manual decisions, and ranges without a source inside, are never shared.
// It never blocks; a nil Client shares nothing.
func (c *Client) Share(d event.Decision, src netip.Addr) {
	if c == nil || d.Origin != event.OriginHerd || d.Simulated {
		return
	}
	p := d.Scope
	if !p.IsValid() {
		return
	}
	if p.Bits() != p.Addr().BitLen() {
		src = src.Unmap().WithZone("")
		if !src.IsValid() || !p.Contains(src) {
			return
		}
		p = netip.PrefixFrom(src, src.BitLen())
	}
	class, ok := ClassOf(d.Scenario)
	if !ok || (c.o.Classes != nil && !slices.Contains(c.o.Classes, class)) {
		return
	}
	c.Report(wire.Signal{Source: p.Addr(), Class: class, Minute: minuteOf(c.now())})
}

func minuteOf(t time.Time) uint32 {
	if m := t.Unix() / 60; m > 0 {
		return uint32(m)
	}
	return 0
}
