// Package hub is the community server: agents enroll with a key and push
// signals; the hub weighs them with the reputation rules and keeps the
// community listing as a versioned change log in its database, which
// several stateless hub nodes may share.
//
// The HTTP API, the wire format and the rules are specified in docs/hub.md.
package hub

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/hubstore"
	"github.com/herd-ips/herd/internal/hub/predict"
	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/hub/wire"
	"github.com/herd-ips/herd/internal/ipx"
)

// ErrTooOld is wrapped by Log.Since when the requested version is older
// than the change history the database keeps.
var ErrTooOld = hubstore.ErrTooOld

// Defaults of Options.
const (
	DefaultClockSkew      = 2 * time.Minute
	DefaultSignalRate     = 1000 // signals per second per reporter
	DefaultSignalBurst    = 2 * wire.MaxBatch
	DefaultRequestRate    = 5 // signal requests per second per reporter
	DefaultRequestBurst   = 60
	DefaultEnrollRate     = 1.0 / 60 // enrollments per second per network
	DefaultEnrollBurst    = 10
	DefaultEnrollAllRate  = 1.0 // new enrollments per second, whole hub
	DefaultEnrollAllBurst = 100
	DefaultMaxNonces      = 1 << 20
	DefaultNonceQuota     = 2048 // nonces per reporter per generation (4 minutes)
	DefaultNonceFloor     = 512
	DefaultRecomputeEvery = time.Second
)

// Options configures New.
type Options struct {
	Store *hubstore.Store
	// Rules are the listing rules (zero fields: defaults).
	Rules reputation.Rules
	// Protected are the operator's own ranges, never listed, beside the
	// shipped ProtectedRanges.
	Protected []netip.Prefix
	// AllowDocumentation accepts sources in the documentation ranges
	// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), which
	// a production hub refuses; tests and examples use them.
	AllowDocumentation bool
	// ClockSkew is the largest accepted difference between a request's
	// timestamp and the hub's clock (default 2 minutes).
	ClockSkew time.Duration
	// SignalRate and SignalBurst bound each reporter's signals (token
	// bucket; defaults 1000/s, burst 8192).
	SignalRate  float64
	SignalBurst float64
	// RequestRate and RequestBurst bound each reporter's signal requests,
	// whatever their size (token bucket; defaults 5/s, burst 60: an agent
	// sends one batch a second, and its backlog of full batches after an
	// outage in a burst), so a member cannot make the hub commit one tiny
	// batch per request a thousand times a second.
	RequestRate  float64
	RequestBurst float64
	// EnrollRate and EnrollBurst bound new enrollments per network (/24,
	// /48) (defaults one a minute, burst 10).
	EnrollRate  float64
	EnrollBurst float64
	// EnrollAllRate and EnrollAllBurst bound new enrollments on this node
	// from all networks together (defaults one a second, burst 100): a
	// flood from many networks slows the enrollment of new members and
	// nothing else. A key already enrolled enrolls again whatever the
	// budgets.
	EnrollAllRate  float64
	EnrollAllBurst float64
	// MaxNonces bounds the replay cache (default 1<<20, two generations of
	// half each). NonceQuota is the most nonces one reporter may hold in a
	// generation (default 2048: 8 requests a second for 4 minutes; beyond,
	// its requests get 429). When a generation is full, a reporter holding
	// fewer than NonceFloor nonces (default 512) is still admitted, so a
	// full cache never refuses a reporter sending at an honest pace; the
	// others get 503 until the generation rotates.
	MaxNonces  int
	NonceQuota int
	NonceFloor int
	// RecomputeEvery is the period of listing recomputation (default 1s).
	RecomputeEvery time.Duration
	Time           clock.Clock  // drives recomputation and pruning; nil = clock.Real
	Logger         *slog.Logger // nil = discard
	// Blocklist and Exports, when set, are mounted at /v1/blocklist/ and
	// /v1/export/.
	Blocklist http.Handler
	Exports   http.Handler
	// OnChange, when set, is called with the new version after a
	// recomputation found the change log moved (this node appended to it,
	// or another node sharing the database did): the blocklist server's
	// Notify goes here, so a listing is pushed at once rather than at its
	// next poll. It is called without locks held, from the goroutine that
	// ran Recompute, and must not block for long.
	OnChange func(version uint64)
	// Predict are the prediction rules (zero fields: defaults); NoPredict
	// turns the predictor off.
	Predict   predict.Rules
	NoPredict bool
	// Predicted, when set, is mounted at /v1/predicted/: the blocklist
	// server of the predictions, a list apart from the community's.
	Predicted http.Handler
	// OnPredict, when set, is called after a recomputation with the
	// predicted prefixes added and removed since the previous call (the
	// predictions' change log goes here). It is called without locks
	// held, in order, and must not block for long.
	OnPredict func(added, removed []netip.Prefix)
	// OnRecompute, when set, is called with the time each successful
	// recomputation took (the metrics' histogram goes here). It is called
	// without locks held and must not block.
	OnRecompute func(took time.Duration)
	// BlobRetention is how long private groups' blobs are kept (default
	// DefaultBlobRetention, a week): a member offline longer misses
	// them.
	BlobRetention time.Duration
}

