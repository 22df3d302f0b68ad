// Package simulate replays a multi-member event log through the hub's
// reputation and prediction engines on a simulated clock, each reporter
// behaving as an agent does (it bans a source locally when it alerts, and
// signals the hub), and measures what the community list and the
// predictions would have blocked. It is the engine of `herd hub simulate`.
package simulate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"container/heap"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/hub/predict"
	"github.com/herd-ips/herd/internal/hub/reputation"
	"github.com/herd-ips/herd/internal/hub/wire"
)

// Defaults of Options.
const (
	DefaultDelay     = time.Minute
	DefaultRecompute = 5 * time.Minute
	DefaultLocalBan  = 4 * time.Hour // the default profile's duration
	DefaultEnrolled  = 30 * 24 * time.Hour
)

// Block is what blocked a row at its reporter.
type Block uint8

// What may block a row, in the order they are reported.
const (
	NotBlocked Block = iota
	Local            // the reporter's own earlier ban
	Community        // the community list
	Predicted        // a prediction
)

// String returns the name used in the JSON output ("" for NotBlocked).
func (b Block) String() string {
	switch b {
	case Local:
		return "local"
	case Community:
		return "community"
	case Predicted:
		return "predicted"
	}
	return ""
}

// Row is one input row.
type Row struct {
	Time     time.Time
	Reporter string
	Source   netip.Addr
	Class    wire.Class
}

// RowResult is the state of a row at its reporter before the row's own
// effect.
type RowResult struct {
	Row
	Blocked Block
	// FirstHit is true for the first row of its (source, reporter) pair.
	FirstHit bool
}

// Change is a change of what agents block, at the time agents apply it.
type Change struct {
	Time   time.Time
	Prefix netip.Prefix
	List   Block // Community or Predicted
	Add    bool
	Reason string // for predictions
}

// ReporterSpec sets a reporter's network and enrollment.
type ReporterSpec struct {
	Network  netip.Prefix
	Enrolled time.Time
}

// Options configures a simulation. The zero value of a field means its
// default.
type Options struct {
	Rules   reputation.Rules
	Predict predict.Rules
	// NoPredictions turns the predictor off.
	NoPredictions bool
	// Delay is how long a listing or prediction takes to reach the agents
	// (default 1 minute).
	Delay time.Duration
	// Recompute is the period of the hub's listing recomputation on the
	// simulated clock (default 5 minutes; the live hub recomputes every
	// second, which changes little beside the 1-minute delay and costs a
	// replay much more).
	Recompute time.Duration
	// LocalBan is how long a reporter bans a source after a row (default
	// 4 hours, the default profile's duration).
	LocalBan time.Duration
	// Reporters sets networks and enrollment dates; a reporter absent
	// from it is its own network, enrolled 30 days before its first row.
	Reporters map[string]ReporterSpec
	// Protected and Noise are never listed nor predicted.
	Protected, Noise reputation.Ranges
	// MeasureFrom: rows before it warm the engines up and are left out of
	// the summary's rates.
	MeasureFrom time.Time
	// Innocent, when set, says which addresses are innocent; the summary
	// counts those any community or predicted entry covered.
	Innocent func(netip.Addr) bool
	// OnRow and OnChange, when set, receive every row's result and every
	// change in time order.
	OnRow    func(RowResult) error
	OnChange func(Change) error
	// Time measures how long the replay itself takes (Summary.Elapsed);
	// nil is the system clock. The simulation's own time is the rows'.
	Time clock.Clock
}

// Summary is what a simulation measured. Rates count rows and pairs at or
// after Options.MeasureFrom.
type Summary struct {
	Rows, Measured int
	ByLocal        int
	ByCommunity    int
	ByPredicted    int
	// FirstHits is the (source, reporter) pairs whose first row is
	// measured; PreBlocked those of them the community list or a
	// prediction blocked (PreBlockedPredicted by a prediction).
	FirstHits           int
	PreBlocked          int
	PreBlockedPredicted int
	// Community and prediction entries: adds and removes in the measured
	// period, the largest and the mean size of each list at measured rows.
	CommunityAdds, CommunityRemoves     int
	PredictedAdds, PredictedRemoves     int
	MaxCommunity, MaxPredicted          int
	MeanCommunity, MeanPredicted        float64
	Predictions, PredictionsHit         int // measured predictions expired or alive at the end, and those that blocked a first hit
	InnocentsCovered                    int // distinct innocent addresses any entry covered
	InnocentsCommunity, InnocentsPredic int
	// ByKind counts, per kind of prediction (index predict.Kind), the
	// measured predictions made and the first hits pre-blocked by a
	// prediction of that kind and not by the community list.
	ByKind  [5]struct{ Predictions, PreBlocked int }
	Days    float64 // length of the measured period
	Elapsed time.Duration
}

