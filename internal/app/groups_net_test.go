package app_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/group"
	"github.com/herd-ips/herd/internal/hub/hubstore"
)

func groupOpts(a *netAgent, out *bytes.Buffer) app.GroupOptions {
	return app.GroupOptions{Config: a.cfg, Out: out,
		Dial: (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.from, 0)), Timeout: 5 * time.Second}).DialContext}
}

// TestGroupsEndToEnd: a hub and three agents on loopback, each enforcing
// with nftables in a network namespace of its own. Agents 0 and 1 form a
// private group (create, invite, join through the running admin agent);
// agent 2 stays outside. A ban agent 0 takes reaches agent 1's nftables set
// as origin group:friends and never agent 2's; the hub restarts and keeps
// every blob it acknowledged, and the next ban still flows; once agent 0
// removed agent 1, agent 0's next ban does not reach agent 1.
func TestGroupsEndToEnd(t *testing.T) {
	if !nsAvailable() {
		t.Skip("not root or no ip(8): network namespaces unavailable")
	}
	// Agent 1 allowlists w and caps group bans at 30 minutes.
	w := netip.MustParseAddr("203.0.113.44")
	wp := netip.PrefixFrom(w, 32)
	hn := newHubNet(t, 3, []int{0, 1, 2}, map[int][]netip.Prefix{1: {wp}}, func(i int, c *config.Config) {
		if i == 1 {
			c.Hub.GroupMaxDuration = 30 * time.Minute
		}
	})
	for _, a := range hn.agents {
		if a.view == nil {
			t.Skip("nftables not available: the agents run dry")
		}
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := app.GroupCreate(ctx, groupOpts(hn.agents[0], &out), "friends", true); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := app.GroupInvite(ctx, groupOpts(hn.agents[0], &out), "friends", time.Hour); err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(out.String())
	out.Reset()
	if err := app.GroupJoin(ctx, groupOpts(hn.agents[1], &out), code, "member-1", 30*time.Second); err != nil {
		t.Fatalf("join: %v\n%s\nadmin agent's log:\n%s", err, out.String(), hn.agents[0].logs)
	}
	t.Logf("join: %s", out.String())
	out.Reset()
	if err := app.GroupMembers(groupOpts(hn.agents[1], &out), "friends"); err != nil || !strings.Contains(out.String(), "member-1") {
		t.Fatalf("members: %v\n%s", err, out.String())
	}
	// Both agents' relays pick the group up within a second of the
	// groups file changing.
	time.Sleep(1500 * time.Millisecond)

	x := netip.MustParseAddr("203.0.113.41")
	xp := netip.PrefixFrom(x, 32)
	written := time.Now()
	hn.attack(0, x)
	until(t, "agent 0 bans x", 10*time.Second, func() bool { return hn.agents[0].kernelHolds(xp) })
	banned := time.Now()
	until(t, "agent 1 gets x from the group", 10*time.Second, func() bool { return hn.agents[1].kernelHolds(xp) })
	got := time.Now()
	t.Logf("latency: ban in agent 0's set → agent 1's set %v (log line written → agent 1's set %v)", got.Sub(banned), got.Sub(written))
	if d := got.Sub(banned); d > time.Second {
		t.Errorf("the group's ban took %v to reach the other member (want within a second on loopback)", d)
	}
	// Its origin, in agent 1's store.
	st := openStore(t, hn.agents[1].cfg)
	live, err := st.LiveDecisions(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var origin string
	var dur time.Duration
	for _, d := range live {
		if d.Scope == xp {
			origin, dur = d.Origin, d.Until.Sub(d.Created)
		}
	}
	if origin != "group:friends" {
		t.Errorf("agent 1 holds x with origin %q, want group:friends", origin)
	}
	if dur <= 0 || dur > 30*time.Minute+time.Second {
		t.Errorf("agent 1 holds x for %v, want at most hub.group_max_duration (30m)", dur)
	}
	// Its allowlist wins over the group: w, banned by agent 0, never
	// reaches agent 1's set.
	hn.attack(0, w)
	until(t, "agent 0 bans w", 10*time.Second, func() bool { return hn.agents[0].kernelHolds(wp) })
	until(t, "agent 1 refuses w", 10*time.Second, func() bool {
		return strings.Contains(hn.agents[1].logs.String(), "group decision not enforced: the scope is never banned")
	})
	if hn.agents[1].kernelHolds(wp) {
		t.Error("agent 1 banned an address of its allowlist for the group")
	}
	if !strings.Contains(hn.agents[1].logs.String(), "evidence=") {
		t.Errorf("agent 1 logged no evidence count")
	}

	// The hub restarts: every blob it acknowledged is still there, and the
	// agents' relays reconnect: agent 0's next ban reaches agent 1.
	acked := hn.node.Server().Stats().Blobs
	hn.restartHub()
	hst, err := hubstore.Open(ctx, hubstore.Options{DSN: filepath.Join(hn.dir, "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := hst.TableRows(ctx)
	hst.Close()
	if err != nil || rows["group_blobs"] != int64(acked) || acked < 3 {
		t.Fatalf("after the restart the hub holds %d blobs, it acknowledged %d (%v)", rows["group_blobs"], acked, err)
	}
	z := netip.MustParseAddr("203.0.113.43")
	zp := netip.PrefixFrom(z, 32)
	hn.attack(0, z)
	until(t, "agent 0 bans z", 10*time.Second, func() bool { return hn.agents[0].kernelHolds(zp) })
	zBanned := time.Now()
	until(t, "agent 1 gets z after the hub restarted", 15*time.Second, func() bool { return hn.agents[1].kernelHolds(zp) })
	t.Logf("after the hub's restart: ban in agent 0's set → agent 1's set %v (the relays reconnect with a backoff of 1 s)", time.Since(zBanned))

	// Removal mid-stream: agent 1 is removed, agent 0 bans y.
	out.Reset()
	if err := app.GroupRemove(ctx, groupOpts(hn.agents[0], &out), "friends", "member-1"); err != nil {
		t.Fatal(err)
	}
	y := netip.MustParseAddr("203.0.113.42")
	yp := netip.PrefixFrom(y, 32)
	hn.attack(0, y)
	until(t, "agent 0 bans y", 10*time.Second, func() bool { return hn.agents[0].kernelHolds(yp) })
	time.Sleep(3 * time.Second)
	if hn.agents[1].kernelHolds(yp) {
		t.Error("the removed member got a ban of the next epoch")
	}
	if !strings.Contains(hn.agents[1].logs.String(), "no key for this epoch") {
		t.Errorf("agent 1 did not log the epoch it cannot read:\n%s", hn.agents[1].logs)
	}
	// herd hub egress: agent 0 sent x as a signal (its own ban) and the
	// group's blobs as sizes; agent 1 never sent x in the clear.
	var eg bytes.Buffer
	if err := app.HubEgress(hn.agents[0].cfg, time.Time{}, &eg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(eg.String(), "203.0.113.41") || !strings.Contains(eg.String(), "group blob") || !strings.Contains(eg.String(), "commit") {
		t.Errorf("agent 0's egress:\n%s", eg.String())
	}
	t.Logf("agent 0's egress:\n%s", eg.String())
	eg.Reset()
	if err := app.HubEgress(hn.agents[1].cfg, time.Time{}, &eg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(eg.String(), "203.0.113.41") || !strings.Contains(eg.String(), "join") {
		t.Errorf("agent 1's egress:\n%s", eg.String())
	}
	// The outsider never got either.
	for _, p := range []netip.Prefix{xp, yp, zp, wp} {
		if hn.agents[2].kernelHolds(p) {
			t.Errorf("the outsider holds %v", p)
		}
	}

	// Agent 2 joins, then leaves: agent 0's agent removes it, a new epoch.
	out.Reset()
	if err := app.GroupInvite(ctx, groupOpts(hn.agents[0], &out), "friends", time.Hour); err != nil {
		t.Fatal(err)
	}
	code = strings.TrimSpace(out.String())
	if err := app.GroupJoin(ctx, groupOpts(hn.agents[2], &out), code, "member-2", 30*time.Second); err != nil {
		t.Fatalf("join of agent 2: %v", err)
	}
	// Added to epoch 2, it reads what the hub holds of it: y.
	until(t, "agent 2 gets y, of the epoch it joined", 10*time.Second, func() bool { return hn.agents[2].kernelHolds(yp) })
	if err := app.GroupLeave(ctx, groupOpts(hn.agents[2], &out), "friends"); err != nil {
		t.Fatal(err)
	}
	until(t, "agent 0 removes the member that left", 10*time.Second, func() bool {
		f, err := group.Read(hn.agents[0].cfg.Hub.GroupsPath())
		if err != nil {
			t.Fatal(err)
		}
		s := f.Find("friends")
		return s.Epoch == 3 && len(s.Roster.Members) == 1
	})
	out.Reset()
	if err := app.GroupList(groupOpts(hn.agents[0], &out)); err != nil || !strings.Contains(out.String(), "friends") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	t.Logf("herd group list:\n%s", out.String())
}
