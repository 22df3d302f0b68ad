// Package detect is where a log line becomes an event and an event a
// decision: a Detector runs each line through parse, scenario and profile,
// and a Batch gathers what the lines gave (alerts, decisions, the sources'
// offsets) until it is committed in one transaction by a Sink the caller
// provides.
package detect

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/evidence"
	"github.com/herd-ips/herd/internal/ipx"
	"github.com/herd-ips/herd/internal/parse"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/scenario"
)

// Options configures a Detector.
type Options struct {
	Rules      *rules.Set
	Location   *time.Location // zone for timestamps without one; nil = local
	Reference  time.Time      // "now" for year-less timestamps; zero = Clock's now
	Clock      clock.Clock    // read once when Reference is zero; nil = clock.Real
	Simulate   bool           // alert without deciding
	NeverBan   *ipx.NeverBan  // never decided against; nil = loopback only
	MaxBuckets int            // bound on live scenario buckets; 0 = default
	// JSONClientFields name the fields a JSON access log's client is read
	// from (parse.Options.JSONClientFields); nil = the server's peer address.
	JSONClientFields []string
	// Evidence is the size in bytes of the ring of recent lines kept per
	// source, from which each alert gets the lines behind it
	// (Outcome.Lines); 0 keeps none. DefaultEvidence is the agent's.
	Evidence int
	// Geo, when set, enriches alerts with their source's country and
	// autonomous system (and events, when a scenario filter reads them)
	// before the profiles decide. Nil: no enrichment.
	Geo Geo
}

// Geo tells where an address is (internal/geoip's DB). Lookup must not
// allocate and must be safe for concurrent use.
type Geo interface {
	Lookup(netip.Addr) event.Geo
}

// DefaultEvidence is the size of the evidence ring of the agent and of
// herd replay --json --lines: 4 MiB, some 25,000 lines of 150 bytes.
const DefaultEvidence = evidence.DefaultBytes

// Outcome is one alert and what the profiles decided about it.
type Outcome struct {
	Alert    event.Alert
	Decision event.Decision
	Verdict  profile.Verdict
	// Lines are the log lines behind the alert, oldest first: those of
	// its source (of its scope, for an IPv6 group) poured into its
	// scenario between Alert.First and Alert.Last that the detector's
	// evidence ring still holds, the newest evidence.MaxLines of them,
	// each cut to evidence.MaxLineBytes. Nil when the detector keeps no
	// evidence. The caller owns them.
	Lines []string
}

// Decided reports whether the outcome carries a decision to enforce.
func (o *Outcome) Decided() bool { return o.Verdict == profile.Decided }

// Result is what became of one line. Its slices and Event are valid until the
// next call to Line.
type Result struct {
	Parse    parse.Result
	Event    *event.Event // meaningful when Parse.Event
	Poured   []int        // scenario indices the event was poured into
	Outcomes []Outcome
}

// Counters are a Detector's running totals.
type Counters struct {
	Lines   uint64
	Parsed  uint64 // lines a rule took
	Events  uint64 // lines that gave an event of a kind other than none
	BadTime uint64 // lines a rule took whose timestamp was invalid
	// Continuations are lines that did not start a record of their
	// source's format (parse.Result.Continuation): never parsed.
	Continuations uint64
	// Doubtful are journal entries whose sender is not the program they
	// name (parse.Result.Doubt): "identity in doubt", never parsed.
	Doubtful uint64
	// Undetected are lines of a stream whose format could not be told yet
	// (the stream's first lines, none a record of a known format).
	Undetected uint64
	Unparsed   map[string]uint64 // per service ("ssh", "http", ...; "other" for programs no rule knows)
	Alerts     uint64
	Decisions  uint64
}

// Detector runs log lines through parse, scenario and profile. It is not safe
// for concurrent use; run one per goroutine.
type Detector struct {
	parser   *parse.Parser
	scen     *scenario.Engine
	prof     *profile.Profiles
	services map[string]string // program → service, for unparsed counts
	unparsed map[string]*uint64
	evid     *evidence.Ring    // nil when no evidence is kept
	geo      Geo               // nil: no enrichment
	geoEvent bool              // a scenario filter reads Event.Geo
	scenBit  map[string]uint64 // scenario name → its bit in evidence masks

	ev     event.Event
	res    Result
	alerts []event.Alert
	c      Counters
}

// maxServices bounds the unparsed-per-service table against hostile program names.
const maxServices = 256

