package app_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/herd-ips/herd/internal/hub/node"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
	"github.com/herd-ips/herd/internal/hub"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/store"
)

// hubNet is a community network on loopback: one hub node (node.New over
// SQLite, real HTTP) and agents (app.RunAgent in this process, each with
// its own SQLite, log file and reporter key), every agent connecting from
// its own loopback address so that the hub sees them in distinct /24s.
type hubNet struct {
	tb      testing.TB
	dir     string
	key     ed25519.PrivateKey
	node    *node.Hub
	url     string
	addr    string
	pub     ed25519.PublicKey
	agents  []*netAgent
	stopHub func()

	mu       sync.Mutex
	listedAt map[netip.Prefix]time.Time // when the change log first listed it
	listedV  map[netip.Prefix]uint64    // at which version
}

// netAgent is one member of a hubNet.
type netAgent struct {
	i       int
	from    netip.Addr // the local address its hub connections come from
	logPath string
	cfg     *config.Config
	view    *nft.Firewall // its namespace's nftables, nil when it runs dry
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error

	mu      sync.Mutex
	applied []appliedAt // community updates, in order
}

type appliedAt struct {
	version uint64
	at      time.Time
}

// appliedHandler records when the agent applied each community update
// (the "agent: community blocklist" line is logged once the update is in
// the decision set and the store) and writes every record as text.
type appliedHandler struct {
	slog.Handler
	a *netAgent
}

func (h appliedHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "agent: community blocklist" {
		r.Attrs(func(at slog.Attr) bool {
			if at.Key == "version" && at.Value.Kind() == slog.KindUint64 {
				h.a.mu.Lock()
				h.a.applied = append(h.a.applied, appliedAt{at.Value.Uint64(), r.Time})
				h.a.mu.Unlock()
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h appliedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return appliedHandler{h.Handler.WithAttrs(as), h.a}
}

func (h appliedHandler) WithGroup(n string) slog.Handler {
	return appliedHandler{h.Handler.WithGroup(n), h.a}
}

// inSet returns when the agent applied the first update reaching version
// v, if it did.
func (a *netAgent) inSet(v uint64) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range a.applied {
		if u.version >= v {
			return u.at, true
		}
	}
	return time.Time{}, false
}

// nsAvailable says whether agents can enforce in network namespaces here.
func nsAvailable() bool {
	if os.Geteuid() != 0 {
		return false
	}
	_, err := exec.LookPath("ip")
	return err == nil
}

// newHubNet starts the hub and n agents; the agents whose index is in
// inNS enforce with nftables in a network namespace of their own when
// the machine allows it, the others run dry. allow[i] is agent i's
// allowlist; mods change agent i's configuration before it starts.
func newHubNet(tb testing.TB, n int, inNS []int, allow map[int][]netip.Prefix, mods ...func(i int, c *config.Config)) *hubNet {
	tb.Helper()
	dir := tb.TempDir()
	key, err := hub.LoadOrCreateKey(filepath.Join(dir, "hub-sign.key"))
	if err != nil {
		tb.Fatal(err)
	}
	hn := &hubNet{tb: tb, dir: dir, key: key, pub: key.Public().(ed25519.PublicKey), listedAt: map[netip.Prefix]time.Time{}, listedV: map[netip.Prefix]uint64{}}
	hn.startHub("127.0.0.1:0")
	tb.Cleanup(func() {
		for _, a := range hn.agents {
			a.stop(tb)
		}
		hn.stopHub()
	})

	ns := nsAvailable()
	if !ns && len(inNS) > 0 {
		tb.Logf("not root or no ip(8): every agent runs dry, nftables is not checked")
	}
	for i := range n {
		a := &netAgent{i: i, logs: &syncBuffer{}, done: make(chan error, 1)}
		// Networks 127.0.1.0/24, 127.0.2.0/24, 127.0.3.0/24 in turn.
		a.from = netip.AddrFrom4([4]byte{127, 0, byte(i%3 + 1), byte(i/3 + 1)})
		adir := filepath.Join(dir, fmt.Sprintf("agent%d", i))
		if err := os.Mkdir(adir, 0o700); err != nil {
			tb.Fatal(err)
		}
		a.logPath = filepath.Join(adir, "auth.log")
		appendLine(tb, a.logPath, "")
		a.cfg = testConfig(adir, a.logPath)
		a.cfg.Allow = allow[i]
		a.cfg.Hub = config.Hub{URL: hn.url, KeyFile: filepath.Join(adir, "hub.key"), Share: true, Receive: true,
			PublicKey: base64.StdEncoding.EncodeToString(hn.pub)}
		for _, m := range mods {
			m(i, a.cfg)
		}
		o := app.AgentOptions{Config: a.cfg, DryRun: true, FromStart: true,
			HubDial: (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.from, 0)), Timeout: 5 * time.Second}).DialContext}
		if ns && slices.Contains(inNS, i) {
			_, fd := herdtest.NewNetns(tb)
			if v := nsView(tb, fd); v != nil {
				a.view = v
				o.DryRun, o.NetNS = false, fd
			}
		}
		a.start(tb, o)
		hn.agents = append(hn.agents, a)
	}
	return hn
}

