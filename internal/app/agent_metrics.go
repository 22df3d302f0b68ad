package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/herd-ips/herd/internal/source/syslog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/source/file"
	"github.com/herd-ips/herd/internal/source/journald"
)

// Bounds of the agent's metric bookkeeping, against hostile or runaway
// input.
const (
	// maxMetricFiles bounds the file paths counted apart; lines of further
	// paths count under otherFiles.
	maxMetricFiles = 1024
	otherFiles     = "other"
	// maxPendingBans bounds the bans waiting for enforcement whose read
	// time is kept for the latency histogram.
	maxPendingBans = 1 << 16
	// metricsReadHeaderTimeout bounds a scraper's request headers,
	// metricsReadTimeout the whole request, metricsWriteTimeout the
	// answer; an idle connection closes after metricsIdleTimeout.
	metricsReadHeaderTimeout = 5 * time.Second
	metricsReadTimeout       = 10 * time.Second
	metricsWriteTimeout      = 30 * time.Second
	metricsIdleTimeout       = time.Minute
)

// agentMetrics is the agent's side of internal/metrics: the per-source
// counters it resolved, the bans on their way to the firewall, and what it
// last read from the stages' own counters.
type agentMetrics struct {
	m       *metrics.Metrics
	now     func() time.Time
	journal *metrics.Source // resolved by watch when the journal is followed

	// Guarded by agent.mu (the lines' lock).
	files       map[string]*metrics.Source
	names       map[*metrics.Source]string // the label of each Source resolved through file or source
	refusedC    map[refusedKey]interface{ Inc() }
	tallies     map[*metrics.Source]*tally
	lastEvicted uint64
	buckets     atomic.Uint64 // live scenario buckets at the last sample

	// Sources' own counts of lines they dropped (truncated by a follower,
	// refused by the syslog listener), read and fed into the dropped-lines
	// counter at each sample.
	drops   []dropCounter
	mu      sync.Mutex // guards pending
	pending map[netip.Prefix]time.Time
}

// dropCounter feeds c with the growth of a source's cumulative count of
// dropped lines.
type dropCounter struct {
	stats func() uint64
	last  uint64
	c     interface{ Add(float64) }
}

// Source names of the lines that come without a file.
const (
	syslogSource = "syslog"
	stdinSource  = "stdin"
)

// watchSyslog resolves the counters of the syslog listener's lines and
// feeds its drops (queue full, oversize, malformed) into the dropped-lines
// counter at each sample. It returns the lines' counters.
func (am *agentMetrics) watchSyslog(srv *syslog.Server) *metrics.Source {
	for _, d := range []struct {
		reason string
		stat   func(syslog.Stats) uint64
	}{
		{"queue_full", func(s syslog.Stats) uint64 { return s.DroppedQueueFull }},
		{"oversize", func(s syslog.Stats) uint64 { return s.Oversize }},
		{"malformed", func(s syslog.Stats) uint64 { return s.Malformed }},
	} {
		am.drops = append(am.drops, dropCounter{
			stats: func() uint64 { return d.stat(srv.Stats()) },
			c:     am.m.Dropped(syslogSource, d.reason),
		})
	}
	return am.m.Source(syslogSource)
}

// newAgentMetrics builds the metric set of agent a. The live-decision
// gauge reads a.set at each scrape.
func newAgentMetrics(a *agent) *agentMetrics {
	am := &agentMetrics{now: a.now, files: map[string]*metrics.Source{}, pending: map[netip.Prefix]time.Time{},
		names: map[*metrics.Source]string{}, refusedC: map[refusedKey]interface{ Inc() }{}, tallies: map[*metrics.Source]*tally{}}
	kinds := make([]string, 0, 8)
	for k := event.KindNone; k.String() != "invalid"; k++ {
		kinds = append(kinds, k.String())
	}
	am.m = metrics.New(metrics.Options{
		EventKinds:    kinds,
		LiveDecisions: func() float64 { return float64(a.set.Len()) },
		LiveBuckets:   func() float64 { return float64(am.buckets.Load()) },
		Start:         a.now(),
	})
	return am
}