// New compiles the rules into a Detector.
func New(o Options) (*Detector, error) {
	if o.Rules == nil {
		return nil, fmt.Errorf("detect: no rules")
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	ref := o.Reference
	if ref.IsZero() {
		ref = clock.Or(o.Clock).Now()
	}
	p, err := parse.Compile(o.Rules.Parsers, parse.Options{Location: o.Location, Reference: ref, JSONClientFields: o.JSONClientFields})
	if err != nil {
		return nil, err
	}
	s, err := scenario.Compile(o.Rules.Scenarios, scenario.Options{MaxBuckets: o.MaxBuckets, Geo: o.Geo})
	if err != nil {
		return nil, err
	}
	nb := o.NeverBan
	if nb == nil {
		nb = ipx.NewNeverBan(nil, nil)
	}
	var simulated []string
	for _, sc := range o.Rules.Scenarios {
		if sc.Simulated {
			simulated = append(simulated, sc.Name)
		}
	}
	pr, err := profile.Compile(o.Rules.Profiles, profile.Options{NeverBan: nb, Simulate: o.Simulate, SimulatedScenarios: simulated})
	if err != nil {
		return nil, err
	}
	d := &Detector{
		parser:   p,
		scen:     s,
		prof:     pr,
		services: make(map[string]string),
		unparsed: make(map[string]*uint64),
		geo:      o.Geo,
		geoEvent: o.Geo != nil && s.NeedsGeo(),
	}
	if o.Evidence > 0 {
		d.evid = evidence.New(evidence.Options{Bytes: o.Evidence})
		d.scenBit = make(map[string]uint64, s.Len())
		for i := range s.Len() {
			d.scenBit[s.Name(i)] = scenarioBit(i)
		}
	}
	for _, r := range o.Rules.Parsers {
		for _, prog := range r.Programs {
			if _, ok := d.services[prog]; !ok && r.Service != "" {
				d.services[prog] = r.Service
			}
		}
	}
	return d, nil
}

// SetReference sets the "now" used to infer the year of year-less timestamps
// (a replayed file's modification time).
func (d *Detector) SetReference(t time.Time) { d.parser.SetReference(t) }

// Scenario returns the name of scenario i.
func (d *Detector) Scenario(i int) string { return d.scen.Name(i) }

// Rule returns the spec of parser rule i.
func (d *Detector) Rule(i int) *rules.ParserSpec { return d.parser.Rule(i) }

// ScenarioStats returns the scenario engine's bucket statistics.
func (d *Detector) ScenarioStats() scenario.Stats { return d.scen.Stats() }

// Line is LineAs with parse.FamilyAny: no provenance (tests and corpora).
func (d *Detector) Line(line []byte, hint string) *Result {
	return d.LineAs(line, parse.FamilyAny, hint)
}

// Undetected counts a line left because its stream's format is not known.
func (d *Detector) Undetected() {
	d.c.Lines++
	d.c.Undetected++
}

// Detect returns the format family of a file from its first lines
// (parse.Parser.Detect).
func (d *Detector) Detect(head []byte) (parse.Family, bool) { return d.parser.Detect(head) }

// LineAs runs one line of a source bound to format family f through every
// stage. hint names the program of lines that carry no envelope under
// parse.FamilyMessage (and FamilyAny). The result is valid until the next
// call. LineAs does not allocate in steady state unless an alert is raised.
func (d *Detector) LineAs(line []byte, f parse.Family, hint string) *Result {
	d.c.Lines++
	r := &d.res
	r.Poured = r.Poured[:0]
	r.Outcomes = r.Outcomes[:0]
	d.ev.Reset()
	r.Event = &d.ev
	r.Parse = d.parser.ParseAs(line, f, hint, &d.ev)
	switch {
	case r.Parse.Continuation:
		d.c.Continuations++
		return r
	case r.Parse.Doubt:
		d.c.Doubtful++
		return r
	case r.Parse.BadTime:
		d.c.BadTime++
		d.countUnparsed(r.Parse.Program)
		return r
	case r.Parse.Rule < 0:
		d.countUnparsed(r.Parse.Program)
		return r
	}
	d.c.Parsed++
	if !r.Parse.Event || !d.ev.Source.IsValid() {
		return r
	}
	d.c.Events++
	if d.geoEvent {
		d.ev.Geo = d.geo.Lookup(d.ev.Source)
	}
	d.alerts = d.alerts[:0]
	r.Poured, d.alerts = d.scen.Pour(&d.ev, r.Poured, d.alerts)
	if d.evid != nil && len(r.Poured) > 0 {
		var mask uint64
		for _, si := range r.Poured {
			mask |= scenarioBit(si)
		}
		d.evid.Add(d.ev.Source, d.ev.Time.UnixNano(), mask, line)
	}
	for i := range d.alerts {
		a := &d.alerts[i]
		if d.geo != nil {
			a.Geo = d.geo.Lookup(a.Source)
		}
		dec, v := d.prof.Decide(a)
		d.c.Alerts++
		if v == profile.Decided {
			d.c.Decisions++
		}
		oc := Outcome{Alert: *a, Decision: dec, Verdict: v}
		if d.evid != nil {
			oc.Lines = d.evid.Lines(a.Source, a.Scope, d.scenBit[a.Scenario], a.First.UnixNano(), a.Last.UnixNano(), nil)
		}
		r.Outcomes = append(r.Outcomes, oc)
	}
	return r
}

// Profiles returns the detector's profiles, which are safe for concurrent
// use: the local API decides with them on alerts reported without a
// decision, sharing the repeat-offender memory with local alerts.
func (d *Detector) Profiles() *profile.Profiles { return d.prof }

// scenarioBit is scenario i's bit in the evidence ring's masks. Beyond 64
// scenarios bits are shared, and an alert may then also show lines that fed
// another scenario of the same source in the same span of time.
func scenarioBit(i int) uint64 { return 1 << (i & 63) }

func (d *Detector) countUnparsed(program []byte) {
	svc := "other"
	if s, ok := d.services[string(program)]; ok {
		svc = s
	} else if len(program) == 0 {
		svc = "raw"
	}
	if p, ok := d.unparsed[svc]; ok {
		*p++
		return
	}
	if len(d.unparsed) < maxServices {
		n := uint64(1)
		d.unparsed[svc] = &n
	}
}

// Counters returns a copy of the running totals.
func (d *Detector) Counters() Counters {
	c := d.c
	c.Unparsed = make(map[string]uint64, len(d.unparsed))
	for k, v := range d.unparsed {
		c.Unparsed[k] = *v
	}
	return c
}

// Event runs an event that did not come from a log line (a packet
// sensor's) through the scenarios and profiles, as LineAs does after its
// parse. ev must have a valid Source; it is not kept. The result is valid
// until the next call to Event or LineAs.
func (d *Detector) Event(ev *event.Event) *Result {
	r := &d.res
	r.Poured = r.Poured[:0]
	r.Outcomes = r.Outcomes[:0]
	r.Event = ev
	r.Parse = parse.Result{Rule: -1}
	if !ev.Source.IsValid() {
		return r
	}
	d.c.Events++
	d.alerts = d.alerts[:0]
	r.Poured, d.alerts = d.scen.Pour(ev, r.Poured, d.alerts)
	for i := range d.alerts {
		a := &d.alerts[i]
		dec, v := d.prof.Decide(a)
		d.c.Alerts++
		if v == profile.Decided {
			d.c.Decisions++
		}
		r.Outcomes = append(r.Outcomes, Outcome{Alert: *a, Decision: dec, Verdict: v})
	}
	return r
}

// Adopt makes d, freshly built by New from reloaded rules or configuration,
// carry on where old stopped (herd reload): the live buckets of every
// scenario whose spec is unchanged (scenario.Engine.Adopt), the profiles'
// repeat offenders, the running totals and, when its size is unchanged,
// the evidence ring. Changed and new scenarios start with no bucket. The
// parser's multi-line sessions are not carried over: a session that spans
// the reload loses its source for the lines after it. old must not be
// used afterwards; neither may run concurrently with Adopt.
func (d *Detector) Adopt(old *Detector) scenario.Adoption {
	ad := d.scen.Adopt(old.scen)
	d.prof.Adopt(old.prof)
	d.c = old.c
	d.unparsed = old.unparsed
	if d.evid != nil && old.evid != nil && sameSize(d.evid, old.evid) {
		// Evidence masks name scenarios by index: a scenario whose index
		// changed may show, in its next alert, lines of the scenario that
		// held its index before.
		d.evid = old.evid
	}
	return ad
}

func sameSize(a, b *evidence.Ring) bool {
	ab, as := a.Size()
	bb, bs := b.Size()
	return ab == bb && as == bs
}
