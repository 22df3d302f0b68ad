// Package envelope splits a log line into its envelope (time, host, program,
// pid) and message, and parses the timestamp layouts log lines use.
package envelope

import (
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// Format says which kind of envelope a line carried.
type Format uint8

// The envelope formats Parse recognises.
const (
	FormatNone        Format = iota // no envelope: the message is the whole line
	FormatRFC3164                   // "Oct 11 22:14:15 host prog[123]: msg" and its BSD/busybox variants
	FormatRFC5424                   // "<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg" (also without "<34>1 ")
	FormatISO                       // "2024-01-02T03:04:05.123456+01:00 host prog[123]: msg" (rsyslog, journald short-iso)
	FormatJournalJSON               // one object of `journalctl -o json`
	FormatBare                      // "host prog[123]: msg" with no time (journal message bodies, `journalctl -o cat`-like)
	FormatTAI64N                    // "@400000004c91b044077a9e94 prog: msg" (daemontools multilog, s6)
	numFormats
)

var formatNames = [numFormats]string{"none", "rfc3164", "rfc5424", "iso", "journal-json", "bare", "tai64n"}

// String returns the format's name ("rfc3164").
func (f Format) String() string {
	if f < numFormats {
		return formatNames[f]
	}
	return "invalid"
}

// Envelope is what Parse found in a line. The byte slices alias the line or
// the Parser's scratch buffer; they are valid until the next call to Parse.
type Envelope struct {
	Format  Format
	Time    time.Time // zero when the envelope had none
	Host    []byte
	Program []byte // "sshd", "postfix/smtpd", "sshd-session"; empty if none
	PID     []byte // raw pid text, empty if none
	Message []byte // the rest; for FormatNone the whole line (trailing \r\n stripped)
	// Journal holds the fields journald itself sets on an entry: unlike
	// SYSLOG_IDENTIFIER, which any local user chooses (`logger -t sshd`), a
	// client cannot forge them. It is meaningful only when Format is
	// FormatJournalJSON; Parse leaves it as it was for other lines.
	Journal JournalFields
}

// JournalFields are the trusted fields of a journal entry, as journald
// writes them; nil when the entry has none. Ident is the untrusted
// SYSLOG_IDENTIFIER, kept apart so that callers can tell the two.
type JournalFields struct {
	Ident []byte // SYSLOG_IDENTIFIER (client-chosen)
	Comm  []byte // _COMM: the process name the kernel knows (at most 15 bytes)
	Exe   []byte // _EXE: the executable's path
	Unit  []byte // _SYSTEMD_UNIT: the system unit the process runs in
	UID   []byte // _UID: the process's user id, decimal
}

// Options configure a Parser.
type Options struct {
	Location  *time.Location // zone for timestamps that carry none; nil = time.Local
	Reference time.Time      // "now" for year inference; zero = Time's now at NewParser
	Time      clock.Clock    // gives the reference when Reference is zero; nil = clock.Real
}

// Parser splits lines into envelopes. A Parser is not safe for concurrent
// use: give each goroutine its own.
type Parser struct {
	loc      *time.Location
	clk      clock.Clock
	refLocal int64 // Reference as wall-clock seconds in loc (see localSeconds)
	refYear  int
	zone     zoneCache

	fixed     [4]fixedEntry
	nextFixed int

	scratch []byte // journald JSON unescaping; reused across calls
}

// NewParser returns a Parser configured by o.
func NewParser(o Options) *Parser {
	p := &Parser{loc: o.Location, clk: clock.Or(o.Time)}
	if p.loc == nil {
		p.loc = time.Local
	}
	p.SetReference(o.Reference)
	return p
}

// SetReference sets the "now" that year inference works from; the zero time
// means the now of Options.Time. Replay sets it to the time of the logs
// being replayed.
func (p *Parser) SetReference(t time.Time) {
	if t.IsZero() {
		t = p.clk.Now()
	}
	t = t.In(p.loc)
	_, off := t.Zone()
	p.refLocal = t.Unix() + int64(off)
	p.refYear = t.Year()
}

// Parse fills env from line. It returns false (and env.Format ==
// FormatNone, env.Message == line without its trailing \r\n) when the line
// has no recognised envelope. Slices in env alias line or the Parser's
// scratch buffer and are valid until the next call. Parse does not allocate.
//
// A syslog-style header is "[host ]program[[pid]]: message": the program
// token (letters, digits and "/-._@()") must be followed by ':' and then a
// space or the end of the line, otherwise the line is not an envelope
// ("Oct 11 22:14:15 host this is not a program" is FormatNone). Spaces after
// the colon are not part of the message.
//
// Stamps without a zone are read in the Parser's Location. A year-less stamp
// takes the year of the Reference, or the year before when it would then lie
// more than a day after the Reference (compared on the wall clock).
// Impossible dates and times (Feb 30, 25:00) make the line FormatNone.
func (p *Parser) Parse(line []byte, env *Envelope) bool {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	env.reset(line)
	if p.parse(line, env) {
		return true
	}
	env.reset(line)
	return false
}

// reset empties env but for Message and Journal, which only a journal
// entry sets (and which is only meaningful then): clearing its five
// slices for every syslog line would cost more than the rest.
func (env *Envelope) reset(line []byte) {
	env.Format, env.Time = FormatNone, time.Time{}
	env.Host, env.Program, env.PID, env.Message = nil, nil, nil, line
}

func (p *Parser) parse(b []byte, env *Envelope) bool {
	if len(b) < 4 {
		return false
	}
	if b[0] == '{' {
		return p.parseJSON(b, env)
	}
	if b[0] == '@' {
		return p.parseTAI64N(b, env)
	}
	i := 0
	if b[0] == '<' {
		var ok bool
		if i, ok = scanPRI(b); !ok {
			return false
		}
	}
	if i+1 < len(b) && b[i] == '1' && b[i+1] == ' ' {
		return p.parse5424(b, i+2, env)
	}
	if i >= len(b) {
		return false
	}
	var c civil
	if isDigit(b[i]) {
		j, ok := scanISO(b, i, &c)
		if !ok {
			return false
		}
		env.Format = FormatISO
		if env.Time, ok = p.build(&c); !ok {
			return false
		}
		if parseHeader(b, j, env) {
			return true
		}
		return s6Stamp(b, i, j, env) || i == 0 && headless5424(b, j, env)
	}
	j, ok := scan3164(b, i, &c)
	if !ok {
		if i == 0 {
			return parseBare(b, env)
		}
		return false
	}
	env.Format = FormatRFC3164
	if env.Time, ok = p.build(&c); !ok {
		return false
	}
	return parseHeader(b, j, env)
}

// scanPRI reads "<n>" with n in 0..191 at the start of b.
func scanPRI(b []byte) (int, bool) {
	v := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		ch := b[i]
		if ch == '>' {
			if i == 1 || v > 191 {
				return 0, false
			}
			return i + 1, true
		}
		if !isDigit(ch) {
			return 0, false
		}
		v = v*10 + int(ch-'0')
	}
	return 0, false
}