// Sim is a simulation in progress.
type Sim struct {
	o    Options
	rep  *reputation.Engine
	pred *predict.Engine

	reporters map[string]uint32 // reporter name → reputation index
	pairs     map[pairKey]struct{}
	local     map[pairKey]time.Time // local ban until

	lastRecompute time.Time
	lastObserved  time.Time // the time of the last row the hub has
	dirty         bool
	hubListed     map[netip.Addr]struct{} // the hub's listing
	queue         []pending               // changes on their way to agents
	agentComm     map[netip.Addr]struct{}
	agentPred     map[netip.Prefix]*agentPred
	expiry        predHeap

	innocents map[netip.Addr]uint8 // bit 1 community, bit 2 predicted
	sum       Summary
	sizeRows  int
	sumComm   float64
	sumPred   float64
	first     time.Time
	last      time.Time
	buf       []netip.Addr
}

type pairKey struct {
	a netip.Addr
	r uint32
}

type pending struct {
	at     time.Time
	prefix netip.Prefix
	list   Block
	add    bool
	until  time.Time // predictions
	reason string
	kind   predict.Kind
}

type agentPred struct {
	kind  predict.Kind
	until time.Time
	since time.Time
	hit   bool
}

type expItem struct {
	until time.Time
	p     netip.Prefix
}

type predHeap []expItem

func (h predHeap) Len() int           { return len(h) }
func (h predHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h predHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *predHeap) Push(x any)        { *h = append(*h, x.(expItem)) }
func (h *predHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// New returns a simulation.
func New(o Options) *Sim {
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.Recompute <= 0 {
		o.Recompute = DefaultRecompute
	}
	if o.LocalBan <= 0 {
		o.LocalBan = DefaultLocalBan
	}
	if o.Time == nil {
		o.Time = clock.Real{}
	}
	rep := reputation.New(o.Rules, o.Protected, o.Noise)
	s := &Sim{
		o: o, rep: rep,
		reporters: map[string]uint32{},
		pairs:     map[pairKey]struct{}{},
		local:     map[pairKey]time.Time{},
		hubListed: map[netip.Addr]struct{}{},
		agentComm: map[netip.Addr]struct{}{},
		agentPred: map[netip.Prefix]*agentPred{},
		innocents: map[netip.Addr]uint8{},
	}
	if !o.NoPredictions {
		s.pred = predict.New(o.Predict, rep, o.Protected, o.Noise)
	}
	return s
}

// syntheticNet returns the network of the i-th reporter without a spec: a
// /24 of 240.0.0.0/4, which no real reporter enrolls from.
func syntheticNet(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{240 | byte(i>>16&0x0f), byte(i >> 8), byte(i), 0}), 24)
}

func (s *Sim) reporter(name string, t time.Time) uint32 {
	if r, ok := s.reporters[name]; ok {
		return r
	}
	spec, ok := s.o.Reporters[name]
	if !ok {
		spec = ReporterSpec{Network: syntheticNet(len(s.reporters)), Enrolled: t.Add(-DefaultEnrolled)}
	}
	sum := sha256.Sum256([]byte("herd simulate reporter\x00" + name))
	id := wire.ReporterID(sum[:16])
	r := s.rep.AddReporter(reputation.Reporter{ID: id, Network: spec.Network, Enrolled: spec.Enrolled})
	s.reporters[name] = r
	return r
}

func (s *Sim) measured(t time.Time) bool { return !t.Before(s.o.MeasureFrom) }

func (s *Sim) emit(c Change) error {
	m := s.measured(c.Time)
	switch {
	case c.List == Community && c.Add:
		if m {
			s.sum.CommunityAdds++
		}
	case c.List == Community:
		if m {
			s.sum.CommunityRemoves++
		}
	case c.Add:
		if m {
			s.sum.PredictedAdds++
		}
	default:
		if m {
			s.sum.PredictedRemoves++
		}
	}
	if c.Add && s.o.Innocent != nil && s.o.Innocent(c.Prefix.Addr()) {
		bit := uint8(1)
		if c.List == Predicted {
			bit = 2
		}
		s.innocents[c.Prefix.Addr()] |= bit
	}
	if s.o.OnChange != nil {
		return s.o.OnChange(c)
	}
	return nil
}