// Stats are the hub's counters.
type Stats struct {
	Enrolled        uint64
	Batches         uint64
	Signals         uint64 // accepted and committed
	Refused         [numRefusals]uint64
	BadRequests     uint64 // malformed bodies or headers
	BadSignatures   uint64
	StaleTimestamps uint64
	Replays         uint64
	RateLimited     uint64
	UnknownKeys     uint64
	NoncesFull      uint64 // requests refused (503) because the replay cache was full
	Recomputes      uint64
	// Nonces is the number of (reporter, nonce) pairs the replay cache
	// holds; EnrollNetworks the number of per-network enrollment buckets.
	Nonces         uint64
	EnrollNetworks uint64
	// Listed and Version are the addresses listed and the change log's
	// version after this node's last recomputation (0 before the first);
	// Predicted the predictions this node holds.
	Listed    uint64
	Version   uint64
	Predicted uint64
	// Blobs and BlobBytes count the group blobs stored (groups.go).
	Blobs, BlobBytes uint64
}

// Server is a hub node. It is safe for concurrent use.
type Server struct {
	o     Options
	st    *hubstore.Store
	clk   clock.Clock
	now   func() time.Time
	log   *slog.Logger
	prot  *ipx.NeverBan
	noise *ipx.NeverBan

	keys    sync.Map // wire.ReporterID → hubstore.Reporter
	nonces  *nonceCache
	signalL *limiter[wire.ReporterID]
	reqL    *limiter[wire.ReporterID]
	readL   *limiter[wire.ReporterID] // group blob reads (groups.go)
	enrollL *limiter[netip.Prefix]
	enrollA *limiter[struct{}]
	nudge   chan struct{}
	bufs    sync.Pool

	blobMu sync.Mutex
	blobCh chan struct{} // closed at the next stored blob (groups.go)
	done   chan struct{} // closed when Run returns: long polls end
	stop   sync.Once

	mu   sync.Mutex // guards eng, pred, predicted, cursor and version
	eng  *reputation.Engine
	pred *predict.Engine // nil: predictions off
	// predicted is the set of predicted prefixes last reported to
	// OnPredict.
	predicted map[netip.Prefix]struct{}
	cursor    int64  // last signal id the engine has read
	version   uint64 // the change log's version as this node last saw it

	stats struct {
		enrolled, batches, signals                                   atomic.Uint64
		refused                                                      [numRefusals]atomic.Uint64
		bad, badSig, stale, replay, limited, unknown, recomputations atomic.Uint64
		noncesFull                                                   atomic.Uint64
		listed, version, predicted                                   atomic.Uint64
		blobs, blobBytes                                             atomic.Uint64
	}
}