// progChar reports the bytes a program name may hold.
var progChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "/-._@()" { // "pop(pam_unix)"
		t[c] = true
	}
	return t
}()

// hostChar reports the bytes a host name token may hold: printable ASCII
// except the brackets and colon that would make it a program token.
var hostChar = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	t['['], t[']'] = false, false
	return t
}()

// parseHeader reads " [<pri>] [host [facility.level|<pri>] ]prog[[pid]]: msg"
// at b[i:], where b[i] must be the space that ends the timestamp. The host
// may be absent only after an RFC 3164 stamp or before a socklog facility.
func parseHeader(b []byte, i int, env *Envelope) bool {
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	for i++; i < len(b) && b[i] == ' '; i++ {
	}
	i = skipAngle(b, i) // FreeBSD syslogd -v/-vv: "<4.6> " or "<auth.info> " before the host
	if env.Format == FormatRFC3164 && bracketProg(b, i, env) {
		// Not after an ISO stamp: "2024-01-02 03:04:05 [main]: x" is more
		// likely an application's own line.
		return true
	}
	j := i
	for j < len(b) && hostChar[b[j]] {
		j++
	}
	if k := progSpacePID(b, i, j, env); k {
		// "sogod [26818]: msg": a program, a space, then the pid.
		return true
	}
	if j > i && b[j-1] == ':' || j < len(b) && b[j] == '[' {
		// No host (busybox syslogd -S, socklog).
		if !progToken(b, i, env) {
			return false
		}
		if isFacility(env.Program) {
			socklog(env)
			return true
		}
		// An ISO stamp with no host is taken only from socklog: "2024-01-02
		// 03:04:05 Error: x" is more likely an application's own line.
		return env.Format != FormatISO
	}
	if j == i || j >= len(b) || b[j] != ' ' {
		return false
	}
	env.Host = b[i:j]
	i = j + 1
	if progToken(b, i, env) {
		return true
	}
	if k := skipToken(b, i); progSpacePID(b, i, k, env) || rsyslogNoColon(b, i, env) {
		return true
	}
	// A facility.level token after the host (busybox: "vps auth.info sshd[1]:")
	// or a FreeBSD "<auth.info>" there.
	if k := skipAngle(b, i); k != i {
		return progToken(b, k, env)
	}
	if k := skipFacility(b, i); k != i {
		return progToken(b, k, env)
	}
	return false
}

