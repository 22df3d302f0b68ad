package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/hub/client"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/lapi"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/report"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/source/file"
	"github.com/herd-ips/herd/internal/source/journald"
	"github.com/herd-ips/herd/internal/source/syslog"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/termtext"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// Agent timings and sizes.
const (
	// FlushInterval is how often the agent commits the alerts and offsets
	// of the lines read since the last commit. A line that leads to a
	// decision is committed at once, without waiting.
	FlushInterval = 200 * time.Millisecond
	// FlushLines commits a batch early once it holds this many lines.
	FlushLines = 4096
	// PollInterval is how often the agent reads the store's decision
	// stream for decisions added or deleted by others (herd decisions).
	PollInterval = time.Second
	// ExpireInterval is how often ended decisions leave the set, the
	// firewall (which also expires them by itself) and the store.
	ExpireInterval = time.Second
)

// adminAllowSource is the name of the store row (in the offsets table, as
// its Cursor) that keeps the address of the administrator who first started
// the agent over SSH, so that every later start keeps it allowlisted.
const adminAllowSource = "herd:allow:ssh-admin"

// journaldSource is the name of the store row (in the offsets table) that
// keeps the cursor of the last journal entry committed.
const journaldSource = "journald"

// AgentOptions configures RunAgent.
type AgentOptions struct {
	Config *config.Config
	Logger *slog.Logger     // nil = discard
	Clock  func() time.Time // nil = time.Now
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
	o    AgentOptions
	cfg  *config.Config
	log  *slog.Logger
	now  func() time.Time
	out  io.Writer
	st   *store.Store
	set  *decision.Set
	nb   *ipx.NeverBan
	fw   firewall       // nil when dry
	api  *lapi.Server   // nil when the API is off
	hub  *client.Client // nil when no signals are shared (agent_hub.go)
	m    *agentMetrics
	outM sync.Mutex // serializes writes to out

	rep   *report.Reporter // nil when not reporting to a central API
	queue *storeQueue      // the reporter's queue

	mu  sync.Mutex // guards det, ref and b: followers share one detector
	det *Detector
	ref time.Time
	b   batch

	syslog *syslog.Server // nil when syslog is off; its Stats feed the metrics

	fwName string // the firewall backend in use (nftables, iptables, ...), for the logs

	tlsServers []*tlsfiles.Server // the listeners' certificates, for Reload
}

// batch is what the lines read since the last commit produced.
type batch struct {
	alerts  []pendingAlert
	offsets map[string]file.Position
	cursor  []byte // journal cursor of the batch's last entry that had one
	commit  store.Batch
	lines   int
	urgent  bool // holds a decision: commit now
}