// New builds a hub node over o.Store and loads the evidence of the rules'
// window from it.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("hub: no store")
	}
	if o.ClockSkew <= 0 {
		o.ClockSkew = DefaultClockSkew
	}
	if o.SignalRate <= 0 {
		o.SignalRate = DefaultSignalRate
	}
	if o.SignalBurst <= 0 {
		o.SignalBurst = DefaultSignalBurst
	}
	if o.RequestRate <= 0 {
		o.RequestRate = DefaultRequestRate
	}
	if o.RequestBurst <= 0 {
		o.RequestBurst = DefaultRequestBurst
	}
	if o.EnrollRate <= 0 {
		o.EnrollRate = DefaultEnrollRate
	}
	if o.EnrollBurst <= 0 {
		o.EnrollBurst = DefaultEnrollBurst
	}
	if o.EnrollAllRate <= 0 {
		o.EnrollAllRate = DefaultEnrollAllRate
	}
	if o.EnrollAllBurst <= 0 {
		o.EnrollAllBurst = DefaultEnrollAllBurst
	}
	if o.MaxNonces <= 0 {
		o.MaxNonces = DefaultMaxNonces
	}
	if o.NonceQuota <= 0 {
		o.NonceQuota = DefaultNonceQuota
	}
	if o.NonceFloor <= 0 {
		o.NonceFloor = DefaultNonceFloor
	}
	if o.RecomputeEvery <= 0 {
		o.RecomputeEvery = DefaultRecomputeEvery
	}
	if o.BlobRetention <= 0 {
		o.BlobRetention = DefaultBlobRetention
	}
	s := &Server{o: o, st: o.Store, clk: clock.Or(o.Time), log: o.Logger, nudge: make(chan struct{}, 1),
		blobCh: make(chan struct{}), done: make(chan struct{})}
	s.now = s.clk.Now
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.prot = ipx.NewNeverBan(nil, append(ProtectedRanges(), o.Protected...))
	s.noise = ipx.NewNeverBan(nil, NoiseRanges())
	s.eng = reputation.New(o.Rules, s.prot, s.noise)
	if !o.NoPredict {
		s.pred = predict.New(o.Predict, s.eng, s.prot, s.noise)
		s.predicted = map[netip.Prefix]struct{}{}
	}
	s.nonces = newNonceCache(o.MaxNonces, o.NonceQuota, o.NonceFloor, 2*o.ClockSkew)
	s.signalL = newLimiter[wire.ReporterID](o.SignalRate, o.SignalBurst, 1<<20)
	s.reqL = newLimiter[wire.ReporterID](o.RequestRate, o.RequestBurst, 1<<20)
	s.readL = newLimiter[wire.ReporterID](DefaultReadRate, DefaultReadBurst, 1<<20)
	s.enrollL = newLimiter[netip.Prefix](o.EnrollRate, o.EnrollBurst, 1<<16)
	s.enrollA = newLimiter[struct{}](o.EnrollAllRate, o.EnrollAllBurst, 1)
	s.bufs.New = func() any { b := make([]byte, 0, wire.MaxBatchBytes+1); return &b }
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// load fills the engine with the reporters, the listing's recent history
// and the signals of the window.
func (s *Server) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err := s.loadReporters(ctx); err != nil {
		return err
	}
	past, err := s.st.ListedSince(ctx, now.Add(-s.eng.Rules().Window))
	if err != nil {
		return err
	}
	s.eng.SetListed(past, now)
	v, cur, err := s.st.Snapshot(ctx)
	if err != nil {
		return err
	}
	s.version = v
	s.eng.SetListed(addrsOf(cur), now)
	if err := s.catchUp(ctx, now); err != nil {
		return err
	}
	return s.warmPredictor(ctx, now)
}

// warmPredictor rebuilds the predictor's state from the database: the
// listing's history within its memory, then every signal of the window
// replayed with the trust the reputation engine computes now (predictions
// live in memory only, so a restarted node, or herd hub explain, starts
// from what the signals support). s.mu is held.
func (s *Server) warmPredictor(ctx context.Context, now time.Time) error {
	if s.pred == nil {
		return nil
	}
	past, err := s.st.ListedSince(ctx, now.Add(-s.pred.Rules().Memory))
	if err != nil {
		return err
	}
	s.pred.Listed(past, now)
	s.eng.Recompute(now) // trust as of now; the listing is not changed
	oldest := minuteOf(now.Add(-s.pred.Rules().Sweep))
	err = s.st.Signals(ctx, 0, s.cursor, oldest, func(sg hubstore.StoredSignal) {
		if r, ok := s.eng.Reporter(sg.Reporter); ok {
			s.pred.Observe(r, sg.Signal, time.Unix(int64(sg.Minute)*60, 0))
		}
	})
	if err != nil {
		return err
	}
	s.pred.Expire(now)
	return nil
}

