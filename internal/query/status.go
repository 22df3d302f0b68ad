package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/herd-ips/herd/internal/clock"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/enforce/nft"
	"github.com/herd-ips/herd/internal/metrics"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/store"
	"github.com/herd-ips/herd/internal/termtext"
	"github.com/herd-ips/herd/internal/tlsfiles"
)

// statusProbeTimeout bounds the scrape of the agent's metrics endpoint.
const statusProbeTimeout = 2 * time.Second

// StatusOptions configures GetStatus.
type StatusOptions struct {
	Time clock.Clock // nil = clock.Real
	// NetNS is the network namespace whose nftables table is read (0 = our
	// own); tests use it.
	NetNS int
}

// Status is a summary of herd on this machine, as herd status shows it.
type Status struct {
	Config string `json:"config"` // file read, "" for the built-in defaults
	// HubSharing says what this agent sends its hub (hub.share), "" without
	// a hub.
	HubSharing string         `json:"hub_sharing,omitempty"`
	Agent      AgentStatus    `json:"agent"`
	Database   DatabaseStatus `json:"database"`
	Sources    []SourceStatus `json:"sources"`
	// SourceProblems are the configured inputs that cannot be read now,
	// or the configuration leaving nothing to follow (CheckSources).
	SourceProblems []SourceProblem `json:"source_problems,omitempty"`
	// Formats are the log formats the sources' files are read as
	// (FileFormats); FormatsError says why they could not be told.
	Formats      []FileFormat   `json:"formats"`
	FormatsError string         `json:"formats_error,omitempty"`
	Firewall     FirewallStatus `json:"firewall"`
	// Sensor is the live packet sensor's state, nil when it is not
	// configured (sensor: in herd.yaml).
	Sensor *SensorStatus `json:"sensor,omitempty"`
}

// SensorStatus is the configured packet sensor's state, from the agent's
// metrics.
type SensorStatus struct {
	Interfaces []string `json:"interfaces"`
	// Capturing is true when the running agent exports the sensor's
	// metrics; false when it runs without (it could not open the
	// interfaces: its log says why) or is not running.
	Capturing   bool    `json:"capturing"`
	Packets     float64 `json:"packets,omitempty"`
	Dropped     float64 `json:"dropped,omitempty"`
	FlowsActive float64 `json:"flows_active,omitempty"`
	Events      float64 `json:"events,omitempty"`
	Alerts      float64 `json:"alerts,omitempty"`
}

// AgentStatus is what the agent's metrics endpoint told.
type AgentStatus struct {
	Metrics   string  `json:"metrics"` // the endpoint probed, "" when metrics are off
	Running   bool    `json:"running"`
	Error     string  `json:"error,omitempty"` // why it is taken as not running
	UptimeS   float64 `json:"uptime_seconds,omitempty"`
	LinesRead float64 `json:"lines_read,omitempty"`
	Alerts    float64 `json:"alerts,omitempty"`    // since it started
	Decisions float64 `json:"decisions,omitempty"` // since it started
	Live      float64 `json:"live_decisions,omitempty"`
	Buckets   float64 `json:"live_buckets,omitempty"`
}

// DatabaseStatus summarises the store.
type DatabaseStatus struct {
	Driver        string        `json:"driver"`
	Path          string        `json:"path,omitempty"` // SQLite only: a PostgreSQL DSN may hold a password
	Error         string        `json:"error,omitempty"`
	LiveDecisions int           `json:"live_decisions"`
	ByOrigin      []OriginCount `json:"live_by_origin_scenario,omitempty"`
	Alerts24h     int           `json:"alerts_24h"`
	Bouncers      int           `json:"bouncers"`
	Marks         MarksStatus   `json:"marks"`
}

// OriginCount is how many live decisions share an origin and scenario.
type OriginCount struct {
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
	N        int    `json:"count"`
}