type pendingAlert struct {
	rec  store.AlertRecord
	dec  *event.Decision // the decision the profiles took, nil for none
	read time.Time       // when the line that raised it was read
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
	a := &agent{o: o, cfg: o.Config, log: o.Logger, now: o.Clock, out: o.Stdout}
	if a.cfg == nil {
		a.cfg = config.Default()
	}
	if o.Stdin != nil {
		a.cfg = stdinOnly(a.cfg)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.out == nil {
		a.out = io.Discard
	}
	if a.o.Getenv == nil {
		a.o.Getenv = os.Getenv
	}
	st, err := OpenStore(ctx, a.cfg, a.now)
	if err != nil {
		return err
	}
	a.st = st
	defer st.Close()

	allow, err := a.allowlist(ctx)
	if err != nil {
		return err
	}
	host, err := ipx.HostAddrs()
	if err != nil {
		a.log.Warn("agent: host addresses unknown; only loopback and the allowlist are protected", "err", err)
	}
	a.nb = ipx.NewNeverBan(host, allow)
	if a.det, err = a.detector(); err != nil {
		return err
	}
	a.set = decision.New(decision.Options{NeverBan: a.nb, Clock: a.now})
	a.m = newAgentMetrics(a)

	// The cursor is read before the live decisions, so a change made in
	// between is replayed by the first poll, never missed.
	cursor, err := st.Cursor(ctx)
	if err != nil {
		return err
	}
	live, err := st.LiveDecisions(ctx, a.now())
	if err != nil {
		return err
	}
	for i := range live {
		if v := a.set.Add(live[i].Decision); v == decision.Refused {
			a.log.Warn("agent: stored decision not enforced: the scope is never banned", "scope", live[i].Scope)
		}
	}
	sub := a.set.Subscribe()
	defer sub.Close()
	a.openFirewall()
	if a.fw != nil {
		defer a.fw.Close()
		t := a.now()
		if err := a.fw.Reconcile(a.set.Live(), t); err != nil {
			return fmt.Errorf("agent: restoring %d live decisions: %w", a.set.Len(), err)
		}
		a.log.Info("agent: live decisions restored in the firewall", "backend", a.fwName, "decisions", a.set.Len(), "took", a.now().Sub(t))
	} else {
		a.log.Warn("dry-run: no firewall/root, decisions are printed, not enforced", "decisions", a.set.Len())
		for _, d := range a.set.Live() {
			a.printDecision("ban", d)
		}
	}
	if o.Ready != nil {
		o.Ready()
	}

	followers, err := a.followers(ctx)
	if err != nil {
		return err
	}
	a.b.offsets = map[string]file.Position{}
	jf, err := a.journal(ctx)
	if err != nil {
		return err
	}
	bl, err := a.blocklist(ctx, live, communityList)
	if err != nil {
		return err
	}
	pl, err := a.blocklist(ctx, live, predictedList)
	if err != nil {
		return err
	}

	a.m.watch(followers, a.sourceGlobs(), jf)

	var fol *report.Follower // the central's decisions (agent_central.go)
	if a.rep, fol, err = a.reporter(ctx); err != nil {
		return err
	}
	ln, err := a.listenAPI()
	if err != nil {
		return err
	}
	faLn, err := a.listenForwardAuth()
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return err
	}
	sl, err := a.syslogServer()
	if err != nil {
		return err
	}
	var slSrc *metrics.Source
	if sl != nil {
		slSrc = a.m.watchSyslog(sl)
	}
	mln, err := a.listenMetrics()
	if err != nil {
		return err
	}
	if err := a.openHub(); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if ln != nil {
		g.Go(func() error { return a.api.Serve(gctx, ln) })
	}
	if faLn != nil {
		g.Go(func() error { return a.api.ServeForwardAuth(gctx, faLn) })
	}
	if mln != nil {
		g.Go(func() error { return a.serveMetrics(gctx, mln) })
	}
	if a.rep != nil {
		g.Go(func() error { return a.rep.Run(gctx) })
	}
	if fol != nil {
		g.Go(func() error { return fol.Run(gctx) })
	}
	if o.Reload != nil {
		g.Go(func() error { return a.reloadTLS(gctx) })
	}
	g.Go(func() error { return a.enforce(gctx, sub) })
	g.Go(func() error { return a.poll(gctx, cursor) })
	g.Go(func() error { return a.tick(gctx) })
	if pl != nil {
		g.Go(func() error { return pl.run(gctx) })
	}
	if bl != nil {
		g.Go(func() error { return bl.run(gctx) })
	}
	if a.hub != nil {
		g.Go(func() error { return a.hub.Run(gctx) })
	}
	if jf != nil {
		g.Go(func() error {
			return jf.Run(gctx, func(e journald.Entry) error { return a.entry(gctx, e) })
		})
	}
	if sl != nil {
		g.Go(func() error {
			return sl.Run(gctx, func(line []byte) error { return a.live(gctx, line, "", slSrc) })
		})
	}
	if o.Stdin != nil {
		g.Go(func() error { return a.readStdin(gctx, o.Stdin, o.StdinProgram) })
	}
	for i, f := range followers {
		hint := a.cfg.Sources[i].Program
		g.Go(func() error {
			return f.Run(gctx, func(l file.Line) error { return a.line(gctx, l, hint) })
		})
	}
	err = g.Wait()
	if errors.Is(err, errStdinEnd) {
		err = nil
	}
	// Commit what the last lines did, even though ctx has ended.
	a.mu.Lock()
	ferr := a.flush(context.WithoutCancel(ctx))
	a.mu.Unlock()
	if err == nil {
		err = ferr
	}
	a.settle(sub)
	if sl != nil {
		a.log.Info("agent: syslog stopped", "stats", fmt.Sprintf("%+v", sl.Stats()))
	}
	a.log.Info("agent: stopped", "live", a.set.Len())
	return err
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
		Clock:           a.now,
		Logger:          a.log,
		TrustedProxies:  a.cfg.API.TrustedProxies,
		OpenForwardAuth: a.cfg.API.OpenForwardAuth,
		Listen:          a.cfg.API.Listen,
		Watchers:        a.st, // machines report here (herd machines add)
		NeverBan:        a.nb,
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
	return ln, nil
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
	return ln, nil
}