func (s *Server) loadReporters(ctx context.Context) error {
	rs, err := s.st.Reporters(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		s.eng.AddReporter(reputation.Reporter{ID: r.ID, Network: r.Network, Enrolled: r.Enrolled})
		s.keys.Store(r.ID, r)
	}
	return nil
}

func addrsOf(ps []netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, len(ps))
	for i, p := range ps {
		out[i] = p.Addr()
	}
	return out
}

func minuteOf(t time.Time) uint32 {
	m := t.Unix() / 60
	if m < 0 {
		return 0
	}
	return uint32(m)
}

// catchUp feeds the engine every committed signal it has not read. s.mu
// is held.
func (s *Server) catchUp(ctx context.Context, now time.Time) error {
	upTo, err := s.st.SafeSignalID(ctx)
	if err != nil {
		return err
	}
	if upTo <= s.cursor {
		return nil
	}
	oldest := minuteOf(now.Add(-s.eng.Rules().Window))
	var missing bool
	err = s.st.Signals(ctx, s.cursor, upTo, oldest, func(sg hubstore.StoredSignal) {
		r, ok := s.eng.Reporter(sg.Reporter)
		if !ok {
			missing = true
			return
		}
		s.eng.Observe(r, sg.Signal)
		if s.pred != nil {
			s.pred.Observe(r, sg.Signal, time.Unix(int64(sg.Minute)*60, 0))
		}
	})
	if err != nil {
		return err
	}
	if missing {
		// Enrolled on another node since we loaded: learn the reporters
		// and read the range again (Observe is idempotent).
		if err := s.loadReporters(ctx); err != nil {
			return err
		}
		err = s.st.Signals(ctx, s.cursor, upTo, oldest, func(sg hubstore.StoredSignal) {
			if r, ok := s.eng.Reporter(sg.Reporter); ok {
				s.eng.Observe(r, sg.Signal)
				if s.pred != nil {
					s.pred.Observe(r, sg.Signal, time.Unix(int64(sg.Minute)*60, 0))
				}
			}
		})
		if err != nil {
			return err
		}
	}
	s.cursor = upTo
	return nil
}

// Recompute brings the listing up to date with every committed signal: it
// runs under the database's listing lock, so nodes sharing a database take
// turns and the change log gets no duplicate and no gap. It returns the
// change log's version and calls Options.OnChange when that moved.
func (s *Server) Recompute(ctx context.Context) (uint64, error) {
	start := s.clk.Now()
	v, changed, added, removed, err := s.recompute(ctx)
	if err != nil {
		return 0, err
	}
	if (len(added) > 0 || len(removed) > 0) && s.o.OnPredict != nil {
		s.o.OnPredict(added, removed)
	}
	if s.o.OnRecompute != nil {
		s.o.OnRecompute(clock.Since(s.clk, start))
	}
	if changed && s.o.OnChange != nil {
		s.o.OnChange(v)
	}
	return v, nil
}

func (s *Server) recompute(ctx context.Context) (v uint64, changed bool, added, removed []netip.Prefix, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var want []netip.Addr
	v, err = s.st.UpdateListing(ctx, now, func(cur []netip.Addr) ([]netip.Addr, error) {
		if err := s.catchUp(ctx, now); err != nil {
			return nil, err
		}
		s.eng.SetListed(cur, now)
		want = s.eng.Recompute(now)
		return want, nil
	})
	if err != nil {
		return 0, false, nil, nil, fmt.Errorf("hub: recompute: %w", err)
	}
	s.eng.SetListed(want, now)
	s.stats.recomputations.Add(1)
	s.stats.listed.Store(uint64(len(want)))
	s.stats.version.Store(v)
	changed = v != s.version
	s.version = v
	if s.pred != nil {
		added, removed = s.predictions(want, now)
	}
	return v, changed, added, removed, nil
}

