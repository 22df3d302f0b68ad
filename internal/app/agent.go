// Package app is herd's composition root: it builds every part of the
// agent from rules and configuration, in the order of the data flow (line →
// event → alert → decision → kernel), starts and stops them, and closes
// what it opened when a later part fails (the table in parts()).
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/herd-ips/herd/internal/agentmetrics"
	"github.com/herd-ips/herd/internal/storeview"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/console"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/enforce/backend"
	"github.com/herd-ips/herd/internal/enforce/xdp"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/geoip"
	"github.com/herd-ips/herd/internal/hub/blocklist"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/notify"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/query"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/source"
	"github.com/herd-ips/herd/internal/source/file"
	"github.com/herd-ips/herd/internal/source/journald"
	"github.com/herd-ips/herd/internal/source/stdin"
	"github.com/herd-ips/herd/internal/source/syslog"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// Agent timings and sizes.
const (
	// FlushInterval is how often the agent commits the alerts and offsets
	// of the lines read since the last commit. A line that leads to a
	// decision is committed at once, without waiting.
	FlushInterval = 200 * time.Millisecond
	// PollInterval is how often the agent reads the store's decision
	// stream for decisions added or deleted by others (herd decisions).
	PollInterval = time.Second
	// ExpireInterval is how often ended decisions leave the set, the
	// firewall (which also expires them by itself) and the store.
	ExpireInterval = time.Second
)

// journaldSource names the journal's lines in the metrics.
const journaldSource = journald.Name

// AgentOptions configures RunAgent.
type AgentOptions struct {
	Config *config.Config
	Logger *slog.Logger // nil = discard
	// Time is the agent's clock: its timers (flush, expiry, polling, the
	// enforcer's retries) and its time. nil = clock.Real.
	Time clock.Clock
	// DryRun decides without enforcing: decisions are printed on Stdout
	// instead of reaching nftables. The agent also runs dry when it cannot
	// program nftables (not root, no nf_tables), and says so.
	DryRun bool
	Stdout io.Writer // dry-run decisions; nil = discard
	// NetNS is the descriptor of the network namespace whose nftables the
	// agent programs (0 = its own); tests use it.
	NetNS int
	// FromStart reads files present at start that have no saved offset from
	// their beginning instead of their end. Tests use it; the agent proper
	// never does, so that a first start does not ban for old lines.
	FromStart bool
	// Getenv reads SSH_CONNECTION and SSH_CLIENT (os.Getenv when nil).
	Getenv func(string) string
	// Ready, when set, is called once every live decision is back in the
	// firewall, before the first line is read.
	Ready func()
	// APIListener, when set, is where the local API serves instead of
	// listening on Config.API.Listen (tests pass 127.0.0.1:0).
	APIListener net.Listener
	// MetricsListener, when set, is where /metrics serves instead of
	// listening on Config.Metrics.Listen (tests pass 127.0.0.1:0).
	MetricsListener net.Listener
	// ConsoleListener, when set, is where the web console serves instead
	// of Config.Console.Listen, and turns the console on (tests pass
	// 127.0.0.1:0).
	ConsoleListener net.Listener
	// ForwardAuthListener, when set, is where the dedicated forward-auth
	// listener serves instead of Config.API.ForwardAuthListen.
	ForwardAuthListener net.Listener
	// JournalCommand replaces journalctl (program and first arguments)
	// when the journal is followed; tests pass a fake.
	JournalCommand []string
	// SyslogUDP and SyslogTCP, when set, are the syslog listeners instead
	// of those Config.Syslog names (tests pass 127.0.0.1:0).
	SyslogUDP net.PacketConn
	SyslogTCP net.Listener
	// Stdin, when set, is the only log source (herd agent --stdin): the
	// configured files, journal, syslog listener and local API are off; at
	// its end the agent commits, enforces and returns. No offset is kept.
	Stdin io.Reader
	// StdinProgram names the program of Stdin's lines that carry no syslog
	// envelope ("" to let the rules for raw lines try).
	StdinProgram string
	// Reload, when set, receives SIGHUP: the TLS certificates of the API
	// and metrics listeners are read again at once (agent_tls.go).
	Reload <-chan os.Signal
	// HubDial, when set, opens the agent's connections to its hub (signals
	// and the blocklist stream) instead of the default dialer; tests bind
	// each agent to its own loopback address so that the hub sees distinct
	// networks.
	HubDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Version is herd's version; the hub client sends it in its
	// User-Agent ("herd/<Version>").
	Version string
}

