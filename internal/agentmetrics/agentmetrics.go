// Package agentmetrics wires the agent's parts to internal/metrics: the
// counters resolved per source (bounded against hostile paths), the bans on
// their way to the firewall (for the detection-to-enforcement histogram),
// and the stages' own counters read at each sample. The agent holds one
// Agent; its per-line methods allocate nothing once a source is resolved.
package agentmetrics

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/enforce"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/source/file"
	"github.com/herd-ips/herd/internal/source/journald"
	"github.com/herd-ips/herd/internal/source/syslog"
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
)

// Agent is the agent's side of internal/metrics: the per-source
// counters it resolved, the bans on their way to the firewall, and what it
// last read from the stages' own counters.
type Agent struct {
	m       *metrics.Metrics
	now     func() time.Time
	journal *metrics.Source // resolved by watch when the journal is followed

	// Guarded by the pipeline's lock.
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
	StdinSource  = "stdin" // Source name of standard input
)

// WatchSyslog resolves the counters of the syslog listener's lines and
// feeds its drops (queue full, oversize, malformed) into the dropped-lines
// counter at each sample. It returns the lines' counters.
func (am *Agent) WatchSyslog(srv *syslog.Server) *metrics.Source {
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

// New returns the agent's metric set on clock clk (nil: clock.Real).
// liveDecisions is read at each scrape for the live-decision gauge.
func New(clk clock.Clock, liveDecisions func() int) *Agent {
	am := &Agent{now: clock.Or(clk).Now, files: map[string]*metrics.Source{}, pending: map[netip.Prefix]time.Time{},
		names: map[*metrics.Source]string{}, refusedC: map[refusedKey]interface{ Inc() }{}, tallies: map[*metrics.Source]*tally{}}
	kinds := make([]string, 0, 8)
	for k := event.KindNone; k.String() != "invalid"; k++ {
		kinds = append(kinds, k.String())
	}
	am.m = metrics.New(metrics.Options{
		EventKinds:    kinds,
		LiveDecisions: func() float64 { return float64(liveDecisions()) },
		LiveBuckets:   func() float64 { return float64(am.buckets.Load()) },
		Start:         am.now(),
	})
	return am
}

// File returns the counters of a followed path. the pipeline's lock is held.
func (am *Agent) File(path string) *metrics.Source {
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

// Source resolves the counters of a source other than a file (standard
// input). the pipeline's lock is held.
func (am *Agent) Source(name string) *metrics.Source {
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
func (am *Agent) refused(src *metrics.Source, reason string) {
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
			name = journald.Name
		}
		if name == "" {
			name = otherFiles
		}
		c = am.m.Dropped(name, reason)
		am.refusedC[k] = c
	}
	c.Inc()
}

// Line counts one line of src and what the detector made of it. It does not
// allocate.
func (am *Agent) Line(src *metrics.Source, r *detect.Result) {
	src.Line(r.Parse.Rule >= 0 && !r.Parse.BadTime)
	if r.Parse.Event {
		am.m.Event(int(r.Event.Kind))
	}
}

// Outcome counts an alert and, when the profiles decided, its decision.
func (am *Agent) Outcome(oc *detect.Outcome) {
	am.m.Alert(oc.Alert.Scenario)
	if oc.Decided() {
		am.m.Decision(oc.Decision.Scenario, oc.Decision.Origin)
	}
}

// FromStore counts a decision read from the store that changed the set.
func (am *Agent) FromStore(d *event.Decision, v decision.Verdict) {
	if v == decision.Added || v == decision.Extended {
		am.m.Decision(d.Scenario, d.Origin)
	}
}

// Deciding notes, before the ban on scope from a line read at read enters
// the set, when that line was read: the enforcer may see the scope as soon
// as it is in the set.
func (am *Agent) Deciding(scope netip.Prefix, read time.Time) {
	am.mu.Lock()
	defer am.mu.Unlock()
	if _, ok := am.pending[scope]; !ok && len(am.pending) < maxPendingBans {
		am.pending[scope] = read
	}
}

// Decided forgets the note of deciding when the set's verdict v means the
// firewall will not see the scope (kept, refused, invalid).
func (am *Agent) Decided(scope netip.Prefix, v decision.Verdict, read time.Time) {
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
func (am *Agent) enforced(add []event.Decision, del []netip.Prefix) {
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
func (am *Agent) reconciled() {
	am.mu.Lock()
	defer am.mu.Unlock()
	now := am.now()
	for p, t := range am.pending {
		am.m.DetectToEnforce(now.Sub(t))
		delete(am.pending, p)
	}
}

// Watch registers the followers whose truncated lines count as dropped.
func (am *Agent) Watch(fs []*file.Follower, globs [][]string, jf *journald.Follower) {
	for i, f := range fs {
		am.drops = append(am.drops, dropCounter{
			stats: func() uint64 { return f.Stats().Truncated },
			c:     am.m.Dropped(strings.Join(globs[i], ","), metrics.DroppedTruncated),
		})
	}
	if jf != nil {
		am.journal = am.m.Source(journald.Name)
		am.drops = append(am.drops, dropCounter{
			stats: func() uint64 { return jf.Stats().Truncated },
			c:     am.m.Dropped(journald.Name, metrics.DroppedTruncated),
		})
	}
}

// Sample reads the counters the stages keep themselves. the pipeline's lock is held.
func (am *Agent) Sample(det *detect.Detector) {
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

// Observer returns what passes what the enforce loop did to the metrics.
func (am *Agent) Observer() enforce.Observer { return enforceObserver{am} }

// Metrics returns the metric set, for the counters the agent feeds itself.
func (am *Agent) Metrics() *metrics.Metrics { return am.m }

// Journal returns the counters of the journal's lines (nil when Watch was
// given no journal).
func (am *Agent) Journal() *metrics.Source { return am.journal }

// enforceObserver passes what the enforce loop did to the agent's metrics.
type enforceObserver struct{ am *Agent }

func (o enforceObserver) Enforced(add []event.Decision, del []netip.Prefix) { o.am.enforced(add, del) }
func (o enforceObserver) Reconciled()                                       { o.am.reconciled() }
func (o enforceObserver) Failed()                                           { o.am.m.FirewallError() }

// tally is a source's counters as the pipeline's detect.Tally.
type tally struct {
	am  *Agent
	src *metrics.Source
}

func (t *tally) Line(res *detect.Result) {
	if res == nil {
		t.src.Line(false)
		return
	}
	t.am.Line(t.src, res)
}

func (t *tally) Left(reason string) { t.am.refused(t.src, reason) }

// Tally returns src's tally, made once. The pipeline's lock is held, or
// the agent is starting.
func (am *Agent) Tally(src *metrics.Source) *tally {
	if t, ok := am.tallies[src]; ok {
		return t
	}
	t := &tally{am, src}
	am.tallies[src] = t
	return t
}