// advance brings agents and the hub to t: due changes reach agents,
// predictions expire, and the hub recomputes when its period has passed.
func (s *Sim) advance(t time.Time) error {
	if s.lastRecompute.IsZero() {
		s.recompute(t) // the grid of recomputations starts at the first row
	}
	for {
		// The earliest of: a queued change due, a prediction expiring, a
		// recomputation due (the hub recomputes every period; one that
		// would see no new row changes nothing but expiry, so only the
		// first after a row, and one an hour, are run).
		var next time.Time
		which := 0
		if len(s.queue) > 0 && !s.queue[0].at.After(t) {
			next, which = s.queue[0].at, 1
		}
		if len(s.expiry) > 0 && !s.expiry[0].until.After(t) && (which == 0 || s.expiry[0].until.Before(next)) {
			next, which = s.expiry[0].until, 2
		}
		if rc, ok := s.recomputeDue(t); ok && (which == 0 || rc.Before(next)) {
			next, which = rc, 3
		}
		switch which {
		case 0:
			return nil
		case 1:
			p := s.queue[0]
			s.queue = s.queue[1:]
			if err := s.apply(p); err != nil {
				return err
			}
		case 2:
			it := heap.Pop(&s.expiry).(expItem)
			ap := s.agentPred[it.p]
			if ap == nil || !ap.until.Equal(it.until) {
				continue // renewed or already removed
			}
			s.endPrediction(it.p, ap)
			if err := s.emit(Change{Time: it.until, Prefix: it.p, List: Predicted}); err != nil {
				return err
			}
		case 3:
			s.recompute(next)
		}
	}
}

// recomputeDue returns the time of the next recomputation to run before a
// row at t: the first of the grid after the last row when rows came since
// the last one, or the last of the grid before t when an hour passed
// without any.
func (s *Sim) recomputeDue(t time.Time) (time.Time, bool) {
	p := s.o.Recompute
	if s.dirty {
		k := (s.lastObserved.Sub(s.lastRecompute) + p - 1) / p
		at := s.lastRecompute.Add(max(k, 1) * p)
		return at, !at.After(t)
	}
	if t.Sub(s.lastRecompute) >= time.Hour {
		return s.lastRecompute.Add(t.Sub(s.lastRecompute) / p * p), true
	}
	return time.Time{}, false
}

// predictedAt returns the agents' prediction covering a: its own or a
// block's.
func (s *Sim) predictedAt(a netip.Addr) *agentPred {
	from := 24
	if a.Is6() {
		from = 48
	}
	for bits := a.BitLen(); bits >= from; bits-- {
		k, _ := a.Prefix(bits)
		if ap := s.agentPred[k]; ap != nil {
			return ap
		}
	}
	return nil
}

func (s *Sim) endPrediction(p netip.Prefix, ap *agentPred) {
	delete(s.agentPred, p)
	if s.measured(ap.since) {
		s.sum.Predictions++
		if ap.hit {
			s.sum.PredictionsHit++
		}
	}
}

func (s *Sim) apply(p pending) error {
	a := p.prefix.Addr()
	if p.list == Community {
		if p.add {
			s.agentComm[a] = struct{}{}
		} else {
			delete(s.agentComm, a)
		}
		return s.emit(Change{Time: p.at, Prefix: p.prefix, List: Community, Add: p.add})
	}
	if !p.until.After(p.at) {
		return nil // expired on the way
	}
	if ap := s.agentPred[p.prefix]; ap != nil {
		if p.until.After(ap.until) {
			ap.until = p.until
			heap.Push(&s.expiry, expItem{p.until, p.prefix})
		}
		return nil
	}
	s.agentPred[p.prefix] = &agentPred{until: p.until, since: p.at, kind: p.kind}
	if s.measured(p.at) && int(p.kind) < len(s.sum.ByKind) {
		s.sum.ByKind[p.kind].Predictions++
	}
	heap.Push(&s.expiry, expItem{p.until, p.prefix})
	return s.emit(Change{Time: p.at, Prefix: p.prefix, List: Predicted, Add: true, Reason: p.reason})
}