// agent is one run of RunAgent.
type agent struct {
	o       AgentOptions
	cfg     *config.Config
	log     *slog.Logger
	clk     clock.Clock
	now     func() time.Time // clk.Now
	out     io.Writer
	st      *store.Store
	set     *decision.Set
	nb      *ipx.NeverBan
	api     *lapi.Server    // nil when the API is off
	console *console.Server // nil when the console is off
	hub     *client.Client  // nil when no signals are shared (agent_hub.go)
	// groups relays the private groups' blobs (agent_groups.go); nil
	// without a hub.
	groups *groupRelay
	// egress records what the hub clients send (herd hub egress).
	egress *client.FileJournal
	m      *agentmetrics.Agent

	// What the parts built, for the later parts (see parts).
	cursor int64                  // the store's decision stream, read at start
	stored []store.DecisionRecord // the live decisions at start
	sub    *decision.Subscription // the enforcer's view of the set
	enf    *enforce.Loop          // feeds the firewall, or prints when dry
	xdp    *enforce.Loop          // feeds the XDP filter, when configured; else nil
	files  []*file.Follower
	jf     *journald.Follower // nil when the journal is not followed
	slSrc  *metrics.Source    // the syslog lines' counters
	jobs   []func(ctx context.Context) error

	rep   *report.Reporter // nil when not reporting to a central API
	queue *storeview.Queue // the reporter's queue

	det  *detect.Detector
	pipe *detect.Pipeline // every source's lines, serialized, through det
	// writer commits the batches (the pipeline's lock is held while it
	// is used).
	writer storeview.Writer

	syslog *syslog.Server // nil when syslog is off; its Stats feed the metrics

	geo      *geoip.DB        // nil when GeoIP enrichment is off (agent_geoip.go)
	notifier *notify.Notifier // nil when no notification is configured (agent_notify.go)

	tlsServers []*tlsfiles.Server // the listeners' certificates, for Reload

	rl reloader // herd reload and SIGHUP (agent_reload.go)
}

// RunAgent runs the live agent until ctx ends: it follows the configured
// logs, detects, stores alerts and decisions, and keeps the kernel's
// nftables sets equal to the live decisions.
//
// Order at start, the principle being that every live ban is back before a
// new line is read: open the store; load the live decisions into the
// decision set; if the firewall is enabled, herd is root and nftables
// answers, Reconcile the kernel with them; only then start the followers,
// resuming at the offsets saved in the store.
//
// Commit guarantee: a batch (the lines read during FlushInterval, at most
// FlushLines, or up to a line that led to a decision) is committed as its
// alerts, its decisions and the offsets just after its last lines in one
// transaction (store.CommitBatch). Its decisions reach the firewall just
// before that commit, so that a ban does not wait for the disk; if the
// commit fails the agent stops, and the restart's Reconcile drops a ban that
// was not stored. A crash (kill -9) loses no line and stores no alert twice:
// it repeats only the lines of the batch that was not committed, whose
// alerts were not stored either. Scenario buckets live in memory and start
// empty, so a burst cut by the crash into a committed and an uncommitted
// part may not overflow again.
func RunAgent(ctx context.Context, o AgentOptions) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil // stopped while starting
		}
	}()
	a := newAgent(o)
	// Start every part in the table's order; when one fails, what the
	// earlier ones opened is released, in reverse order, on the way out.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	for _, p := range a.parts() {
		stop, err := p.start(ctx)
		if stop != nil {
			stops = append(stops, stop)
		}
		if err != nil {
			a.log.Debug("agent: a part failed to start; releasing the parts started", "part", p.name, "err", err)
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range a.jobs {
		g.Go(func() error { return j(gctx) })
	}
	err = g.Wait()
	if errors.Is(err, stdin.ErrEnd) {
		err = nil
	}
	// Commit what the last lines did, even though ctx has ended.
	ferr := a.pipe.Flush(context.WithoutCancel(ctx))
	if err == nil {
		err = ferr
	}
	a.enf.Settle()
	if a.xdp != nil {
		a.xdp.Settle()
	}
	if a.syslog != nil {
		a.log.Info("agent: syslog stopped", "stats", fmt.Sprintf("%+v", a.syslog.Stats()))
	}
	a.log.Info("agent: stopped", "live", a.set.Len())
	return err
}