// notifyAPI tells the local API that the store's decisions changed, so that
// bouncers and push-stream clients learn of it at once rather than at the
// next poll.
func (a *agent) notifyAPI() {
	if a.api != nil {
		a.api.Notify()
	}
}

// OpenStore opens the database the configuration names, creating the
// directory of a SQLite file.
func OpenStore(ctx context.Context, cfg *config.Config, clock func() time.Time) (*store.Store, error) {
	if cfg.Database.Driver == "sqlite" || cfg.Database.Driver == "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Database.DSN), 0o700); err != nil {
			return nil, fmt.Errorf("agent: database directory: %w", err)
		}
	}
	return store.Open(ctx, store.Options{Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, Clock: clock})
}

// allowlist returns the configured allowlist plus the SSH administrator's
// address. On the first start (an empty database), the address of the SSH
// client that started herd (SSH_CONNECTION or SSH_CLIENT) is allowlisted and
// kept in the store, so that a mistyped password of the owner never locks
// them out; later starts read it back.
func (a *agent) allowlist(ctx context.Context) ([]netip.Prefix, error) {
	allow := append([]netip.Prefix(nil), a.cfg.Allow...)
	offs, err := a.st.Offsets(ctx)
	if err != nil {
		return nil, err
	}
	for _, off := range offs {
		if off.Source == adminAllowSource {
			if p, err := netip.ParsePrefix(off.Cursor); err == nil {
				a.log.Info("agent: allowlisting the administrator's SSH address of the first start", "prefix", p)
				return append(allow, p), nil
			}
		}
	}
	cur, err := a.st.Cursor(ctx)
	if err != nil {
		return nil, err
	}
	if cur != 0 || len(offs) != 0 {
		return allow, nil // not a first start
	}
	p, ok := sshClient(a.o.Getenv)
	if !ok {
		return allow, nil
	}
	if err := a.st.SaveOffsets(ctx, []store.Offset{{Source: adminAllowSource, Cursor: p.String()}}); err != nil {
		return nil, err
	}
	a.log.Warn("agent: first start over SSH: the client address is allowlisted and kept in the store for every later start", "prefix", p)
	return append(allow, p), nil
}

// sshClient returns the SSH client address of SSH_CONNECTION or SSH_CLIENT.
func sshClient(getenv func(string) string) (netip.Prefix, bool) {
	for _, name := range []string{"SSH_CONNECTION", "SSH_CLIENT"} {
		f := strings.Fields(getenv(name))
		if len(f) == 0 {
			continue
		}
		if ad, err := netip.ParseAddr(f[0]); err == nil {
			ad = ad.Unmap().WithZone("")
			return netip.PrefixFrom(ad, ad.BitLen()), true
		}
	}
	return netip.Prefix{}, false
}

func (a *agent) detector() (*Detector, error) {
	dir := a.cfg.RulesDir
	if dir == config.DefaultRulesDir {
		if _, err := os.Stat(dir); err != nil {
			dir = "" // the default directory need not exist
		}
	}
	set, err := rules.Load(dir)
	if err != nil {
		return nil, err
	}
	loc := time.Local
	if a.cfg.Timezone != "" {
		if loc, err = time.LoadLocation(a.cfg.Timezone); err != nil {
			return nil, fmt.Errorf("agent: timezone: %w", err)
		}
	}
	a.ref = a.now()
	return NewDetector(DetectorOptions{Rules: set, Location: loc, Reference: a.ref, Simulate: a.cfg.Simulate, NeverBan: a.nb, Evidence: cmp.Or(a.cfg.AlertLinesBytes, DefaultEvidence)})
}