func (s *Sim) recompute(t time.Time) {
	s.lastRecompute, s.dirty = t, false
	want := s.rep.Recompute(t)
	s.rep.SetListed(want, t)
	at := t.Add(s.o.Delay)
	wantSet := make(map[netip.Addr]struct{}, len(want))
	for _, a := range want {
		wantSet[a] = struct{}{}
		if _, ok := s.hubListed[a]; !ok {
			s.queue = append(s.queue, pending{at: at, prefix: netip.PrefixFrom(a, a.BitLen()), list: Community, add: true})
		}
	}
	s.buf = s.buf[:0]
	for a := range s.hubListed {
		if _, ok := wantSet[a]; !ok {
			s.buf = append(s.buf, a)
		}
	}
	sortAddrs(s.buf)
	for _, a := range s.buf {
		s.queue = append(s.queue, pending{at: at, prefix: netip.PrefixFrom(a, a.BitLen()), list: Community})
	}
	s.hubListed = wantSet
	if s.pred != nil {
		for _, pr := range s.pred.Listed(want, t) {
			s.queue = append(s.queue, pending{at: at, prefix: pr.Prefix, list: Predicted, add: true, until: pr.Until, reason: pr.Reason(), kind: pr.Kind})
		}
		s.pred.Expire(t)
	}
}

// Row processes one row; rows must come in time order.
func (s *Sim) Row(row Row) error {
	if !s.last.IsZero() && row.Time.Before(s.last) {
		return fmt.Errorf("simulate: row at %s is before the previous row (%s): input must be sorted by time", row.Time.Format(time.RFC3339), s.last.Format(time.RFC3339))
	}
	start := s.o.Time.Now()
	defer func() { s.sum.Elapsed += clock.Since(s.o.Time, start) }()
	if s.first.IsZero() {
		s.first = row.Time
	}
	s.last = row.Time
	if err := s.advance(row.Time); err != nil {
		return err
	}
	a := row.Source.Unmap()
	r := s.reporter(row.Reporter, row.Time)
	k := pairKey{a, r}
	res := RowResult{Row: row}
	_, seen := s.pairs[k]
	res.FirstHit = !seen
	ap := s.predictedAt(a)
	_, inComm := s.agentComm[a]
	switch {
	case s.local[k].After(row.Time):
		res.Blocked = Local
	case inComm:
		res.Blocked = Community
	case ap != nil:
		res.Blocked = Predicted
	}
	if ap != nil && res.FirstHit {
		ap.hit = true
	}
	s.sum.Rows++
	if s.measured(row.Time) {
		s.sum.Measured++
		switch res.Blocked {
		case Local:
			s.sum.ByLocal++
		case Community:
			s.sum.ByCommunity++
		case Predicted:
			s.sum.ByPredicted++
		}
		if res.FirstHit {
			s.sum.FirstHits++
			if inComm || ap != nil {
				s.sum.PreBlocked++
				if !inComm {
					s.sum.PreBlockedPredicted++
					if int(ap.kind) < len(s.sum.ByKind) {
						s.sum.ByKind[ap.kind].PreBlocked++
					}
				}
			}
		}
		s.sizeRows++
		s.sumComm += float64(len(s.agentComm))
		s.sumPred += float64(len(s.agentPred))
		s.sum.MaxCommunity = max(s.sum.MaxCommunity, len(s.agentComm))
		s.sum.MaxPredicted = max(s.sum.MaxPredicted, len(s.agentPred))
	}
	if s.o.OnRow != nil {
		if err := s.o.OnRow(res); err != nil {
			return err
		}
	}
	// The row's effect: a local ban, a signal, perhaps a prediction.
	s.pairs[k] = struct{}{}
	if res.Blocked != Local {
		s.local[k] = row.Time.Add(s.o.LocalBan)
	}
	sig := wire.Signal{Source: a, Class: row.Class, Minute: uint32(row.Time.Unix() / 60)}
	s.rep.Observe(r, sig)
	s.dirty, s.lastObserved = true, row.Time
	if s.pred != nil {
		if pr, ok := s.pred.Observe(r, sig, row.Time); ok {
			s.queue = append(s.queue, pending{at: row.Time.Add(s.o.Delay), prefix: pr.Prefix, list: Predicted, add: true, until: pr.Until, reason: pr.Reason(), kind: pr.Kind})
		}
	}
	return nil
}