// file returns the counters of a followed path. the pipeline's lock is held.
func (am *agentMetrics) file(path string) *metrics.Source {
	if s, ok := am.files[path]; ok {
		return s
	}
	name := path
	if len(am.files) >= maxMetricFiles {
		name = otherFiles
	}
	s := am.m.Source(name)
	am.files[path] = s
	am.names[s] = name
	return s
}

// source resolves the counters of a source other than a file (standard
// input). the pipeline's lock is held.
func (am *agentMetrics) source(name string) *metrics.Source {
	s := am.m.Source(name)
	am.names[s] = name
	return s
}

type refusedKey struct {
	src    *metrics.Source
	reason string
}

// refused counts a line of src that the detector left for a reason of
// provenance under LinesDropped{source, reason}. It allocates only the
// first time a source meets a reason. the pipeline's lock is held.
func (am *agentMetrics) refused(src *metrics.Source, reason string) {
	k := refusedKey{src, reason}
	c, ok := am.refusedC[k]
	if !ok {
		if len(am.refusedC) >= 3*maxMetricFiles {
			k.src = nil // beyond the bound, one counter per reason
			if c, ok = am.refusedC[k]; ok {
				c.Inc()
				return
			}
		}
		name := am.names[k.src]
		if k.src == am.journal && am.journal != nil {
			name = journaldSource
		}
		if name == "" {
			name = otherFiles
		}
		c = am.m.Dropped(name, reason)
		am.refusedC[k] = c
	}
	c.Inc()
}

// line counts one line of src and what the detector made of it. It does not
// allocate.
func (am *agentMetrics) line(src *metrics.Source, r *Result) {
	src.Line(r.Parse.Rule >= 0 && !r.Parse.BadTime)
	if r.Parse.Event {
		am.m.Event(int(r.Event.Kind))
	}
}

// outcome counts an alert and, when the profiles decided, its decision.
func (am *agentMetrics) outcome(oc *Outcome) {
	am.m.Alert(oc.Alert.Scenario)
	if oc.Decided() {
		am.m.Decision(oc.Decision.Scenario, oc.Decision.Origin)
	}
}

// fromStore counts a decision read from the store that changed the set.
func (am *agentMetrics) fromStore(d *event.Decision, v decision.Verdict) {
	if v == decision.Added || v == decision.Extended {
		am.m.Decision(d.Scenario, d.Origin)
	}
}

// deciding notes, before the ban on scope from a line read at read enters
// the set, when that line was read: the enforcer may see the scope as soon
// as it is in the set.
func (am *agentMetrics) deciding(scope netip.Prefix, read time.Time) {
	am.mu.Lock()
	defer am.mu.Unlock()
	if _, ok := am.pending[scope]; !ok && len(am.pending) < maxPendingBans {
		am.pending[scope] = read
	}
}

// decided forgets the note of deciding when the set's verdict v means the
// firewall will not see the scope (kept, refused, invalid).
func (am *agentMetrics) decided(scope netip.Prefix, v decision.Verdict, read time.Time) {
	if v == decision.Added || v == decision.Extended {
		return
	}
	am.mu.Lock()
	defer am.mu.Unlock()
	if t, ok := am.pending[scope]; ok && t.Equal(read) {
		delete(am.pending, scope)
	}
}

// enforced observes, for the bans of c that came from lines, the time from
// the line's read to now (the nftables commit, or the print when dry).
// Deleted scopes are forgotten.
func (am *agentMetrics) enforced(add []event.Decision, del []netip.Prefix) {
	am.mu.Lock()
	defer am.mu.Unlock()
	if len(am.pending) == 0 {
		return
	}
	now := am.now()
	for i := range add {
		if t, ok := am.pending[add[i].Scope]; ok {
			am.m.DetectToEnforce(now.Sub(t))
			delete(am.pending, add[i].Scope)
		}
	}
	for _, p := range del {
		delete(am.pending, p)
	}
}

// reconciled observes every pending ban: a reconcile put the whole set in
// the kernel.
func (am *agentMetrics) reconciled() {
	am.mu.Lock()
	defer am.mu.Unlock()
	now := am.now()
	for p, t := range am.pending {
		am.m.DetectToEnforce(now.Sub(t))
		delete(am.pending, p)
	}
}