// part is one row of the agent's table of parts: start builds it (and
// queues its jobs with a.run) and returns what releases it, or nil; it may
// return both a release and an error when it failed after taking
// something.
type part struct {
	name  string
	start func(ctx context.Context) (stop func(), err error)
}

// parts is the agent's table of parts, in start order. The principle of
// the order: every live ban is back in the kernel (enforcer) before a line
// is read (sources), and the listeners open last.
func (a *agent) parts() []part {
	return []part{
		{"store", a.startStore},
		{"never-ban set", a.startNeverBan},
		{"geoip", a.startGeoIP},
		{"detector", a.startDetector},
		{"decision set", a.startDecisions},
		{"notifications", a.startNotify},
		{"line pipeline", a.startPipeline},
		{"enforcer", a.startEnforcer},
		{"ready", a.startReady},
		{"files", a.startFiles},
		{"journal", a.startJournal},
		{"packet sensor", a.startSensor},
		{"hub lists (community blocklist, predictions)", a.startBlocklist},
		{"report", a.startReport},
		{"local API", a.startAPI},
		{"forward-auth", a.startForwardAuth},
		{"syslog", a.startSyslog},
		{"metrics", a.startMetrics},
		{"egress journal", a.startEgress},
		{"console", a.startConsole},
		{"hub", a.startHub},
		{"private groups", a.startGroups},
		{"control socket", a.startControl},
		{"jobs", a.startJobs},
	}
}

// run queues a job to run once every part has started.
func (a *agent) run(j func(ctx context.Context) error) { a.jobs = append(a.jobs, j) }