// predictions tells the predictor the listing, expires what is due, and
// returns the predicted prefixes added and removed since the last call.
// s.mu is held.
func (s *Server) predictions(listed []netip.Addr, now time.Time) (added, removed []netip.Prefix) {
	s.pred.Listed(listed, now)
	s.pred.Expire(now)
	act := s.pred.Active()
	cur := make(map[netip.Prefix]struct{}, len(act))
	for _, p := range act {
		cur[p.Prefix] = struct{}{}
		if _, ok := s.predicted[p.Prefix]; !ok {
			added = append(added, p.Prefix)
		}
	}
	for p := range s.predicted {
		if _, ok := cur[p]; !ok {
			removed = append(removed, p)
		}
	}
	s.predicted = cur
	s.stats.predicted.Store(uint64(len(cur)))
	return added, removed
}

// Run recomputes the listing every RecomputeEvery and soon after ingest,
// and prunes signals older than the window every hour, until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	t := s.clk.NewTicker(s.o.RecomputeEvery)
	defer t.Stop()
	defer s.stop.Do(func() { close(s.done) })
	lastPrune := time.Time{}
	// After an ingest, recompute soon but not more often than five times
	// a period: under load, nudges arrive with every batch.
	gap := s.o.RecomputeEvery / 5
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-s.nudge:
			if clock.Sleep(ctx, s.clk, gap-clock.Since(s.clk, last)) != nil {
				return nil
			}
		}
		last = s.clk.Now()
		if _, err := s.Recompute(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("hub: recompute", "err", err)
		}
		if now := s.now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if _, err := s.st.PruneSignals(ctx, minuteOf(now.Add(-s.eng.Rules().Window))); err != nil && ctx.Err() == nil {
				s.log.Error("hub: prune", "err", err)
			}
			// The change log serves deltas and the listing's history
			// (ListedSince) over the window and the predictor's memory;
			// older changes serve nothing (a follower that far behind takes
			// a snapshot).
			keep := s.eng.Rules().Window
			if s.pred != nil {
				keep = max(keep, s.pred.Rules().Memory)
			}
			if _, err := s.st.PruneChanges(ctx, now.Add(-keep)); err != nil && ctx.Err() == nil {
				s.log.Error("hub: prune changes", "err", err)
			}
			if _, err := s.st.PruneBlobs(ctx, now.Add(-s.o.BlobRetention)); err != nil && ctx.Err() == nil {
				s.log.Error("hub: prune blobs", "err", err)
			}
		}
	}
}

// ExplainPrediction says why a is or is not predicted by this node.
func (s *Server) ExplainPrediction(a netip.Addr) (predict.Explanation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pred == nil {
		return predict.Explanation{Reason: "predictions are off"}, false
	}
	return s.pred.Explain(a, s.now()), true
}

// Predictions returns the predictions this node holds, sorted by prefix.
func (s *Server) Predictions() []predict.Prediction {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pred == nil {
		return nil
	}
	return s.pred.Active()
}

// Explain says why a is or is not listed, from every committed signal.
func (s *Server) Explain(ctx context.Context, a netip.Addr) (reputation.Explanation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err := s.catchUp(ctx, now); err != nil {
		return reputation.Explanation{}, fmt.Errorf("hub: explain: %w", err)
	}
	_, cur, err := s.st.Snapshot(ctx)
	if err != nil {
		return reputation.Explanation{}, fmt.Errorf("hub: explain: %w", err)
	}
	s.eng.SetListed(addrsOf(cur), now)
	return s.eng.Explain(a, now), nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Enrolled: s.stats.enrolled.Load(), Batches: s.stats.batches.Load(), Signals: s.stats.signals.Load(),
		BadRequests: s.stats.bad.Load(), BadSignatures: s.stats.badSig.Load(), StaleTimestamps: s.stats.stale.Load(),
		Replays: s.stats.replay.Load(), RateLimited: s.stats.limited.Load(), UnknownKeys: s.stats.unknown.Load(),
		NoncesFull: s.stats.noncesFull.Load(), Nonces: uint64(s.nonces.len()), EnrollNetworks: uint64(s.enrollL.len()),
		Recomputes: s.stats.recomputations.Load(), Listed: s.stats.listed.Load(), Version: s.stats.version.Load(),
		Predicted: s.stats.predicted.Load(), Blobs: s.stats.blobs.Load(), BlobBytes: s.stats.blobBytes.Load(),
	}
	for i := range st.Refused {
		st.Refused[i] = s.stats.refused[i].Load()
	}
	return st
}