// MarksStatus is what the store keeps besides the files' offsets, each for
// what it is.
type MarksStatus struct {
	JournalCursor bool   `json:"journal_cursor"`          // the journal's cursor is saved
	Admin         string `json:"admin_allowed,omitempty"` // the first start's SSH administrator, allowlisted
	ReportSent    int64  `json:"report_sent,omitempty"`   // the highest alert id the central accepted
	HubVersion    uint64 `json:"hub_version,omitempty"`   // the hub blocklist version held
	HubSynced     string `json:"hub_synced,omitempty"`    // when it was last in step with the hub (RFC 3339)
	// PredictedVersion and PredictedSynced are the same for the hub's
	// predictions.
	PredictedVersion uint64 `json:"hub_predicted_version,omitempty"`
	PredictedSynced  string `json:"hub_predicted_synced,omitempty"`
}

// SourceStatus is a followed file with a saved offset.
type SourceStatus struct {
	Source string `json:"source"`
	Offset int64  `json:"offset,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Behind is how many bytes of the file are past the saved offset; -1
	// when unknown (the file is gone, or was rotated since: the agent
	// finishes the rotated file first).
	Behind int64  `json:"behind"`
	Note   string `json:"note,omitempty"`
}

// FirewallStatus is what the kernel holds.
type FirewallStatus struct {
	Enabled  bool           `json:"enabled"`
	Table    string         `json:"table"`
	Exists   bool           `json:"exists"`
	Elements int            `json:"elements"`
	Sets     map[string]int `json:"sets,omitempty"`
	Error    string         `json:"error,omitempty"` // nftables could not be read (not root?)
}

// HubSharing says, in words, what hub.share makes this agent send.
func HubSharing(h config.Hub) string {
	switch {
	case h.URL == "":
		return ""
	case !h.Share:
		return "nothing (hub.share: false): no trust and no vote at the hub; the community blocklist is still received"
	case h.ShareClasses != nil:
		return "signals of " + strings.Join(h.ShareClasses, ", ") + " only: trust and votes come from these alone"
	}
	return "signals of every class"
}

// GetStatus gathers the status of herd as cfg configures it: the agent
// (through its metrics endpoint), the store (opened beside a running agent:
// SQLite's WAL and PostgreSQL allow concurrent readers), the sources' saved
// offsets against their files, and nftables. A part that cannot be read is
// reported in its Error field, so that GetStatus shows what it can.
func GetStatus(ctx context.Context, cfg *config.Config, o StatusOptions) Status {
	now := clock.Or(o.Time).Now
	s := Status{Config: cfg.File, HubSharing: HubSharing(cfg.Hub)}
	var sensor *SensorStatus
	if cfg.Sensor.Enabled {
		sensor = &SensorStatus{Interfaces: cfg.Sensor.Interfaces}
	}
	s.Agent = probeAgent(ctx, cfg.Metrics, now(), sensor)
	s.Sensor = sensor
	s.Database, s.Sources = storeStatus(ctx, cfg, now())
	s.SourceProblems = CheckSources(cfg)
	s.Formats = []FileFormat{}
	dir := cfg.RulesDir
	if _, err := os.Stat(dir); err != nil && dir == config.DefaultRulesDir {
		dir = "" // the default directory need not exist (as for the agent)
	}
	if set, err := rules.Load(dir); err != nil {
		s.FormatsError = err.Error()
	} else if s.Formats, err = FileFormats(cfg, set); err != nil {
		s.FormatsError = err.Error()
	}
	s.Firewall = firewallStatus(cfg.Firewall, o.NetNS)
	return s
}

func probeAgent(ctx context.Context, mc config.Metrics, now time.Time, sensor *SensorStatus) AgentStatus {
	var as AgentStatus
	if mc.Listen == "" {
		as.Error = "metrics are off (metrics.listen is empty): cannot tell"
		return as
	}
	ap, err := netip.ParseAddrPort(mc.Listen)
	if err != nil {
		as.Error = err.Error()
		return as
	}
	host := ap.Addr()
	if host.IsUnspecified() { // listening on every address: ask loopback
		host = netip.IPv6Loopback()
		if ap.Addr().Is4() {
			host = netip.MustParseAddr("127.0.0.1")
		}
	}
	scheme, client := "http", &http.Client{Timeout: statusProbeTimeout}
	if mc.TLSCert != "" { // the agent's own certificate, read from its file
		tc, err := tlsfiles.PinnedConfig(mc.TLSCert)
		if err != nil {
			as.Error = err.Error()
			return as
		}
		scheme, client.Transport = "https", &http.Transport{TLSClientConfig: tc}
	}
	as.Metrics = scheme + "://" + net.JoinHostPort(host.String(), fmt.Sprint(ap.Port())) + "/metrics"
	ctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	defer cancel()
	sc, err := metrics.Fetch(ctx, client, as.Metrics)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		as.Error = "nothing listens at " + as.Metrics
		return as
	case err != nil:
		as.Error = err.Error()
		return as
	}
	if !sc.Has(metrics.StartTime) {
		as.Error = "the endpoint answers but is not herd's agent"
		return as
	}
	as.Running = true
	start := time.Unix(0, int64(sc.Sum(metrics.StartTime)*1e9))
	as.UptimeS = now.Sub(start).Round(time.Second).Seconds()
	as.LinesRead = sc.Sum(metrics.LinesRead)
	as.Alerts = sc.Sum(metrics.Alerts)
	as.Decisions = sc.Sum(metrics.Decisions)
	as.Live = sc.Sum(metrics.LiveDecisions)
	as.Buckets = sc.Sum(metrics.LiveBuckets)
	if sensor != nil && sc.Has(metrics.SensorPackets) {
		sensor.Capturing = true
		sensor.Packets, sensor.Dropped = sc.Sum(metrics.SensorPackets), sc.Sum(metrics.SensorDropped)
		sensor.FlowsActive = sc.Sum(metrics.SensorFlowsActive)
		sensor.Events, sensor.Alerts = sc.Sum(metrics.SensorEvents), sc.Sum(metrics.SensorAlerts)
	}
	return as
}

func storeStatus(ctx context.Context, cfg *config.Config, now time.Time) (DatabaseStatus, []SourceStatus) {
	ds := DatabaseStatus{Driver: cfg.Database.Driver}
	if ds.Driver == "" || ds.Driver == "sqlite" {
		ds.Driver, ds.Path = "sqlite", cfg.Database.DSN
		if _, err := os.Stat(cfg.Database.DSN); err != nil {
			// Do not create a database to say it is empty.
			ds.Error = "no database: " + err.Error()
			return ds, []SourceStatus{}
		}
	}
	st, err := OpenStore(ctx, cfg, nil)
	if err != nil {
		ds.Error = err.Error()
		return ds, []SourceStatus{}
	}
	defer st.Close()
	var errs []error
	counts, err := st.CountLiveDecisions(ctx, now)
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range counts {
		ds.ByOrigin = append(ds.ByOrigin, OriginCount(c))
		ds.LiveDecisions += c.N
	}
	if ds.Alerts24h, err = st.CountAlerts(ctx, now.Add(-24*time.Hour)); err != nil {
		errs = append(errs, err)
	}
	bs, err := st.Bouncers(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	ds.Bouncers = len(bs)
	m, err := st.Marks(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	srcs := []SourceStatus{}
	for _, off := range m.Files {
		srcs = append(srcs, fileStatus(off))
	}
	ds.Marks = MarksStatus{JournalCursor: m.Journal != "", ReportSent: m.Report.Sent, HubVersion: m.Community.Version}
	if m.Admin.IsValid() {
		ds.Marks.Admin = m.Admin.String()
	}
	if !m.Community.Synced.IsZero() {
		ds.Marks.HubSynced = m.Community.Synced.UTC().Format(time.RFC3339)
	}
	ds.Marks.PredictedVersion = m.Predicted.Version
	if !m.Predicted.Synced.IsZero() {
		ds.Marks.PredictedSynced = m.Predicted.Synced.UTC().Format(time.RFC3339)
	}
	if len(errs) > 0 {
		ds.Error = errors.Join(errs...).Error()
	}
	return ds, srcs
}

// FileStatus compares a saved offset with the file now at its path: how
// far behind the file's end the agent is.
func FileStatus(off store.Offset) SourceStatus { return fileStatus(off) }

// fileStatus compares a saved offset with the file now at its path.
func fileStatus(off store.Offset) SourceStatus {
	s := SourceStatus{Source: off.Source, Offset: off.Offset, Behind: -1}
	fi, err := os.Stat(off.Source)
	if err != nil {
		s.Note = "file missing"
		return s
	}
	s.Size = fi.Size()
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && (uint64(sys.Ino) != off.Inode || uint64(sys.Dev) != off.Dev) {
		s.Note = "rotated since the offset was saved"
		return s
	}
	if s.Size < off.Offset {
		s.Note = "truncated since the offset was saved"
		return s
	}
	s.Behind = s.Size - off.Offset
	return s
}

func firewallStatus(fc config.Firewall, netns int) FirewallStatus {
	fs := FirewallStatus{Enabled: fc.Enabled, Table: fc.Table}
	if !fc.Enabled {
		return fs
	}
	st, err := nft.ReadStats(nft.Options{Table: fc.Table, NetNS: netns})
	if err != nil {
		fs.Error = err.Error()
		return fs
	}
	fs.Exists, fs.Elements, fs.Sets = st.Exists, st.Total(), st.Elements
	return fs
}

// WriteStatus writes s for a person or, with asJSON, as one JSON object.
func WriteStatus(w io.Writer, s Status, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(termtext.JSON(w)).Encode(s)
	}
	// Every string below may hold text from elsewhere (paths, error
	// messages quoting input, scenario names from remote machines): each
	// is escaped for the terminal.
	var b strings.Builder
	cfg := s.Config
	if cfg == "" {
		cfg = "built-in defaults"
	}
	fmt.Fprintf(&b, "config     %s\n", termtext.String(cfg))
	for _, p := range s.SourceProblems {
		fmt.Fprintf(&b, "warning    %s\n", termtext.String(p.String()))
	}
	a := s.Agent
	switch {
	case a.Running:
		fmt.Fprintf(&b, "agent      running for %s (%s): %.0f lines read, %.0f alerts, %.0f decisions; %.0f live decisions, %.0f buckets\n",
			time.Duration(a.UptimeS)*time.Second, termtext.String(a.Metrics), a.LinesRead, a.Alerts, a.Decisions, a.Live, a.Buckets)
	case a.Metrics == "":
		fmt.Fprintf(&b, "agent      unknown: %s\n", termtext.String(a.Error))
	default:
		fmt.Fprintf(&b, "agent      not running (%s)\n", termtext.String(a.Error))
	}
	if sn := s.Sensor; sn != nil {
		ifs := termtext.String(strings.Join(sn.Interfaces, ", "))
		switch {
		case sn.Capturing:
			fmt.Fprintf(&b, "sensor     capturing on %s: %.0f packets, %.0f dropped, %.0f flows active, %.0f events, %.0f alerts\n",
				ifs, sn.Packets, sn.Dropped, sn.FlowsActive, sn.Events, sn.Alerts)
		case a.Running:
			fmt.Fprintf(&b, "sensor     configured on %s but not capturing (the agent's log says why)\n", ifs)
		default:
			fmt.Fprintf(&b, "sensor     configured on %s; the agent is not running\n", ifs)
		}
	}
	d := s.Database
	where := d.Driver
	if d.Path != "" {
		where += " " + d.Path
	}
	fmt.Fprintf(&b, "database   %s\n", termtext.String(where))
	if d.Error != "" {
		fmt.Fprintf(&b, "           error: %s\n", termtext.String(d.Error))
	}
	fmt.Fprintf(&b, "decisions  %d live\n", d.LiveDecisions)
	for _, c := range d.ByOrigin {
		sc := c.Scenario
		if sc == "" {
			sc = "-"
		}
		fmt.Fprintf(&b, "           %d  %s / %s\n", c.N, termtext.String(c.Origin), termtext.String(sc))
	}
	fmt.Fprintf(&b, "alerts     %d in the last 24h\n", d.Alerts24h)
	fmt.Fprintf(&b, "bouncers   %d\n", d.Bouncers)
	if len(s.Sources) == 0 {
		b.WriteString("sources    no saved offsets\n")
	}
	for i, src := range s.Sources {
		head := "sources   "
		if i > 0 {
			head = "          "
		}
		switch {
		case src.Behind >= 0:
			fmt.Fprintf(&b, "%s %s: %d bytes behind the end (at %d of %d)\n", head, termtext.String(src.Source), src.Behind, src.Offset, src.Size)
		default:
			fmt.Fprintf(&b, "%s %s: %s\n", head, termtext.String(src.Source), termtext.String(src.Note))
		}
	}
	if mk := d.Marks; mk.JournalCursor {
		b.WriteString("journal    cursor saved\n")
	}
	if mk := d.Marks; mk.Admin != "" {
		fmt.Fprintf(&b, "admin      %s allowlisted (SSH client of the first start)\n", mk.Admin)
	}
	if mk := d.Marks; mk.ReportSent != 0 {
		fmt.Fprintf(&b, "report     central accepted alerts up to id %d\n", mk.ReportSent)
	}
	if mk := d.Marks; mk.HubVersion != 0 {
		fmt.Fprintf(&b, "hub        blocklist version %d, in step at %s\n", mk.HubVersion, mk.HubSynced)
	}
	if mk := d.Marks; mk.PredictedVersion != 0 {
		fmt.Fprintf(&b, "hub        predictions version %d, in step at %s\n", mk.PredictedVersion, mk.PredictedSynced)
	}
	if s.HubSharing != "" {
		fmt.Fprintf(&b, "hub        sharing %s\n", s.HubSharing)
	}
	if s.FormatsError != "" {
		fmt.Fprintf(&b, "formats    cannot tell: %s\n", s.FormatsError)
	}
	for i, ff := range s.Formats {
		head := "formats   "
		if i > 0 {
			head = "          "
		}
		switch {
		case ff.Error != "" && ff.Format == "":
			fmt.Fprintf(&b, "%s %s: %s (%s)\n", head, ff.Path, ff.How, ff.Error)
		case ff.Format == "":
			fmt.Fprintf(&b, "%s %s: %s\n", head, ff.Path, ff.How)
		default:
			fmt.Fprintf(&b, "%s %s: %s (%s)\n", head, ff.Path, ff.Format, ff.How)
		}
	}
	f := s.Firewall
	switch {
	case !f.Enabled:
		b.WriteString("firewall   disabled in the configuration (decisions are not enforced here)\n")
	case f.Error != "":
		fmt.Fprintf(&b, "firewall   cannot read nftables: %s\n", termtext.String(f.Error))
	case !f.Exists:
		fmt.Fprintf(&b, "firewall   table inet %s absent (agent stopped, or running dry)\n", termtext.String(f.Table))
	default:
		fmt.Fprintf(&b, "firewall   table inet %s: %d elements", termtext.String(f.Table), f.Elements)
		for _, name := range []string{"ban4", "ban6", "ranges4", "ranges6"} {
			if n, ok := f.Sets[name]; ok {
				fmt.Fprintf(&b, " %s=%d", name, n)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