// skipAngle skips "<...> " (up to 32 bytes, no spaces inside) at b[i:].
func skipAngle(b []byte, i int) int {
	if i >= len(b) || b[i] != '<' {
		return i
	}
	for j := i + 1; j < len(b) && j < i+32; j++ {
		switch b[j] {
		case '>':
			if j+1 < len(b) && b[j+1] == ' ' && j > i+1 {
				return j + 2
			}
			return i
		case ' ', '<':
			return i
		}
	}
	return i
}

// skipFacility skips "letters.letters " at b[i:].
func skipFacility(b []byte, i int) int {
	j, dot := i, -1
	for j < len(b) && j < i+32 {
		ch := b[j]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case ch == '.' && dot < 0 && j > i:
			dot = j
		case ch == ' ' && dot > 0 && j > dot+1:
			return j + 1
		default:
			return i
		}
		j++
	}
	return i
}

// socklog looks inside the message of a line whose program is a
// facility.level, as socklog writes them: "2015-05-27T04:31:28.10040
// auth.info: May 27 04:31:28 sshd[30993]: msg" (the inner stamp may be
// absent). When the message holds a program token, it replaces the
// facility; otherwise the program is left empty. The outer time is kept.
func socklog(env *Envelope) {
	m := env.Message
	i := 0
	var c civil
	if j, ok := scan3164(m, 0, &c); ok && j < len(m) && m[j] == ' ' {
		i = j + 1
	}
	inner := *env
	if progToken(m, i, &inner) {
		*env = inner
		return
	}
	// A facility names no program: leave it empty, so that a caller's
	// hint (the program the log belongs to) applies.
	env.Program = nil
}

// isFacility reports whether s is "facility.level" with syslog's names.
func isFacility(s []byte) bool {
	f, l, ok := bytesCut(s, '.')
	if !ok {
		return false
	}
	switch string(f) {
	case "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "security", "local0", "local1", "local2", "local3", "local4",
		"local5", "local6", "local7":
	default:
		return false
	}
	switch string(l) {
	case "emerg", "alert", "crit", "err", "error", "warning", "warn", "notice", "info", "debug":
		return true
	}
	return false
}