func newAgent(o AgentOptions) *agent {
	a := &agent{o: o, cfg: o.Config, log: o.Logger, out: o.Stdout}
	if a.cfg == nil {
		a.cfg = config.Default()
	}
	if o.Stdin != nil {
		a.cfg = a.cfg.StdinOnly()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.clk = clock.Or(o.Time)
	a.now = a.clk.Now
	if a.out == nil {
		a.out = io.Discard
	}
	if a.o.Getenv == nil {
		a.o.Getenv = os.Getenv
	}
	return a
}

func (a *agent) startStore(ctx context.Context) (func(), error) {
	st, err := query.OpenStore(ctx, a.cfg, a.clk)
	if err != nil {
		return nil, err
	}
	a.st, a.writer.St = st, st
	return func() { st.Close() }, nil
}

func (a *agent) startNeverBan(ctx context.Context) (func(), error) {
	allow, err := storeview.Allowlist(ctx, a.st, a.cfg.Allow, a.o.Getenv, a.log)
	if err != nil {
		return nil, err
	}
	host, err := ipx.HostAddrs()
	if err != nil {
		a.log.Warn("agent: host addresses unknown; only loopback and the allowlist are protected", "err", err)
	}
	a.nb = ipx.NewNeverBan(host, allow)
	return nil, nil
}

func (a *agent) startDetector(context.Context) (func(), error) {
	var err error
	a.det, err = a.detector()
	return nil, err
}

// startDecisions loads the live decisions into the set. The store's
// cursor is read before them, so a change made in between is replayed by
// the first poll, never missed.
func (a *agent) startDecisions(ctx context.Context) (func(), error) {
	a.set = decision.New(decision.Options{NeverBan: a.nb, Time: a.clk})
	a.m = agentmetrics.New(a.clk, a.set.Len)
	var err error
	if a.cursor, err = a.st.Cursor(ctx); err != nil {
		return nil, err
	}
	if a.stored, err = a.st.LiveDecisions(ctx, a.now()); err != nil {
		return nil, err
	}
	for i := range a.stored {
		if v := a.set.Add(a.stored[i].Decision); v == decision.Refused {
			a.log.Warn("agent: stored decision not enforced: the scope is never banned", "scope", a.stored[i].Scope)
		}
	}
	a.sub = a.set.Subscribe()
	return a.sub.Close, nil
}

// startPipeline builds the path every line takes: detector, batch, and
// the commit through the agent (batchSink).
func (a *agent) startPipeline(context.Context) (func(), error) {
	a.pipe = detect.NewPipeline(detect.PipelineOptions{
		Detector: a.det, Sink: (*batchSink)(a), Time: a.clk, Logger: a.log,
		TallyFor: func(name string) detect.Tally { return a.m.Tally(a.m.File(name)) },
		Outcome: func(oc *detect.Outcome) {
			a.m.Outcome(oc)
			a.notifyOutcome(oc)
		},
	})
	return nil, nil
}

// startEnforcer opens the firewall (or the dry-run printer) and puts every
// live decision in it.
func (a *agent) startEnforcer(context.Context) (func(), error) {
	fw, name := backend.Open(backend.Options{DryRun: a.o.DryRun, Firewall: a.cfg.Firewall, NetNS: a.o.NetNS, Out: a.out, Logger: a.log})
	if name == backend.DryRun {
		a.log.Warn("dry-run: no firewall/root, decisions are printed, not enforced", "decisions", a.set.Len())
	}
	a.enf = enforce.New(enforce.Options{Enforcer: fw, Name: name, Changes: a.sub, Live: a.set.Live, Observer: a.m.Observer(), Logger: a.log,
		Time: a.clk, After: func(d time.Duration) <-chan time.Time { return a.clk.NewTimer(d).C() }})
	stop := func() { fw.Close() }
	if err := a.enf.Restore(); err != nil {
		return stop, fmt.Errorf("agent: %w", err)
	}
	a.run(a.enf.Run)
	if name != backend.DryRun && a.cfg.XDP.Enabled {
		if xstop := a.startXDP(); xstop != nil {
			return func() { xstop(); stop() }, nil
		}
	}
	return stop, nil
}

// startXDP attaches the XDP filter beside the firewall and feeds it from a
// subscription of its own. The firewall stays the enforcer of record: an
// XDP filter that cannot be loaded (an old kernel, no eBPF) is logged and
// left out. It returns what releases it, or nil.
func (a *agent) startXDP() func() {
	xc := a.cfg.XDP
	f, err := xdp.New(xdp.Options{Interfaces: xc.Interfaces, Native: xc.Mode == config.XDPNative, MaxEntries: uint32(xc.MaxEntries), NetNS: a.o.NetNS})
	if err != nil {
		a.log.Warn("agent: XDP filter not attached; the firewall alone enforces", "interfaces", xc.Interfaces, "err", err)
		return nil
	}
	sub := a.set.Subscribe()
	a.xdp = enforce.New(enforce.Options{Enforcer: f, Name: "xdp", Changes: sub, Live: a.set.Live, Logger: a.log,
		Time: a.clk, After: func(d time.Duration) <-chan time.Time { return a.clk.NewTimer(d).C() }})
	stop := func() {
		sub.Close()
		_ = f.Close()
	}
	if err := a.xdp.Restore(); err != nil {
		a.log.Warn("agent: XDP filter not loaded with the live decisions; it reconciles again in the background", "err", err)
	}
	a.m.Metrics().XDP(func() (metrics.XDPCounts, bool) {
		s, err := f.Stats()
		if err != nil {
			return metrics.XDPCounts{}, false
		}
		return metrics.XDPCounts{Dropped4: s.Dropped4, Dropped6: s.Dropped6, Prefixes4: s.Entries4, Prefixes6: s.Entries6}, true
	})
	a.run(a.xdp.Run)
	a.log.Info("agent: XDP filter attached", "interfaces", xc.Interfaces, "mode", xdpMode(xc.Mode))
	return stop
}

func xdpMode(m string) string {
	if m == "" {
		return config.XDPGeneric
	}
	return m
}

func (a *agent) startReady(context.Context) (func(), error) {
	if a.o.Ready != nil {
		a.o.Ready()
	}
	return nil, nil
}

func (a *agent) startFiles(ctx context.Context) (func(), error) {
	var err error
	a.files, err = a.followers(ctx)
	return nil, err
}

func (a *agent) startJournal(ctx context.Context) (func(), error) {
	var err error
	if a.jf, err = a.journal(ctx); err != nil {
		return nil, err
	}
	a.m.Watch(a.files, a.sourceGlobs(), a.jf)
	return nil, nil
}

// startBlocklist follows the hub's community blocklist and, unless turned
// off, its predictions (blocklist.Holder, agent_blocklist.go).
func (a *agent) startBlocklist(ctx context.Context) (func(), error) {
	for _, list := range []blocklist.List{blocklist.Community, blocklist.Predicted} {
		h, err := a.holder(ctx, a.stored, list)
		if err != nil {
			return nil, err
		}
		if h != nil {
			a.run(h.Run)
		}
	}
	return nil, nil
}

// startReport builds the reporter to a central API and the follower of
// its decisions (agent_central.go) when the configuration asks for them.
func (a *agent) startReport(ctx context.Context) (func(), error) {
	rep, fol, err := a.reporter(ctx)
	if err != nil {
		return nil, err
	}
	if a.rep = rep; rep != nil {
		a.run(rep.Run)
	}
	if fol != nil {
		a.run(fol.Run)
	}
	return nil, nil
}

func (a *agent) startAPI(context.Context) (func(), error) {
	ln, err := a.listenAPI()
	if err != nil || ln == nil {
		return nil, err
	}
	a.run(func(ctx context.Context) error { return a.api.Serve(ctx, ln) })
	return func() { ln.Close() }, nil
}

func (a *agent) startForwardAuth(context.Context) (func(), error) {
	ln, err := a.listenForwardAuth()
	if err != nil || ln == nil {
		return nil, err
	}
	a.run(func(ctx context.Context) error { return a.api.ServeForwardAuth(ctx, ln) })
	return func() { ln.Close() }, nil
}

func (a *agent) startSyslog(context.Context) (func(), error) {
	sl, err := a.syslogServer()
	if err != nil || sl == nil {
		return nil, err
	}
	a.slSrc = a.m.WatchSyslog(sl)
	// Run closes the listeners; until it runs they are ours to close.
	return sl.Close, nil
}

func (a *agent) startMetrics(context.Context) (func(), error) {
	ln, err := a.listenMetrics()
	if err != nil || ln == nil {
		return nil, err
	}
	a.run(func(ctx context.Context) error { return a.serveMetrics(ctx, ln) })
	return func() { ln.Close() }, nil
}

func (a *agent) startHub(context.Context) (func(), error) {
	if err := a.openHub(); err != nil || a.hub == nil {
		return nil, err
	}
	a.run(a.hub.Run)
	return nil, nil
}

// startJobs queues the agent's own jobs and one per source, which start
// reading last.
func (a *agent) startJobs(context.Context) (func(), error) {
	if a.o.Reload != nil {
		a.run(a.reloadOnSignal)
	}
	a.run(func(ctx context.Context) error {
		return a.set.Follow(ctx, decision.FollowOptions{Stream: storeview.Stream{St: a.st}, Cursor: a.cursor, Every: PollInterval,
			Logger: a.log, Changed: a.notifyAPI, Added: a.m.FromStore, Clock: a.clk})
	})
	a.run(func(ctx context.Context) error { return a.pipe.FlushEvery(ctx, a.clk, FlushInterval, a.m.Sample) })
	a.run(func(ctx context.Context) error {
		return a.set.ExpireEvery(ctx, decision.ExpireOptions{Every: ExpireInterval, Store: a.st, Clock: a.clk, Changed: a.notifyAPI, Logger: a.log})
	})
	for _, in := range a.inputs(a.files, a.jf, a.syslog, a.slSrc) {
		a.run(func(ctx context.Context) error {
			return in.src.Lines(ctx, func(l *source.Line) error { return in.emit(ctx, l) })
		})
	}
	return nil, nil
}

// listenAPI builds the local API and its listener, or returns nil when the
// configuration turns it off. A listen address that cannot be bound stops
// the agent: it does not run half-configured.
func (a *agent) listenAPI() (net.Listener, error) {
	if a.cfg.API.Listen == "" && a.o.APIListener == nil {
		return nil, nil
	}
	tc, err := a.serverTLS("api", a.cfg.API.TLSCert, a.cfg.API.TLSKey, a.cfg.API.TLSLine)
	if err != nil {
		return nil, err
	}
	srv, err := lapi.New(lapi.Options{
		TLS:             tc,
		Store:           a.st,
		Time:            a.clk,
		Logger:          a.log,
		TrustedProxies:  a.cfg.API.TrustedProxies,
		OpenForwardAuth: a.cfg.API.OpenForwardAuth,
		Listen:          a.cfg.API.Listen,
		Watchers:        a.st, // machines report here (herd machines add)
		NeverBan:        a.nb,
		Decide:          a.decideReported,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	ln := a.o.APIListener
	if ln == nil {
		if ln, err = net.Listen("tcp", a.cfg.API.Listen); err != nil {
			return nil, fmt.Errorf("agent: local API: %w", err)
		}
	}
	a.api = srv
	a.log.Info("agent: local API listening", "addr", ln.Addr().String())
	return a.guard("api", ln, a.apiLimits()), nil
}

// decideReported decides on an alert a machine reported without a decision
// (a CrowdSec agent run with -no-api) with the detector's profiles: the
// same profiles, never-ban set and repeat-offender memory as local alerts.
func (a *agent) decideReported(al *event.Alert) (event.Decision, string, bool) {
	if a.det == nil {
		return event.Decision{}, "no_profiles", false
	}
	d, v := a.det.Profiles().Decide(al)
	return d, v.String(), v == profile.Decided
}

// listenForwardAuth returns the listener of the dedicated forward-auth
// server, or nil when the configuration names none. It answers from the
// local API's mirror, so it needs the API on.
func (a *agent) listenForwardAuth() (net.Listener, error) {
	if a.cfg.API.ForwardAuthListen == "" && a.o.ForwardAuthListener == nil {
		return nil, nil
	}
	if a.api == nil {
		return nil, errors.New("agent: api.forward_auth_listen needs the local API (api.listen)")
	}
	ln := a.o.ForwardAuthListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.cfg.API.ForwardAuthListen); err != nil {
			return nil, fmt.Errorf("agent: forward-auth listener: %w", err)
		}
	}
	a.log.Info("agent: forward-auth listening", "addr", ln.Addr().String())
	return a.guard("forward-auth", ln, a.apiLimits()), nil
}

// notifyAPI tells the local API that the store's decisions changed, so that
// bouncers and push-stream clients learn of it at once rather than at the
// next poll.
func (a *agent) notifyAPI() {
	if a.api != nil {
		a.api.Notify()
	}
	a.notifyConsole()
}

func (a *agent) detector() (*detect.Detector, error) { return a.detectorFor(a.cfg) }

// detectorFor builds a detector from the rules and the detection keys of
// cfg (rules_dir, timezone, simulate, json_client_fields,
// alert_lines_bytes): at start, and at each reload.
func (a *agent) detectorFor(cfg *config.Config) (*detect.Detector, error) {
	dir := cfg.RulesDir
	if dir == config.DefaultRulesDir {
		if _, err := os.Stat(dir); err != nil {
			dir = "" // the default directory need not exist
		}
	}
	set, err := rules.Load(dir)
	if err != nil {
		return nil, err
	}
	loc, err := cfg.Location()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	o := detect.Options{Rules: set, Location: loc, Reference: a.now(), Simulate: cfg.Simulate, NeverBan: a.nb, Evidence: cmp.Or(cfg.AlertLinesBytes, detect.DefaultEvidence), JSONClientFields: cfg.JSONClientFields}
	if a.geo != nil {
		o.Geo = a.geo
	}
	return detect.New(o)
}

func (a *agent) followers(ctx context.Context) ([]*file.Follower, error) {
	m, err := a.st.Marks(ctx)
	if err != nil {
		return nil, err
	}
	start := make(map[string]file.Position, len(m.Files))
	for _, off := range m.Files {
		start[off.Source] = file.Position{Path: off.Source, Inode: off.Inode, Dev: off.Dev, Offset: off.Offset, Fingerprint: off.Fingerprint}
	}
	if a.o.Stdin == nil {
		// Said at start, not found out later from an empty dashboard: a
		// source that cannot be read, or nothing to follow at all.
		for _, p := range query.CheckSources(a.cfg) {
			a.log.Warn("agent: " + p.String())
		}
	}
	var fs []*file.Follower
	for _, src := range a.cfg.Sources {
		if _, err := detect.SourceBinding(src.Format, src.Program); err != nil {
			return nil, fmt.Errorf("agent: source at %s:%d: %w", a.cfg.File, src.Line, err)
		}
		f, err := file.New(file.Options{Globs: src.Files, Start: start, FromStart: a.o.FromStart, Time: a.clk, Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("agent: source at %s:%d: %w", a.cfg.File, src.Line, err)
		}
		a.log.Info("agent: following", "files", src.Files, "program", src.Program, "format", cmp.Or(src.Format, "detected per file"))
		fs = append(fs, f)
	}
	return fs, nil
}

// journal returns the journal follower, resuming after the saved cursor, or
// nil when the configuration does not follow the journal.
func (a *agent) journal(ctx context.Context) (*journald.Follower, error) {
	if !a.cfg.Journald.Enabled {
		return nil, nil
	}
	m, err := a.st.Marks(ctx)
	if err != nil {
		return nil, err
	}
	cursor := m.Journal
	f, err := journald.New(journald.Options{Command: a.o.JournalCommand, Units: a.cfg.Journald.Units, Cursor: cursor, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: journald: %w", err)
	}
	a.log.Info("agent: following the journal", "units", a.cfg.Journald.Units, "resume", cursor != "")
	return f, nil
}

// input is one source of lines and what is done with each.
type input struct {
	src  source.Source
	emit func(context.Context, *source.Line) error
}

// inputs is the table of the agent's sources, in the order they start:
// followed files, the journal, the syslog receiver, standard input.
func (a *agent) inputs(files []*file.Follower, jf *journald.Follower, sl *syslog.Server, slSrc *metrics.Source) []input {
	var in []input
	for i, f := range files {
		src := &a.cfg.Sources[i]
		bind, _ := detect.SourceBinding(src.Format, src.Program) // checked by followers
		in = append(in, input{f, func(ctx context.Context, l *source.Line) error { return a.pipe.File(ctx, l, bind, src.Program) }})
	}
	if jf != nil {
		b := detect.Binding{Family: parse.FamilyJournal, Locked: true, Configured: true}
		t := a.m.Tally(a.m.Journal())
		in = append(in, input{jf, func(ctx context.Context, l *source.Line) error { return a.pipe.Stream(ctx, l, &b, "", false, t) }})
	}
	if sl != nil {
		b := detect.Binding{Family: parse.FamilySyslog, Locked: true, Configured: true}
		t := a.m.Tally(slSrc)
		in = append(in, input{sl, func(ctx context.Context, l *source.Line) error { return a.pipe.Stream(ctx, l, &b, "", true, t) }})
	}
	if a.o.Stdin != nil {
		var b detect.Binding // detected from the first line
		if a.o.StdinProgram != "" {
			b = detect.Binding{Family: parse.FamilyMessage, Locked: true, Configured: true}
		}
		t := a.m.Tally(a.m.Source(agentmetrics.StdinSource))
		r := &stdin.Reader{R: a.o.Stdin, Log: a.log}
		in = append(in, input{r, func(ctx context.Context, l *source.Line) error {
			return a.pipe.Stream(ctx, l, &b, a.o.StdinProgram, true, t)
		}})
	}
	return in
}

// batchSink is the agent as the batch's detect.Sink.
type batchSink agent

// Decide puts a decision in the set. Decisions reach the set (and the
// firewall) before the commit: a ban is in the kernel within the time of
// one netlink round trip of the line. Should the commit then fail, the
// agent stops; the lines are read again at the restart, whose Reconcile
// drops the ban that was never stored.
func (s *batchSink) Decide(d event.Decision, read time.Time) {
	a := (*agent)(s)
	a.m.Deciding(d.Scope, read)
	v := a.set.Add(d)
	a.m.Decided(d.Scope, v, read)
	if why := decision.Reason(d, v, a.now()); why != "" {
		a.log.Info("decision", "scope", d.Scope, "scenario", d.Scenario, "duration", d.Duration, "until", d.Until, "result", v.String(), "reason", why)
		return
	}
	a.log.Info("decision", "scope", d.Scope, "scenario", d.Scenario, "duration", d.Duration, "until", d.Until, "result", v.String())
}

// Commit stores the batch in one transaction (store.CommitBatch).
func (s *batchSink) Commit(ctx context.Context, b *detect.Batch) error {
	a := (*agent)(s)
	// The hub learns of each decision here rather than in Decide, which
	// sees the decision alone: a decision on an IPv6 /64 is shared as the
	// address whose alert led to it.
	for i := range b.Alerts {
		if p := &b.Alerts[i]; p.Decision != nil {
			a.hub.Share(*p.Decision, p.Alert.Source)
			a.groups.Share(*p.Decision, p.Lines)
		}
	}
	t := a.now()
	ids, decided, err := a.writer.Commit(ctx, b)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.m.Metrics().StoreCommit(a.now().Sub(t))
	if decided {
		a.notifyAPI()
	}
	if len(ids) > 0 {
		a.alertsCommitted(ids[len(ids)-1])
		a.notifyConsole()
	}
	return nil
}