func (a *agent) followers(ctx context.Context) ([]*file.Follower, error) {
	offs, err := a.st.Offsets(ctx)
	if err != nil {
		return nil, err
	}
	start := make(map[string]file.Position, len(offs))
	for _, off := range offs {
		if off.Cursor != "" {
			continue
		}
		start[off.Source] = file.Position{Path: off.Source, Inode: off.Inode, Dev: off.Dev, Offset: off.Offset, Fingerprint: off.Fingerprint}
	}
	if len(a.cfg.Sources) == 0 && !a.cfg.Journald.Enabled && !a.cfg.Syslog.Enabled() && a.o.Stdin == nil {
		a.log.Warn("agent: no log files to follow (none of the default logs exists; name some under sources in herd.yaml)")
	}
	var fs []*file.Follower
	for _, src := range a.cfg.Sources {
		f, err := file.New(file.Options{Globs: src.Files, Start: start, FromStart: a.o.FromStart, Clock: a.now, Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("agent: source at %s:%d: %w", a.cfg.File, src.Line, err)
		}
		a.log.Info("agent: following", "files", src.Files, "program", src.Program)
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
	offs, err := a.st.Offsets(ctx)
	if err != nil {
		return nil, err
	}
	var cursor string
	for _, off := range offs {
		if off.Source == journaldSource {
			cursor = off.Cursor
		}
	}
	f, err := journald.New(journald.Options{Command: a.o.JournalCommand, Units: a.cfg.Journald.Units, Cursor: cursor, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("agent: journald: %w", err)
	}
	a.log.Info("agent: following the journal", "units", a.cfg.Journald.Units, "resume", cursor != "")
	return f, nil
}

// entry runs one journal entry (its JSON line, which the envelope parser
// reads) through the detector like a line of a file; its cursor is the
// batch's journal offset.
func (a *agent) entry(ctx context.Context, e journald.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(e.Cursor) > 0 {
		a.b.cursor = append(a.b.cursor[:0], e.Cursor...)
	}
	return a.detect(ctx, e.Data, "", a.m.journal)
}

// line runs one line through the detector and adds what it gave to the
// batch, committing the batch when it holds a decision or is full.
func (a *agent) line(ctx context.Context, l file.Line, hint string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.b.offsets[l.Path] = l.Pos
	return a.detect(ctx, l.Data, hint, a.m.file(l.Path))
}

// detect is line's and entry's work once the offset is noted. a.mu is held.
func (a *agent) detect(ctx context.Context, data []byte, hint string, src *metrics.Source) error {
	now := a.now()
	if now.Sub(a.ref) > time.Minute {
		a.ref = now
		a.det.SetReference(now)
	}
	res := a.det.Line(data, hint)
	a.m.line(src, res)
	for i := range res.Outcomes {
		oc := &res.Outcomes[i]
		a.m.outcome(oc)
		lines := oc.Lines // the detector's evidence: the lines behind the alert
		if len(lines) == 0 {
			lines = []string{string(data)}
		}
		pa := pendingAlert{rec: store.AlertRecord{Alert: oc.Alert, Lines: lines}, read: now}
		if oc.Decided() {
			d := oc.Decision
			pa.dec = &d
			a.b.urgent = true
		} else {
			a.log.Info("alert", "scenario", oc.Alert.Scenario, "source", oc.Alert.Source, "verdict", oc.Verdict.String())
		}
		a.b.alerts = append(a.b.alerts, pa)
	}
	a.b.lines++
	if a.b.urgent || a.b.lines >= FlushLines {
		return a.flush(ctx)
	}
	return nil
}

// flush hands the batch's decisions to the set, which passes them to the
// firewall, then commits the batch (alerts, decisions and offsets) in one
// transaction. a.mu is held.
func (a *agent) flush(ctx context.Context) error {
	b := &a.b
	if len(b.alerts) == 0 && len(b.offsets) == 0 && len(b.cursor) == 0 {
		return nil
	}
	// The commits are short; stopping must not split a batch between them.
	ctx = context.WithoutCancel(ctx)
	// Decisions reach the set (and the firewall) first, before the
	// commit: a ban is in the kernel within the time of one netlink round
	// trip of the line. Should the commit then fail, the agent stops; the
	// lines are read again at the restart, whose Reconcile drops the ban
	// that was never stored.
	for i := range b.alerts {
		if d := b.alerts[i].dec; d != nil {
			a.m.deciding(d.Scope, b.alerts[i].read)
			v := a.set.Add(*d)
			a.m.decided(d.Scope, v, b.alerts[i].read)
			a.share(*d)
			a.log.Info("decision", "scope", d.Scope, "scenario", d.Scenario, "duration", d.Duration, "until", d.Until, "result", v.String())
		}
	}
	c := &b.commit
	c.Alerts, c.Offsets = c.Alerts[:0], c.Offsets[:0]
	decided := false
	for i := range b.alerts {
		pa := &b.alerts[i]
		ba := store.BatchAlert{Alert: pa.rec}
		if pa.dec != nil {
			ba.Decision = &store.DecisionRecord{Decision: *pa.dec}
			decided = true
		}
		c.Alerts = append(c.Alerts, ba)
	}
	for _, p := range b.offsets {
		c.Offsets = append(c.Offsets, store.Offset{Source: p.Path, Inode: p.Inode, Dev: p.Dev, Offset: p.Offset, Fingerprint: p.Fingerprint})
	}
	if len(b.cursor) > 0 {
		c.Offsets = append(c.Offsets, store.Offset{Source: journaldSource, Cursor: string(b.cursor)})
	}
	t := a.now()
	ids, err := a.st.CommitBatch(ctx, *c)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.m.m.StoreCommit(a.now().Sub(t))
	if decided {
		a.notifyAPI()
	}
	if len(ids) > 0 {
		a.alertsCommitted(ids[len(ids)-1])
	}
	clear(c.Alerts) // drop the lines' references until the next batch
	clear(b.offsets)
	b.cursor = b.cursor[:0]
	b.alerts = b.alerts[:0]
	b.lines, b.urgent = 0, false
	return nil
}

// tick commits batches every FlushInterval and expires decisions every
// ExpireInterval.
func (a *agent) tick(ctx context.Context) error {
	flush := time.NewTicker(FlushInterval)
	defer flush.Stop()
	expire := time.NewTicker(ExpireInterval)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flush.C:
			a.mu.Lock()
			err := a.flush(ctx)
			a.m.sample(a.det)
			a.mu.Unlock()
			if err != nil {
				return err
			}
		case <-expire.C:
			if ended := a.set.Expire(); len(ended) > 0 {
				a.log.Info("agent: decisions ended", "count", len(ended))
			}
			if n, err := a.st.ExpireDecisions(ctx, a.now()); err != nil && ctx.Err() == nil {
				a.log.Error("agent: expiring stored decisions", "err", err)
			} else if n > 0 {
				a.notifyAPI()
			}
		}
	}
}

// poll follows the store's decision stream: decisions added by herd
// decisions add (or by another agent sharing the database) enter the set,
// deleted ones leave it.
func (a *agent) poll(ctx context.Context, cursor int64) error {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		added, deleted, err := a.st.ChangesSince(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("agent: polling the decision stream", "err", err)
			}
			continue
		}
		cursor = store.NextCursor(cursor, added, deleted)
		if len(added)+len(deleted) > 0 {
			a.notifyAPI()
		}
		for i := range added {
			d := added[i].Decision
			v := a.set.Add(d)
			a.m.fromStore(&d, v)
			if v == decision.Added || v == decision.Extended || v == decision.Refused {
				a.log.Info("decision from the store", "scope", d.Scope, "origin", d.Origin, "until", d.Until, "result", v.String())
			}
		}
		for i := range deleted {
			if a.set.DeleteEnding(deleted[i].Scope, deleted[i].Until) {
				a.log.Info("decision deleted", "scope", deleted[i].Scope)
			}
		}
	}
}