// watch registers the followers whose truncated lines count as dropped.
func (am *agentMetrics) watch(fs []*file.Follower, globs [][]string, jf *journald.Follower) {
	for i, f := range fs {
		am.drops = append(am.drops, dropCounter{
			stats: func() uint64 { return f.Stats().Truncated },
			c:     am.m.Dropped(strings.Join(globs[i], ","), metrics.DroppedTruncated),
		})
	}
	if jf != nil {
		am.journal = am.m.Source(journaldSource)
		am.drops = append(am.drops, dropCounter{
			stats: func() uint64 { return jf.Stats().Truncated },
			c:     am.m.Dropped(journaldSource, metrics.DroppedTruncated),
		})
	}
}

// sample reads the counters the stages keep themselves. the pipeline's lock is held.
func (am *agentMetrics) sample(det *Detector) {
	st := det.ScenarioStats()
	am.buckets.Store(st.Live)
	if st.Evicted > am.lastEvicted {
		am.m.Evicted(st.Evicted - am.lastEvicted)
		am.lastEvicted = st.Evicted
	}
	for i := range am.drops {
		f := &am.drops[i]
		if n := f.stats(); n > f.last {
			f.c.Add(float64(n - f.last))
			f.last = n
		}
	}
}

// listenMetrics returns the listener of the metrics endpoint, or nil when
// the configuration turns it off. An address beyond loopback needs
// metrics.allow_remote.
func (a *agent) listenMetrics() (net.Listener, error) {
	mc := a.cfg.Metrics
	tc, err := a.serverTLS("metrics", mc.TLSCert, mc.TLSKey, mc.TLSLine)
	if err != nil {
		return nil, err
	}
	if a.o.MetricsListener != nil {
		return tlsListener(a.guard("metrics", a.o.MetricsListener, metricsLimits), tc), nil
	}
	if mc.Listen == "" {
		return nil, nil
	}
	ap, err := netip.ParseAddrPort(mc.Listen)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics: %w", err)
	}
	if !ap.Addr().IsLoopback() && !mc.AllowRemote {
		return nil, fmt.Errorf("agent: metrics: %s is not loopback and metrics.allow_remote is off", ap)
	}
	ln, err := net.Listen("tcp", mc.Listen)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics: %w", err)
	}
	return tlsListener(a.guard("metrics", ln, metricsLimits), tc), nil
}

// serveMetrics serves /metrics on ln until ctx ends.
func (a *agent) serveMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.m.m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadHeaderTimeout, ReadTimeout: metricsReadTimeout,
		WriteTimeout: metricsWriteTimeout, IdleTimeout: metricsIdleTimeout, MaxHeaderBytes: 8 << 10}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	a.log.Info("agent: metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("agent: metrics: %w", err)
	}
	return nil
}

// sourceGlobs returns the globs of each configured file source, in order.
func (a *agent) sourceGlobs() [][]string {
	gs := make([][]string, len(a.cfg.Sources))
	for i, s := range a.cfg.Sources {
		gs[i] = s.Files
	}
	return gs
}

// enforceObserver passes what the enforce loop did to the agent's metrics.
type enforceObserver struct{ am *agentMetrics }

func (o enforceObserver) Enforced(add []event.Decision, del []netip.Prefix) { o.am.enforced(add, del) }
func (o enforceObserver) Reconciled()                                       { o.am.reconciled() }
func (o enforceObserver) Failed()                                           { o.am.m.FirewallError() }

// tally is a source's counters as the pipeline's detect.Tally.
type tally struct {
	am  *agentMetrics
	src *metrics.Source
}

func (t *tally) Line(res *detect.Result) {
	if res == nil {
		t.src.Line(false)
		return
	}
	t.am.line(t.src, res)
}

func (t *tally) Left(reason string) { t.am.refused(t.src, reason) }

// tallyOf returns src's tally, made once. The pipeline's lock is held, or
// the agent is starting.
func (am *agentMetrics) tallyOf(src *metrics.Source) *tally {
	if t, ok := am.tallies[src]; ok {
		return t
	}
	t := &tally{am, src}
	am.tallies[src] = t
	return t
}