// Finish ends the simulation: changes still on their way are applied at
// their time, and the summary is returned.
func (s *Sim) Finish() (Summary, error) {
	for len(s.queue) > 0 {
		p := s.queue[0]
		s.queue = s.queue[1:]
		if err := s.apply(p); err != nil {
			return s.sum, err
		}
	}
	for _, ap := range s.agentPred {
		if s.measured(ap.since) {
			s.sum.Predictions++
			if ap.hit {
				s.sum.PredictionsHit++
			}
		}
	}
	for _, bits := range s.innocents {
		s.sum.InnocentsCovered++
		if bits&1 != 0 {
			s.sum.InnocentsCommunity++
		}
		if bits&2 != 0 {
			s.sum.InnocentsPredic++
		}
	}
	if s.sizeRows > 0 {
		s.sum.MeanCommunity = s.sumComm / float64(s.sizeRows)
		s.sum.MeanPredicted = s.sumPred / float64(s.sizeRows)
	}
	from := s.first
	if s.o.MeasureFrom.After(from) {
		from = s.o.MeasureFrom
	}
	if s.last.After(from) {
		s.sum.Days = s.last.Sub(from).Hours() / 24
	}
	return s.sum, nil
}

// Explain says why the simulated hub predicts a or not, at the end of the
// replay.
func (s *Sim) Explain(a netip.Addr) predict.Explanation {
	if s.pred == nil {
		return predict.Explanation{Reason: "predictions are off"}
	}
	return s.pred.Explain(a, s.last)
}

func sortAddrs(as []netip.Addr) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].Less(as[j-1]); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// MaxLine is the longest input line accepted.
const MaxLine = 4096

// Read calls fn with every row of a CSV log `time,reporter,source,class`
// (plain or gzip, with or without that header line). A malformed line is an
// error naming its line number.
func Read(r io.Reader, fn func(Row) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("simulate: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, MaxLine), MaxLine)
	line := 0
	var lastName []byte
	var name string
	classOf := map[string]wire.Class{}
	for _, c := range wire.Classes() {
		classOf[c.String()] = c
	}
	for sc.Scan() {
		line++
		b := bytes.TrimRight(sc.Bytes(), "\r")
		if len(b) == 0 {
			continue
		}
		if line == 1 && bytes.HasPrefix(b, []byte("time,")) {
			continue
		}
		f := bytes.Split(b, []byte{','})
		if len(f) != 4 {
			return fmt.Errorf("simulate: line %d: want 4 fields time,reporter,source,class, got %d", line, len(f))
		}
		t, err := time.Parse(time.RFC3339, string(f[0]))
		if err != nil {
			return fmt.Errorf("simulate: line %d: time: %w", line, err)
		}
		if len(f[1]) == 0 {
			return fmt.Errorf("simulate: line %d: empty reporter", line)
		}
		if !bytes.Equal(f[1], lastName) {
			lastName = append(lastName[:0], f[1]...)
			name = string(f[1])
		}
		a, err := netip.ParseAddr(string(f[2]))
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("simulate: line %d: source %q is not an IP address", line, clip(f[2]))
		}
		c, ok := classOf[string(f[3])]
		if !ok {
			return fmt.Errorf("simulate: line %d: unknown class %q", line, clip(f[3]))
		}
		if err := fn(Row{Time: t.UTC(), Reporter: name, Source: a.Unmap(), Class: c}); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("simulate: line %d: longer than %d bytes", line+1, MaxLine)
		}
		return fmt.Errorf("simulate: read: %w", err)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// ReadReporters reads a reporters file, CSV `reporter,address,enrolled`
// (RFC 3339 or a date 2006-01-02, header line optional): each reporter's
// network is the /24 (/48) of its address.
func ReadReporters(r io.Reader) (map[string]ReporterSpec, error) {
	out := map[string]ReporterSpec{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, MaxLine), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") || (line == 1 && strings.HasPrefix(s, "reporter,")) {
			continue
		}
		f := strings.Split(s, ",")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("simulate: reporters line %d: want reporter,address,enrolled", line)
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("simulate: reporters line %d: %q is not an IP address", line, clip([]byte(f[1])))
		}
		a = a.Unmap()
		bits := 24
		if a.Is6() {
			bits = 48
		}
		p, _ := a.Prefix(bits)
		t, err := time.Parse(time.RFC3339, f[2])
		if err != nil {
			if t, err = time.Parse("2006-01-02", f[2]); err != nil {
				return nil, fmt.Errorf("simulate: reporters line %d: enrolled %q: want RFC 3339 or 2006-01-02", line, clip([]byte(f[2])))
			}
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("simulate: reporters line %d: reporter %q given twice", line, clip([]byte(f[0])))
		}
		out[f[0]] = ReporterSpec{Network: p, Enrolled: t.UTC()}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("simulate: reporters: %w", err)
	}
	return out, nil
}