// enforce is the one goroutine that owns the firewall: it applies the
// set's changes in batches (every change pending when it wakes is one
// netlink transaction). Without a firewall it prints them.
func (a *agent) enforce(ctx context.Context, sub *decision.Subscription) error {
	var retry <-chan time.Time
	broken := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry:
			retry = nil
			if err := a.fw.Reconcile(a.set.Live(), a.now()); err != nil {
				a.m.m.FirewallError()
				a.log.Error("agent: firewall reconcile failed; retrying", "backend", a.fwName, "err", err)
				retry = time.After(time.Second)
				continue
			}
			a.m.reconciled()
			broken = false
			a.log.Info("agent: firewall back in step", "backend", a.fwName)
			continue
		case <-sub.Ready():
		}
		c := sub.Take()
		if c.Empty() {
			continue
		}
		if a.fw == nil {
			for _, p := range c.Delete {
				a.printScope("unban", p)
			}
			for _, d := range c.Add {
				a.printDecision("ban", d)
			}
			a.m.enforced(c.Add, c.Delete)
			continue
		}
		if broken {
			continue // the pending reconcile covers it
		}
		t := a.now()
		if err := a.fw.Apply(c.Add, c.Delete, t); err != nil {
			a.m.m.FirewallError()
			a.log.Error("agent: firewall apply failed; reconciling", "backend", a.fwName, "err", err, "add", len(c.Add), "delete", len(c.Delete))
			broken, retry = true, time.After(time.Second)
			continue
		}
		a.m.enforced(c.Add, c.Delete)
		a.log.Debug("agent: firewall updated", "backend", a.fwName, "add", len(c.Add), "delete", len(c.Delete), "took", a.now().Sub(t))
	}
}