// startHub starts the hub node over the hub net's SQLite file, listening
// on addr.
func (hn *hubNet) startHub(addr string) {
	tb := hn.tb
	ctx, cancel := context.WithCancel(context.Background())
	st, err := hubstore.Open(ctx, hubstore.Options{DSN: filepath.Join(hn.dir, "hub.db")})
	if err != nil {
		tb.Fatal(err)
	}
	var nd *node.Hub
	onChange := func(v uint64) {
		at := time.Now()
		_, listed, err := nd.Server().Log().Snapshot(context.Background())
		if err != nil {
			return
		}
		hn.mu.Lock()
		defer hn.mu.Unlock()
		for _, p := range listed {
			if _, ok := hn.listedAt[p]; !ok {
				hn.listedAt[p], hn.listedV[p] = at, v
			}
		}
	}
	nd, err = node.New(ctx, node.Options{
		Hub: hub.Options{
			Store: st,
			// The documentation ranges stand for the attackers. The
			// reporters are minutes old, not the 7 days a production hub
			// asks (DefaultMinAge): MinAge and TrustAge are the only rules
			// changed, the listing rule itself (5 reporters, 3 networks,
			// quorum) is the default.
			AllowDocumentation: true,
			Rules:              reputation.Rules{MinAge: time.Millisecond, TrustAge: time.Millisecond},
			OnChange:           onChange,
		},
		Key: hn.key,
	})
	if err != nil {
		tb.Fatal(err)
	}
	hn.node = nd
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: nd.Handler(), ReadHeaderTimeout: 10 * time.Second}
	runDone := make(chan struct{})
	go func() { _ = nd.Run(ctx); close(runDone) }()
	go func() { _ = srv.Serve(ln) }()
	hn.url = "http://" + ln.Addr().String() + "/"
	hn.addr = ln.Addr().String()
	hn.stopHub = func() {
		cancel()
		<-runDone
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			tb.Errorf("hub shutdown: %v", err)
		}
		st.Close()
		hn.stopHub = func() {}
	}
}

// restartHub stops the hub node and starts it again on the same address
// over the same database.
func (hn *hubNet) restartHub() {
	hn.stopHub()
	hn.startHub(hn.addr)
}

// nsView is the kernel's view of a namespace's nftables, nil when nftables
// is not available.
func nsView(tb testing.TB, fd int) *nft.Firewall {
	tb.Helper()
	fw, err := nft.New(nft.Options{NetNS: fd})
	if errors.Is(err, nft.ErrNotSupported) {
		tb.Logf("nftables not available here (%v): the agent runs dry", err)
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = fw.Remove()
		_ = fw.Close()
	})
	return fw
}

func (a *netAgent) start(tb testing.TB, o app.AgentOptions) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	o.Stdout = &syncBuffer{}
	o.Logger = slog.New(appliedHandler{slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}), a})
	o.Getenv = func(string) string { return "" }
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	go func() { a.done <- app.RunAgent(ctx, o) }()
	select {
	case <-ready:
	case err := <-a.done:
		tb.Fatalf("agent %d stopped before ready: %v\n%s", a.i, err, a.logs)
	case <-time.After(30 * time.Second):
		tb.Fatalf("agent %d not ready after 30s", a.i)
	}
}