func bytesCut(s []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range s {
		if c == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

// progToken reads "prog[pid]: msg" or "prog: msg" at b[i:] into env.
func progToken(b []byte, i int, env *Envelope) bool {
	j := i
	for j < len(b) && progChar[b[j]] {
		j++
	}
	if j == i || j >= len(b) {
		return false
	}
	prog := b[i:j]
	var pid []byte
	if b[j] == '[' {
		k := j + 1
		for k < len(b) && isDigit(b[k]) && k < j+21 {
			k++
		}
		if k == j+1 || k >= len(b) || b[k] != ']' {
			return false
		}
		pid = b[j+1 : k]
		j = k + 1
	}
	if j >= len(b) || b[j] != ':' {
		return false
	}
	j++
	if j < len(b) && b[j] != ' ' {
		return false
	}
	for j < len(b) && b[j] == ' ' {
		j++
	}
	env.Program, env.PID, env.Message = prog, pid, b[j:]
	return true
}

// bracketProg reads "[prog]: msg" at b[i:] (no host, the program in
// brackets, then a colon and a space or the end of the line), and metalog's
// "[prog] msg" (Gentoo's metalog writes the tag in brackets with no colon,
// then one space and a message that is not empty).
func bracketProg(b []byte, i int, env *Envelope) bool {
	if i >= len(b) || b[i] != '[' {
		return false
	}
	j := i + 1
	for j < len(b) && progChar[b[j]] {
		j++
	}
	if j == i+1 || j+1 >= len(b) || b[j] != ']' {
		return false
	}
	if b[j+1] == ' ' {
		if j+2 >= len(b) || b[j+2] == ' ' {
			return false
		}
		env.Program, env.Message = b[i+1:j], b[j+2:]
		return true
	}
	if b[j+1] != ':' {
		return false
	}
	m := j + 2
	if m < len(b) && b[m] != ' ' {
		return false
	}
	for m < len(b) && b[m] == ' ' {
		m++
	}
	env.Program, env.Message = b[i+1:j], b[m:]
	return true
}

// s6Stamp accepts s6-log's "T" stamp, "2018-06-26 13:22:02.108781500 msg":
// date, a space, the time with exactly nine fractional digits and no zone,
// one space and the message of the service, which names no program. b[i:j]
// is the stamp. The nanoseconds and the space set it apart from
// applications' own stamps.
func s6Stamp(b []byte, i, j int, env *Envelope) bool {
	if i != 0 || j-i != 29 || b[i+10] != ' ' || b[i+19] != '.' || j+1 >= len(b) || b[j] != ' ' || b[j+1] == ' ' {
		return false
	}
	env.Host, env.Program, env.PID, env.Message = nil, nil, nil, b[j+1:]
	return true
}

// skipToken returns the end of the run of host-token bytes at b[i:].
func skipToken(b []byte, i int) int {
	for i < len(b) && hostChar[b[i]] {
		i++
	}
	return i
}

// progSpacePID reads "prog [pid]: msg" where b[i:j] is the program and
// b[j:] must be " [digits]:" and then a space or the end of the line.
func progSpacePID(b []byte, i, j int, env *Envelope) bool {
	if j == i || j+3 >= len(b) || b[j] != ' ' || b[j+1] != '[' {
		return false
	}
	for k := i; k < j; k++ {
		if !progChar[b[k]] {
			return false
		}
	}
	k := j + 2
	for k < len(b) && isDigit(b[k]) && k < j+22 {
		k++
	}
	if k == j+2 || k+1 >= len(b) || b[k] != ']' || b[k+1] != ':' {
		return false
	}
	m := k + 2
	if m < len(b) && b[m] != ' ' {
		return false
	}
	for m < len(b) && b[m] == ' ' {
		m++
	}
	env.Program, env.PID, env.Message = b[i:j], b[j+2:k], b[m:]
	return true
}

// rsyslogNoColon reads rsyslog 8's "prog[pid] msg" (no colon after the
// pid) at b[i:]. The pid must be decimal digits and a space must follow the
// bracket, so that a header without a pid stays unrecognised.
func rsyslogNoColon(b []byte, i int, env *Envelope) bool {
	j := i
	for j < len(b) && progChar[b[j]] {
		j++
	}
	if j == i || j >= len(b) || b[j] != '[' {
		return false
	}
	k := j + 1
	for k < len(b) && isDigit(b[k]) && k < j+21 {
		k++
	}
	if k == j+1 || k+1 >= len(b) || b[k] != ']' || b[k+1] != ' ' {
		return false
	}
	m := k + 1
	for m < len(b) && b[m] == ' ' {
		m++
	}
	if m == len(b) {
		return false
	}
	env.Program, env.PID, env.Message = b[i:j], b[j+1:k], b[m:]
	return true
}

// parseBare reads a header with no time, as journal message bodies carry
// it ("srv sshd[13709]: msg", or "sshd[13709]: msg"): an optional host,
// then a program whose pid is required and all digits, so that a raw line
// ("Error: x", "GET /x: y") is never taken for one. The time stays zero.
func parseBare(b []byte, env *Envelope) bool {
	env.Format = FormatBare
	i := 0
	j := skipToken(b, 0)
	if j < len(b) && b[j] == ' ' && j > 0 && b[j-1] != ':' {
		env.Host = b[:j]
		i = j + 1
	}
	if !progToken(b, i, env) || len(env.PID) == 0 {
		return false
	}
	return true
}

// parseTAI64N reads "@<24 hex digits> prog[[pid]]: msg", the label
// daemontools' multilog (and s6-log) puts before each line.
func (p *Parser) parseTAI64N(b []byte, env *Envelope) bool {
	const n = 25 // "@" and 24 hex digits
	if len(b) < n+2 || b[n] != ' ' {
		return false
	}
	t, err := p.ParseTime(LayoutTAI64N, b[:n])
	if err != nil {
		return false
	}
	env.Format, env.Time = FormatTAI64N, t
	return progToken(b, n+1, env)
}

// headless5424 reads the rest of an RFC 5424 header whose "<PRI>1 " a
// relay left out, "2022-02-24T21:00:42.021457+00:00 host app procid msgid
// SD msg", where b[j] is the space after the stamp. The procid must be
// digits or "-" and the structured data "-" or "[...]", so that an
// application's own line is not taken for one.
func headless5424(b []byte, j int, env *Envelope) bool {
	var fields [4][]byte // host, app, procid, msgid
	i := j
	for f := range fields {
		if i >= len(b) || b[i] != ' ' {
			return false
		}
		i++
		k := i
		for k < len(b) && b[k] > ' ' && b[k] < 0x7f {
			k++
		}
		if k == i {
			return false
		}
		if k != i+1 || b[i] != '-' {
			fields[f] = b[i:k]
		}
		i = k
	}
	if fields[0] == nil || fields[1] == nil {
		return false
	}
	for _, ch := range fields[2] {
		if !isDigit(ch) {
			return false
		}
	}
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	k, ok := skipSD(b, i+1)
	if !ok {
		return false
	}
	if k < len(b) {
		if b[k] != ' ' {
			return false
		}
		k++
	}
	env.Format = FormatRFC5424
	env.Host, env.Program, env.PID, env.Message = fields[0], fields[1], fields[2], b[k:]
	return true
}

// parse5424 reads an RFC 5424 header after "<PRI>1 " at b[i:].
func (p *Parser) parse5424(b []byte, i int, env *Envelope) bool {
	env.Format = FormatRFC5424
	if i >= len(b) {
		return false
	}
	if b[i] == '-' {
		i++
	} else {
		var c civil
		j, ok := scanISO(b, i, &c)
		if !ok {
			return false
		}
		if env.Time, ok = p.build(&c); !ok {
			return false
		}
		i = j
	}
	var fields [4][]byte // host, app, procid, msgid
	for f := range fields {
		if i >= len(b) || b[i] != ' ' {
			return false
		}
		i++
		j := i
		for j < len(b) && b[j] > ' ' && b[j] < 0x7f {
			j++
		}
		if j == i {
			return false
		}
		if j != i+1 || b[i] != '-' {
			fields[f] = b[i:j]
		}
		i = j
	}
	env.Host, env.Program, env.PID = fields[0], fields[1], fields[2]
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	i++
	j, ok := skipSD(b, i)
	if !ok {
		return false
	}
	if j < len(b) {
		if b[j] != ' ' {
			return false
		}
		j++
		if j+3 <= len(b) && b[j] == 0xef && b[j+1] == 0xbb && b[j+2] == 0xbf {
			j += 3
		}
	}
	env.Message = b[j:]
	return true
}

// skipSD skips RFC 5424 STRUCTURED-DATA at b[i:]: "-" or one or more
// "[id param="value" ...]" elements, where a value may hold `\"`, `\\` and
// `\]`.
func skipSD(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	if b[i] == '-' {
		return i + 1, true
	}
	if b[i] != '[' {
		return 0, false
	}
	for i < len(b) && b[i] == '[' {
		i++
		quoted := false
	elem:
		for {
			if i >= len(b) {
				return 0, false
			}
			switch ch := b[i]; {
			case quoted && ch == '\\':
				i++
			case ch == '"':
				quoted = !quoted
			case !quoted && ch == ']':
				i++
				break elem
			}
			i++
		}
	}
	return i, true
}