func (a *agent) printDecision(verb string, d event.Decision) {
	a.outM.Lock()
	defer a.outM.Unlock()
	until := "never"
	if !d.Until.IsZero() {
		until = d.Until.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(a.out, "%s %s until %s scenario=%s origin=%s\n", verb, d.Scope, until, termtext.String(d.Scenario), termtext.String(d.Origin))
}

func (a *agent) printScope(verb string, p netip.Prefix) {
	a.outM.Lock()
	defer a.outM.Unlock()
	fmt.Fprintf(a.out, "%s %s\n", verb, p)
}

// ListDecisions writes the live decisions of the configured store, one per
// line: id, scope, type, until, origin, scenario.
func ListDecisions(ctx context.Context, cfg *config.Config, w io.Writer) error {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	live, err := st.LiveDecisions(ctx, time.Now())
	if err != nil {
		return err
	}
	for i := range live {
		d := &live[i]
		until := "never"
		if !d.Until.IsZero() {
			until = d.Until.UTC().Format(time.RFC3339)
		}
		sim := ""
		if d.Simulated {
			sim = " simulated"
		}
		if _, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s%s\n", d.ID, d.Scope, d.Type, until, termtext.String(d.Origin), termtext.String(d.Scenario), sim); err != nil {
			return err
		}
	}
	return nil
}

// AddDecision stores a ban of scope for duration (origin "cli", reason as
// its scenario). A running agent applies it at its next poll of the store.
// A scope the never-ban set covers is refused.
func AddDecision(ctx context.Context, cfg *config.Config, scope netip.Prefix, duration time.Duration, reason string) error {
	host, _ := ipx.HostAddrs()
	if ipx.NewNeverBan(host, cfg.Allow).Overlaps(scope) {
		return fmt.Errorf("decisions add: %s covers loopback, a host address or the allowlist; refused", scope)
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	_, err = st.AddDecisions(ctx, []store.DecisionRecord{{Decision: event.Decision{
		Type: event.Ban, Scope: scope.Masked(), Duration: duration, Until: now.Add(duration),
		Scenario: reason, Origin: "cli",
	}}})
	return err
}

// DeleteDecisions deletes the live decisions on scope from the configured
// store and returns how many. A running agent lifts them at its next poll.
func DeleteDecisions(ctx context.Context, cfg *config.Config, scope netip.Prefix) (int, error) {
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.DeleteDecisions(ctx, store.DecisionFilter{Scope: scope.Masked()})
}