func (a *netAgent) stop(tb testing.TB) {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			tb.Errorf("agent %d: %v\n%s", a.i, err, a.logs)
		}
	case <-time.After(10 * time.Second):
		tb.Errorf("agent %d did not stop within 10s", a.i)
	}
}

// attack appends failed ssh logins from src to agent i's log, enough for
// a ban.
func (h *hubNet) attack(i int, src netip.Addr) {
	for k := range 6 {
		appendLine(h.tb, h.agents[i].logPath, sshdLine(src, 40000+k))
	}
}

// listed returns when the change log listed p, and at which version.
func (h *hubNet) listed(p netip.Prefix) (time.Time, uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.listedAt[p]
	return t, h.listedV[p], ok
}

// reporters is how many trusted reporters the hub counts for a.
func (h *hubNet) reporters(a netip.Addr) int {
	x, err := h.node.Server().Explain(context.Background(), a)
	if err != nil {
		h.tb.Fatal(err)
	}
	return x.Reporters
}

func until(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// kernelHolds reports whether agent a's nftables set holds p.
func (a *netAgent) kernelHolds(p netip.Prefix) bool {
	got, err := a.view.List()
	return err == nil && slices.Contains(got, p)
}

// communityIn returns agent a's live community decisions by scope, read
// from its store.
func communityIn(tb testing.TB, st *store.Store) map[netip.Prefix]int {
	tb.Helper()
	live, err := st.LiveDecisions(context.Background(), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	out := map[netip.Prefix]int{}
	for _, d := range live {
		if d.Origin == event.OriginCommunity {
			out[d.Scope]++
		}
	}
	return out
}

// quantiles returns p50, p99 and max of ds (nearest rank).
func quantiles(ds []time.Duration) (p50, p99, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration { return s[int(math.Ceil(q*float64(len(s))))-1] }
	return rank(0.5), rank(0.99), s[len(s)-1]
}

// round is one attacker going through the network: four agents attacked
// and their signals counted by the hub, then the fifth attack, and the
// listing in every agent expected.
type round struct {
	addr      netip.Addr
	targets   []int     // the attacked agents; the last one is attacked last
	fifth     time.Time // when the fifth agent's attack lines were appended
	listed    time.Time // when the hub's change log listed it
	version   uint64
	inSet     map[int]time.Time // when each agent applied it (decision set)
	inKernel  map[int]time.Time // when it appeared in a namespace agent's set (agents it did not attack)
	refusedBy []int             // agents whose allowlist holds it
}

// play runs one round: prime, then finish.
func (h *hubNet) play(r *round) {
	h.tb.Helper()
	h.prime(r)
	h.finish(r)
}

// prime attacks every target but the last and waits until the hub counts
// their reports; the address must not be listed yet.
func (h *hubNet) prime(r *round) {
	h.tb.Helper()
	first := r.targets[:len(r.targets)-1]
	for _, i := range first {
		h.attack(i, r.addr)
	}
	until(h.tb, fmt.Sprintf("%d reporters of %s at the hub", len(first), r.addr), 30*time.Second,
		func() bool { return h.reporters(r.addr) >= len(first) })
	if _, _, ok := h.listed(netip.PrefixFrom(r.addr, 32)); ok {
		h.tb.Fatalf("%s listed with %d reporters", r.addr, len(first))
	}
}

// finish attacks the last target and waits (up to 20 s) for every agent
// not in refusedBy to hold the address. The wait polls every millisecond.
func (h *hubNet) finish(r *round) {
	h.tb.Helper()
	r.fifth = time.Now()
	h.attack(r.targets[len(r.targets)-1], r.addr)
	p := netip.PrefixFrom(r.addr, 32)
	r.inSet, r.inKernel = map[int]time.Time{}, map[int]time.Time{}
	until(h.tb, fmt.Sprintf("%s in every agent", r.addr), 20*time.Second, func() bool {
		var ok bool
		if r.listed.IsZero() {
			if r.listed, r.version, ok = h.listed(p); !ok {
				r.listed = time.Time{}
				return false
			}
		}
		all := true
		for _, a := range h.agents {
			if slices.Contains(r.refusedBy, a.i) {
				continue
			}
			if _, ok := r.inSet[a.i]; !ok {
				if at, ok := a.inSet(r.version); ok {
					r.inSet[a.i] = at
				} else {
					all = false
				}
			}
			if a.view != nil && !slices.Contains(r.targets, a.i) {
				if _, ok := r.inKernel[a.i]; !ok {
					if a.kernelHolds(p) {
						r.inKernel[a.i] = time.Now()
					} else {
						all = false
					}
				}
			}
		}
		return all
	})
}

// TestHubNetwork is the community network end to end: seven agents from
// three /24 networks share their own bans with a hub; an address four of
// them banned is not listed, the fifth ban lists it, and within seconds
// every agent holds a community decision for it — those never attacked
// too, in their nftables sets when they run in network namespaces (root).
// An address only two agents report is listed nowhere; an address on one
// agent's allowlist is not banned there although listed. It logs the time
// from the change-log commit to each agent's decision set and kernel set,
// and from the fifth attack to the last agent.
func TestHubNetwork(t *testing.T) {
	const n = 7
	attackers := []netip.Addr{
		netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11"),
		netip.MustParseAddr("198.51.100.12"), netip.MustParseAddr("192.0.2.13"),
	}
	innocent := netip.MustParseAddr("198.51.100.200")
	allowed := attackers[3]
	// Agent 6 is never attacked and allowlists attackers[3]; agents 3 to 6
	// enforce in namespaces.
	hn := newHubNet(t, n, []int{3, 4, 5, 6}, map[int][]netip.Prefix{6: {netip.PrefixFrom(allowed, 32)}})

	// The innocent: two agents of two networks ban it (a shared NAT, a
	// misconfigured client...).
	hn.attack(0, innocent)
	hn.attack(1, innocent)

	var rounds []*round
	for k, a := range attackers {
		// Attacker k attacks agents 0..5 but one (5-k), so that each of
		// agents 2..5 learns some address only from the community; the
		// five targets always span the three networks.
		r := &round{addr: a}
		for i := range 6 {
			if i != 5-k {
				r.targets = append(r.targets, i)
			}
		}
		if a == allowed {
			r.refusedBy = []int{6}
		}
		hn.play(r)
		rounds = append(rounds, r)
	}

	// The hub saw the agents in their three /24s, not all as 127.0.0.1.
	x, err := hn.node.Server().Explain(context.Background(), attackers[0])
	if err != nil || x.Reporters != 5 || x.Networks != 3 {
		t.Fatalf("explain %s: %d reporters in %d networks (%v), want 5 in 3", attackers[0], x.Reporters, x.Networks, err)
	}
	// The innocent's two reports reached the hub long ago (the first
	// round waited for more); it is still not listed, and no agent holds a
	// community decision for it.
	if got := hn.reporters(innocent); got != 2 {
		t.Fatalf("the hub counts %d reporters of the innocent address, want 2", got)
	}
	// One more recomputation after the last round, so the listing reflects
	// everything committed.
	if _, err := hn.node.Server().Recompute(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, listed, err := hn.node.Server().Log().Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attackers {
		if !slices.Contains(listed, netip.PrefixFrom(a, 32)) {
			t.Errorf("attacker %s not in the hub's listing %v", a, listed)
		}
	}
	if slices.Contains(listed, netip.PrefixFrom(innocent, 32)) || len(listed) != len(attackers) {
		t.Fatalf("listing %v: want exactly the attackers", listed)
	}
	for _, ag := range hn.agents {
		st := openStore(t, ag.cfg)
		got := communityIn(t, st)
		for _, a := range attackers {
			p := netip.PrefixFrom(a, 32)
			want := 1
			if ag.i == 6 && a == allowed {
				want = 0
			}
			if got[p] != want {
				t.Errorf("agent %d: %d community decisions for %s, want %d", ag.i, got[p], a, want)
			}
			if ag.view != nil {
				if in := ag.kernelHolds(p); in != (want == 1) {
					t.Errorf("agent %d: %s in the nftables set: %v, want %v", ag.i, a, in, want == 1)
				}
			}
		}
		if got[netip.PrefixFrom(innocent, 32)] != 0 {
			t.Errorf("agent %d holds a community decision for the innocent address", ag.i)
		}
		if ag.view != nil && ag.i >= 2 && ag.kernelHolds(netip.PrefixFrom(innocent, 32)) {
			t.Errorf("agent %d (not attacked by it) has the innocent address in its nftables set", ag.i)
		}
	}
	if !strings.Contains(hn.agents[6].logs.String(), "protected address") {
		t.Errorf("agent 6 did not log refusing the allowlisted address:\n%s", hn.agents[6].logs)
	}

	var toSet, toKernel, fifthToAll []time.Duration
	for _, r := range rounds {
		var last time.Time
		for _, at := range r.inSet {
			toSet = append(toSet, at.Sub(r.listed))
			last = maxTime(last, at)
		}
		for _, at := range r.inKernel {
			toKernel = append(toKernel, at.Sub(r.listed))
			last = maxTime(last, at)
		}
		fifthToAll = append(fifthToAll, last.Sub(r.fifth))
		t.Logf("%s: fifth attack → listed %v → last agent %v", r.addr, r.listed.Sub(r.fifth).Round(time.Millisecond), last.Sub(r.listed).Round(time.Millisecond))
	}
	p50, p99, mx := quantiles(toSet)
	t.Logf("hub listing → agent's decision set: %d samples (%d agents × %d attackers, less refusals): p50 %v p99 %v max %v",
		len(toSet), n, len(rounds), p50.Round(time.Microsecond), p99.Round(time.Microsecond), mx.Round(time.Microsecond))
	if len(toKernel) > 0 {
		p50, p99, mx = quantiles(toKernel)
		t.Logf("hub listing → namespace agent's nftables set (agents not attacked by it): %d samples: p50 %v p99 %v max %v",
			len(toKernel), p50.Round(time.Microsecond), p99.Round(time.Microsecond), mx.Round(time.Microsecond))
	}
	p50, _, mx = quantiles(fifthToAll)
	t.Logf("fifth agent's attack lines appended → every agent holds it: %d attackers: p50 %v max %v", len(fifthToAll), p50.Round(time.Millisecond), mx.Round(time.Millisecond))
}

// BenchmarkHubNetwork measures, per attacker (one op), the time from the
// attack lines appended on the fifth agent (four agents already reported
// it and the hub counted them, off the clock) to the address in every
// agent's decision set, and in the nftables set of the namespace agents it
// did not attack (root): the community network's reaction time with one
// hub, seven agents from three /24s, and the signal client's 1 s batching.
// It also reports the part from the hub's listing to the last agent. Each
// op takes 1-2 s, so run it with a count:
//
//	go test -run '^$' -bench HubNetwork -benchtime 10x ./internal/app/
func BenchmarkHubNetwork(b *testing.B) {
	hn := newHubNet(b, 7, []int{3, 4, 5, 6}, nil)
	var listedToAll, fifthToAll []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		r := &round{addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i%200)})}
		skip := 2 + i%4 // a different namespace agent learns it from the community only
		for j := range 6 {
			if j != skip {
				r.targets = append(r.targets, j)
			}
		}
		i++
		hn.prime(r)
		b.StartTimer()
		hn.finish(r)
		var last time.Time
		for _, at := range r.inSet {
			last = maxTime(last, at)
		}
		for _, at := range r.inKernel {
			last = maxTime(last, at)
		}
		listedToAll = append(listedToAll, last.Sub(r.listed))
		fifthToAll = append(fifthToAll, last.Sub(r.fifth))
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99, mx := quantiles(fifthToAll)
	b.ReportMetric(ms(p50), "ms-fifth-to-all-p50")
	b.ReportMetric(ms(p99), "ms-fifth-to-all-p99")
	b.ReportMetric(ms(mx), "ms-fifth-to-all-max")
	p50, p99, mx = quantiles(listedToAll)
	b.ReportMetric(ms(p50), "ms-listed-to-all-p50")
	b.ReportMetric(ms(p99), "ms-listed-to-all-p99")
	b.ReportMetric(ms(mx), "ms-listed-to-all-max")
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