// Log is the listing's change log, shared by every node over the database.
type Log struct{ st *hubstore.Store }

// Log returns the change log.
func (s *Server) Log() *Log { return &Log{st: s.st} }

// Snapshot returns the current listing and the version (change-log
// sequence) it reflects.
func (l *Log) Snapshot(ctx context.Context) (version uint64, listed []netip.Prefix, err error) {
	return l.st.Snapshot(ctx)
}

// Since returns the changes after version from, up to the returned version
// to. It returns an error wrapping ErrTooOld when from is older than the
// kept history.
func (l *Log) Since(ctx context.Context, from uint64) (to uint64, added, removed []netip.Prefix, err error) {
	return l.st.Since(ctx, from)
}

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/enroll", s.enroll)
	mux.HandleFunc("POST /v1/signals", s.signals)
	mux.HandleFunc("POST /v1/groups/{gid}/blobs", s.postBlob)
	mux.HandleFunc("GET /v1/groups/{gid}/blobs", s.getBlobs)
	if s.o.Blocklist != nil {
		mux.Handle("/v1/blocklist/", s.o.Blocklist)
	}
	if s.o.Exports != nil {
		mux.Handle("/v1/export/", s.o.Exports)
	}
	if s.o.Predicted != nil {
		mux.Handle("/v1/predicted/", s.o.Predicted)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// Generic error answers: they say what class of problem, never why in
// detail (no internals, no hint which check failed first beyond the
// status).
func fail(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	msg := http.StatusText(code)
	if code == http.StatusUnauthorized {
		msg = "unauthorized"
	}
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// network returns the /24 or /48 of the peer.
func network(r *http.Request) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err2 := net.SplitHostPort(r.RemoteAddr)
		if err2 != nil {
			return netip.Prefix{}, false
		}
		a, err3 := netip.ParseAddr(host)
		if err3 != nil {
			return netip.Prefix{}, false
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// readBody reads at most max bytes into a pooled buffer.
func (s *Server) readBody(r *http.Request, max int) (*[]byte, bool) {
	bp := s.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	lr := io.LimitReader(r.Body, int64(max)+1)
	for {
		if len(b) == cap(b) {
			break
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			s.bufs.Put(bp)
			return nil, false
		}
	}
	if len(b) > max {
		s.bufs.Put(bp)
		return nil, false
	}
	*bp = b
	return bp, true
}

// A request's checks run from the cheapest to the dearest, and nothing a
// client that has not proven an enrolled key sends is kept past its
// request:
//
//   - authHeader: exactly one Herd-Auth header, its syntax, the timestamp
//     (no body read, nothing stored);
//   - signals: the key is enrolled (memory, then the database; a stranger's
//     body is never read), the reporter's request budget holds a token
//     (looked at, not taken), the signature, the nonce not seen, a request
//     token taken, the batch decodes, the signal budget, and only then the
//     nonce is stored, within the reporter's quota;
//   - enroll: a key already enrolled is answered from memory (enrolling is
//     idempotent, so it takes no nonce); a new key needs tokens in its
//     network's and the node's enrollment budgets (looked at, not taken,
//     before the signature is checked), then the signature, and only then
//     are the tokens taken and the key stored.

// authHeader parses the request's one Herd-Auth header and checks its
// timestamp against the hub's clock, which it returns. On failure it
// writes the answer.
func (s *Server) authHeader(w http.ResponseWriter, r *http.Request) (wire.Auth, time.Time, bool) {
	vs := r.Header.Values(wire.AuthHeader)
	if len(vs) != 1 {
		// None, or several: which one would the signature be about?
		s.stats.bad.Add(1)
		fail(w, http.StatusUnauthorized)
		return wire.Auth{}, time.Time{}, false
	}
	a, err := wire.ParseAuth(vs[0])
	if err != nil {
		s.stats.bad.Add(1)
		fail(w, http.StatusUnauthorized)
		return a, time.Time{}, false
	}
	now := s.now()
	if d := now.Sub(time.Unix(a.Time, 0)); d > s.o.ClockSkew || d < -s.o.ClockSkew {
		s.stats.stale.Add(1)
		fail(w, http.StatusUnauthorized)
		return a, now, false
	}
	return a, now, true
}

// takeNonce records the nonce of an authenticated request, which the
// request may then not reuse, and answers the failure itself when the nonce
// was seen (401), its sender's quota is spent (429) or the cache is full
// (503, until old nonces age out): ok false means the request is answered.
func (s *Server) takeNonce(w http.ResponseWriter, a wire.Auth, now time.Time) bool {
	switch s.nonces.add(a.Key, a.Nonce, now) {
	case nonceReplay:
		s.stats.replay.Add(1)
		fail(w, http.StatusUnauthorized)
		return false
	case nonceQuota:
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return false
	case nonceFull:
		s.stats.noncesFull.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable)
		return false
	}
	return true
}

// knownReporter reads a request's authentication header and finds its key
// among the members. When the header is malformed, the lookup fails or the
// key is unknown, it answers the request itself and returns ok false. The
// signature is not checked here: that needs the body.
func (s *Server) knownReporter(w http.ResponseWriter, r *http.Request) (a wire.Auth, rep hubstore.Reporter, now time.Time, ok bool) {
	a, now, ok = s.authHeader(w, r)
	if !ok {
		return a, rep, now, false
	}
	rep, found, err := s.member(r.Context(), a.Key)
	if err != nil {
		s.log.Error("hub: reporter lookup", "err", err)
		fail(w, http.StatusServiceUnavailable)
		return a, rep, now, false
	}
	if !found {
		s.stats.unknown.Add(1)
		fail(w, http.StatusUnauthorized)
		return a, rep, now, false
	}
	return a, rep, now, true
}

// member returns the enrolled reporter id, from memory or else from the
// database (enrolled on another node since this one loaded). Unknown keys
// are not remembered. found is false when id is not enrolled; err is set
// when the database failed.
func (s *Server) member(ctx context.Context, id wire.ReporterID) (rep hubstore.Reporter, found bool, err error) {
	if v, ok := s.keys.Load(id); ok {
		return v.(hubstore.Reporter), true, nil
	}
	rep, err = s.st.Reporter(ctx, id)
	if errors.Is(err, hubstore.ErrNotFound) {
		return rep, false, nil
	}
	if err != nil {
		return rep, false, err
	}
	s.keys.Store(id, rep)
	return rep, true, nil
}

// enroll: body is the 32-byte ed25519 public key, the request signed by it.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	nw, ok := network(r)
	if !ok {
		fail(w, http.StatusBadRequest)
		return
	}
	a, now, ok := s.authHeader(w, r)
	if !ok {
		return
	}
	v, known := s.keys.Load(a.Key)
	var rep hubstore.Reporter
	if known {
		rep = v.(hubstore.Reporter)
	} else if !s.enrollL.has(nw, 1, now) || !s.enrollA.has(struct{}{}, 1, now) {
		// Out of budget: only a key enrolled on another node (or
		// before this node loaded) may enroll again.
		var err error
		rep, known, err = s.member(r.Context(), a.Key)
		if err != nil {
			s.log.Error("hub: reporter lookup", "err", err)
			fail(w, http.StatusServiceUnavailable)
			return
		}
		if !known {
			s.stats.limited.Add(1)
			w.Header().Set("Retry-After", "60")
			fail(w, http.StatusTooManyRequests)
			return
		}
	}
	// The body is a key: read into an array, not a pooled batch buffer.
	var kb [ed25519.PublicKeySize + 1]byte
	n, err := io.ReadFull(io.LimitReader(r.Body, int64(len(kb))), kb[:])
	if n != ed25519.PublicKeySize || err != io.ErrUnexpectedEOF {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	body := kb[:n]
	// The key enrolled must be the key that signed: a.Verify checks that
	// the body's key is the header's.
	if !a.Verify(ed25519.PublicKey(body), r.Method, r.URL.Path, body) {
		s.stats.badSig.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	if known {
		// Enrolling again keeps the first date and network: answered
		// from memory, nothing stored.
		s.stats.enrolled.Add(1)
		reply(w, map[string]string{"reporter": rep.ID.String(), "enrolled": rep.Enrolled.Format(time.RFC3339)})
		return
	}
	if !s.enrollL.allow(nw, 1, now) || !s.enrollA.allow(struct{}{}, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests)
		return
	}
	key := ed25519.PublicKey(append([]byte(nil), body...))
	rep, err = s.st.Enroll(r.Context(), hubstore.Reporter{ID: a.Key, Key: key, Network: nw, Enrolled: now.UTC()})
	if err != nil {
		s.log.Error("hub: enroll", "err", err)
		fail(w, http.StatusServiceUnavailable)
		return
	}
	s.keys.Store(rep.ID, rep)
	s.stats.enrolled.Add(1)
	reply(w, map[string]string{"reporter": rep.ID.String(), "enrolled": rep.Enrolled.Format(time.RFC3339)})
}

// signals: body is a signal batch (docs/hub.md), the request signed by an
// enrolled reporter. The batch is committed before the 200.
func (s *Server) signals(w http.ResponseWriter, r *http.Request) {
	nw, ok := network(r)
	if !ok {
		fail(w, http.StatusBadRequest)
		return
	}
	if r.Header.Get("Content-Type") != wire.ContentType {
		s.stats.bad.Add(1)
		fail(w, http.StatusUnsupportedMediaType)
		return
	}
	a, rep, now, ok := s.knownReporter(w, r)
	if !ok {
		return
	}
	// A member past its request rate is refused before its body is read
	// or its signature checked. Looking takes no token: a forger cannot
	// spend a member's budget.
	if !s.reqL.has(a.Key, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	bp, ok := s.readBody(r, wire.MaxBatchBytes)
	if !ok {
		s.stats.bad.Add(1)
		fail(w, http.StatusRequestEntityTooLarge)
		return
	}
	defer s.bufs.Put(bp)
	body := *bp
	if !a.Verify(rep.Key, r.Method, r.URL.Path, body) {
		s.stats.badSig.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	if s.nonces.seen(a.Key, a.Nonce, now) {
		s.stats.replay.Add(1)
		fail(w, http.StatusUnauthorized)
		return
	}
	// A refused request stores no nonce.
	if !s.reqL.allow(a.Key, 1, now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	sigs, err := wire.DecodeBatch(nil, body)
	if err != nil {
		s.stats.bad.Add(1)
		fail(w, http.StatusBadRequest)
		return
	}
	if !s.signalL.allow(a.Key, float64(len(sigs)), now) {
		s.stats.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests)
		return
	}
	if !s.takeNonce(w, a, now) {
		return
	}
	oldest := minuteOf(now.Add(-s.eng.Rules().Window))
	newest := minuteOf(now.Add(s.o.ClockSkew))
	kept := sigs[:0]
	for _, sg := range sigs {
		why := Classify(sg.Source, s.o.AllowDocumentation)
		if why == Accepted && (sg.Minute < oldest || sg.Minute > newest) {
			why = RefusedTime
		}
		if why != Accepted {
			s.stats.refused[why].Add(1)
			continue
		}
		kept = append(kept, sg)
	}
	if err := s.st.AddSignals(r.Context(), a.Key, nw, now, kept); err != nil {
		s.log.Error("hub: add signals", "err", err)
		fail(w, http.StatusServiceUnavailable)
		return
	}
	s.stats.batches.Add(1)
	s.stats.signals.Add(uint64(len(kept)))
	select {
	case s.nudge <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"accepted":` + strconv.Itoa(len(kept)) + `,"refused":` + strconv.Itoa(len(sigs)-len(kept)) + "}\n"))
}
