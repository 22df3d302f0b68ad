package parse

import (
	"bytes"
	"strings"

	"github.com/herd-ips/herd/internal/envelope"
	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
	"github.com/herd-ips/herd/internal/textmatch"
)

// Family is the log format a source carries: the provenance of its lines.
// A source is bound to one family (configured, or detected from the first
// lines of each file and then locked), and its lines meet only the rules of
// that family. A line that does not start the way records of the family
// start is a continuation of the previous record (raw newlines in a PHP
// message, a multi-line stack trace): it is never parsed as a record of its
// own, so text that reaches a log with raw newlines cannot pose as a line
// of another format.
type Family uint8

// The families. FamilyAny is no provenance at all: every line meets every
// rule, and access-log layouts are guessed per line. Only tests and rule
// corpora use it; herd's sources, replay and explain always bind a family.
const (
	FamilyAny         Family = iota
	FamilySyslog             // syslog files: RFC 3164/5424, ISO and TAI64N envelopes; rules by program
	FamilyJournal            // `journalctl -o json` entries, attributed by journald's own fields
	FamilyMessage            // bare messages of the program a source names (program: in herd.yaml)
	FamilyCLF                // access log, common or combined layout: the client is the first field
	FamilyVhost              // access log, vhost_combined layout: "vhost[:port] client ..."
	FamilyJSONAccess         // JSON access log, the client from configured field names
	FamilyNginxError         // nginx error log: "2006/01/02 15:04:05 [level] ..."
	FamilyApacheError        // Apache error log: "[Mon Jan 02 15:04:05.000000 2006] [module:level] ..."
	FamilyVsftpd             // vsftpd's own log: "Mon Jan  2 15:04:05 2006 [pid N] ..."
	FamilyMySQL              // MySQL/MariaDB error log
	FamilyDovecot            // dovecot's own log_path: "Jan 02 15:04:05 imap-login: ..." (no host)
	FamilyAsterisk           // Asterisk's own log: "[2006-01-02 15:04:05] NOTICE[1] ..." or "[Jan  2 15:04:05] ..."
	FamilyExim               // Exim's main log: "2006-01-02 15:04:05 [pid] ..." (no host, no "process:")
	FamilyFreeswitch         // freeswitch.log: "2006-01-02 15:04:05.000000 [WARNING] file.c:N ..."
	FamilyBind               // BIND's own log channels: "02-Jan-2006 15:04:05.000 ..."
	FamilyRoundcube          // Roundcube's own logs: "[02-Jan-2006 15:04:05 +0000]: ..."
	FamilyMongoDB            // mongod's structured log: {"t":{"$date":"..."},"s":...}
	FamilyPostgres           // PostgreSQL's own log: "2006-01-02 15:04:05.000 UTC [pid] ..." (log_line_prefix with %m)
	numFamilies
)

var familyNames = [numFamilies]string{"any", "syslog", "journal", "message", "clf", "vhost_combined", "json-access", "nginx-error", "apache-error", "vsftpd", "mysql", "dovecot", "asterisk", "exim", "freeswitch", "bind", "roundcube", "mongodb", "postgres"}

// String returns the family's name as herd.yaml and --format spell it.
func (f Family) String() string {
	if f < numFamilies {
		return familyNames[f]
	}
	return "invalid"
}

// FamilyByName returns the family called name; "common" and "combined"
// name clf, "json" json-access, "journald" journal.
func FamilyByName(name string) (Family, bool) {
	switch name {
	case "common", "combined":
		return FamilyCLF, true
	case "json":
		return FamilyJSONAccess, true
	case "journald":
		return FamilyJournal, true
	}
	for i, n := range familyNames {
		if n == name {
			return Family(i), true
		}
	}
	return FamilyAny, false
}

// FamilyNames lists the names FamilyByName accepts, aliases left out,
// "any" included (it turns provenance off).
func FamilyNames() []string { return familyNames[:] }

// raw reports whether lines of f carry no envelope: they are offered to the
// raw rules of f.
func (f Family) raw() bool { return f >= FamilyCLF }

// familySet is a set of families, one bit each.
type familySet uint32

func (s familySet) has(f Family) bool { return s&(1<<f) != 0 }

// rawFamilies returns the families whose lines raw rule s reads: its
// Family key, else what its format implies (an access-log decoder reads
// both CLF layouts), else what the time layout each pattern starts with
// implies. It returns 0 when nothing can be inferred: the rule then runs
// only under FamilyAny (TestDefaultRawRulesHaveFamily keeps the defaults
// from that).
func rawFamilies(s *rules.ParserSpec, r *rule) familySet {
	if s.Family != "" {
		if f, ok := FamilyByName(s.Family); ok && f.raw() {
			if f == FamilyCLF || f == FamilyVhost {
				return 1<<FamilyCLF | 1<<FamilyVhost
			}
			return 1 << f
		}
		return 0
	}
	switch r.format {
	case formatCLF:
		return 1<<FamilyCLF | 1<<FamilyVhost
	case formatJSON:
		return 1 << FamilyJSONAccess
	}
	var set familySet
	for j, t := range r.templates {
		set |= layoutFamily(r.tmplLayout[j], bytes.HasPrefix(t.Prefix(), []byte("[")), s.Service)
	}
	for j, re := range r.regexps {
		src := re.String()
		set |= layoutFamily(r.reLayout[j], strings.HasPrefix(src, `^\[`) || strings.HasPrefix(src, `\[`), s.Service)
	}
	return set
}

// layoutFamily maps the time layout a raw pattern reads to the family of
// files whose records start with it.
func layoutFamily(l envelope.Layout, bracket bool, service string) familySet {
	switch l {
	case envelope.LayoutNginx:
		return 1 << FamilyNginxError
	case envelope.LayoutApache:
		if bracket {
			return 1 << FamilyApacheError
		}
		return 1 << FamilyVsftpd
	case envelope.LayoutMySQL:
		return 1 << FamilyMySQL
	case envelope.LayoutISO8601, envelope.LayoutRFC3164:
		if service == "mysql" {
			return 1 << FamilyMySQL
		}
		return 1 << FamilyDovecot
	}
	return 0
}

// startsRecord reports whether line (its trailing \r\n stripped) starts a
// record of raw family f, by the prefix every record of f carries and no
// continuation line of another record is made to carry by the server:
// a time in f's layout where f's records have one, a decodable access line
// otherwise. It does not allocate.
func startsRecord(f Family, b []byte) bool {
	switch f {
	case FamilyCLF, FamilyVhost:
		// Access lines have no fixed prefix; the decoder checks the
		// whole layout by position. A first field must be there.
		return len(b) > 0 && b[0] != ' ' && b[0] != '\t'
	case FamilyJSONAccess:
		return len(b) > 0 && b[0] == '{'
	case FamilyNginxError:
		n := envelope.TimePrefix(envelope.LayoutNginx, b)
		return n > 0 && bytes.HasPrefix(b[n:], []byte(" ["))
	case FamilyApacheError:
		if len(b) < 2 || b[0] != '[' {
			return false
		}
		n := envelope.TimePrefix(envelope.LayoutApache, b[1:])
		return n > 0 && bytes.HasPrefix(b[1+n:], []byte("] "))
	case FamilyVsftpd:
		n := envelope.TimePrefix(envelope.LayoutApache, b)
		return n > 0 && n < len(b) && b[n] == ' '
	case FamilyMySQL:
		n := envelope.TimePrefix(envelope.LayoutMySQL, b)
		if n == 0 {
			n = envelope.TimePrefix(envelope.LayoutISO8601, b)
		}
		return n > 0 && n < len(b) && b[n] == ' '
	case FamilyDovecot:
		n := envelope.TimePrefix(envelope.LayoutRFC3164, b)
		if n == 0 {
			n = envelope.TimePrefix(envelope.LayoutISO8601, b)
		}
		return n > 0 && n < len(b) && b[n] == ' '
	case FamilyAsterisk:
		return asteriskRecord(b)
	case FamilyExim:
		return eximRecord(b)
	case FamilyFreeswitch:
		return freeswitchRecord(b)
	case FamilyBind:
		n := envelope.TimePrefix(envelope.LayoutDMY, b)
		return n > 0 && n < len(b) && b[n] == ' '
	case FamilyMongoDB:
		return bytes.HasPrefix(b, []byte(`{"t":{"$date":"`))
	case FamilyPostgres:
		return postgresRecord(b)
	case FamilyRoundcube:
		if len(b) < 2 || b[0] != '[' {
			return false
		}
		n := envelope.TimePrefix(envelope.LayoutDMY, b[1:])
		return n > 0 && bytes.HasPrefix(b[1+n:], []byte("]: "))
	}
	return false
}

// asteriskRecord reports whether b starts a record of Asterisk's own log:
// a bracketed ISO or RFC 3164 time, then an upper-case level.
func asteriskRecord(b []byte) bool {
	if len(b) < 2 || b[0] != '[' {
		return false
	}
	n := envelope.TimePrefix(envelope.LayoutISO8601, b[1:])
	if n == 0 {
		n = envelope.TimePrefix(envelope.LayoutRFC3164, b[1:])
	}
	return n > 0 && len(b) > n+3 && b[1+n] == ']' && b[2+n] == ' ' && b[3+n] >= 'A' && b[3+n] <= 'Z'
}

// postgresRecord reports whether b starts a record of PostgreSQL's own log
// as the common log_line_prefix values write it: an optional client
// address (%h first), an ISO time with a fraction, a space, an upper-case
// zone name (%m), then " [" (the pid) or ":".
func postgresRecord(b []byte) bool {
	if k := bytes.IndexByte(b, ' '); k > 0 {
		if _, ok := textmatch.ParseToken(b[:k]); ok {
			b = b[k+1:]
		}
	}
	n := envelope.TimePrefix(envelope.LayoutISO8601, b)
	if n < 20 || n >= len(b) || b[n] != ' ' || bytes.IndexByte(b[:n], '.') < 0 {
		return false
	}
	rest := b[n+1:]
	z := 0
	for z < len(rest) && z < 6 && rest[z] >= 'A' && rest[z] <= 'Z' {
		z++
	}
	if z < 1 || z >= len(rest) {
		return false
	}
	return rest[z] == ':' || bytes.HasPrefix(rest[z:], []byte(" ["))
}

// eximRecord reports whether b starts a record of Exim's main log: a
// "2006-01-02 15:04:05" time (optionally with a zone), a space, then
// either a bracketed process id or a word that is neither a "process:"
// label (which dovecot's own log writes there) nor a number (MariaDB's
// thread id).
func eximRecord(b []byte) bool {
	if len(b) < 20 || b[10] != ' ' {
		return false
	}
	n := envelope.TimePrefix(envelope.LayoutISO8601, b)
	if n == 0 || n >= len(b) || b[n] != ' ' {
		return false
	}
	rest := b[n+1:]
	if len(rest) > 0 && rest[0] == '[' {
		k := bytes.IndexByte(rest, ']')
		return k > 1 && isDigits(rest[1:k])
	}
	word := rest
	if k := bytes.IndexByte(rest, ' '); k >= 0 {
		word = rest[:k]
	}
	// A number there is MariaDB's thread id, a "process:" label dovecot's.
	return len(word) > 0 && word[len(word)-1] != ':' && !isDigits(word)
}

// freeswitchRecord reports whether b starts a record of freeswitch.log: an
// ISO time with a fraction (or the console's year-less "08-03 07:56:53.026292"),
// an optional CPU idle figure ("96.80% "), a bracketed level and a "file.c:N"
// source position ("[SOFIA] [file.c:N]" on the console's lines).
func freeswitchRecord(b []byte) bool {
	n := envelope.TimePrefix(envelope.LayoutISO8601, b)
	if n == 0 {
		n = envelope.TimePrefix(envelope.LayoutMonthDay, b) // "08-03 07:56:53.026292", the console's year-less stamp
	}
	if n == 0 || n >= len(b) || b[n] != ' ' {
		return false
	}
	rest := b[n+1:]
	if k := bytes.IndexByte(rest, ' '); k > 1 && rest[k-1] == '%' {
		rest = rest[k+1:]
	}
	if len(rest) < 3 || rest[0] != '[' {
		return false
	}
	k := bytes.IndexByte(rest, ']')
	if k < 2 || k+2 > len(rest) || rest[k+1] != ' ' {
		return false
	}
	pos := rest[k+2:]
	// The console's year-less lines carry a module tag and bracket the
	// position: "[WARN] [SOFIA] [sofia_reg.c:4130] ".
	if bytes.HasPrefix(pos, []byte("[SOFIA] [")) {
		pos = pos[len("[SOFIA] ["):]
		if j := bytes.IndexByte(pos, ']'); j >= 0 && j+1 < len(pos) && pos[j+1] == ' ' {
			pos = pos[:j]
		}
	}
	if j := bytes.IndexByte(pos, ' '); j >= 0 {
		pos = pos[:j]
	}
	c := bytes.Index(pos, []byte(".c:"))
	return c > 0 && c+3 < len(pos) && isDigits(pos[c+3:])
}

// syslogFormat reports whether an envelope of format ef starts a record of a
// syslog file: a time, then host and program.
func syslogFormat(ef envelope.Format) bool {
	switch ef {
	case envelope.FormatRFC3164, envelope.FormatRFC5424, envelope.FormatISO, envelope.FormatTAI64N:
		return true
	}
	return false
}

// Detect returns the family of a file from its head: the bytes it starts
// with. The first line that is neither blank nor a '#' comment decides,
// alone: a continuation
// line always follows the record it continues, so the first line of a file
// is a record of the file's own format, while any later line may be an
// attacker's text after a raw newline, and letting later lines vote would
// let that text choose the format (many forged lines outvote one real
// record). A last line without its newline counts only when it is the only
// one. ok is false when the head holds no line, or when its first line is
// a record of no family (a format herd does not know): the caller must
// then not look for a format in later lines.
//
// Detection is per file, never per line: a caller locks the family it
// gets. An access log is CLF when its first field is an address and its
// second (identd's answer, "-") is not, vhost_combined when its second
// field is an address (the first being the virtual host, a name or, for a
// Host: header that was one, an address).
func (p *Parser) Detect(head []byte) (f Family, ok bool) {
	line, found := firstLine(head)
	if !found {
		return FamilyAny, false
	}
	return p.classify(line)
}

// HeadLines reports whether head holds a line Detect decides by: Detect's
// answer on it is then final.
func HeadLines(head []byte) bool {
	_, ok := firstLine(head)
	return ok
}

// firstLine returns the first line of head that is neither blank nor a
// comment ('#' first: headers some tools write, which no daemon's record
// starts with).
func firstLine(head []byte) ([]byte, bool) {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		return line, true
	}
	return nil, false
}

// detectOrder is the order in which classify tries families: the shapes
// that are hardest to mistake come first.
var detectOrder = [...]Family{
	FamilyJournal, FamilyMongoDB, FamilyJSONAccess, FamilyNginxError, FamilyApacheError, FamilyVsftpd,
	FamilyAsterisk, FamilyRoundcube, FamilyFreeswitch, FamilyPostgres, FamilyExim, FamilyMySQL,
	FamilySyslog, FamilyBind, FamilyCLF, FamilyVhost, FamilyDovecot,
}

// classify returns the family line is a record of.
func (p *Parser) classify(line []byte) (Family, bool) {
	for len(line) > 0 && (line[len(line)-1] == '\r' || line[len(line)-1] == '\n') {
		line = line[:len(line)-1]
	}
	var env envelope.Envelope
	enveloped := p.env.Parse(line, &env)
	for _, f := range detectOrder {
		switch f {
		case FamilyJournal:
			if enveloped && env.Format == envelope.FormatJournalJSON {
				return f, true
			}
		case FamilyJSONAccess:
			if line[0] == '{' && !enveloped {
				var ev event.Event
				if p.decodeJSON(&p.probe, line, &ev) == matched {
					return f, true
				}
				// An application's own JSON log (Nextcloud, GitLab,
				// ModSecurity's audit log): one object per line, read
				// by the raw rules of family json-access.
				if t := bytes.TrimRight(line, " \t"); t[len(t)-1] == '}' {
					return f, true
				}
			}
		case FamilySyslog:
			// A syslog line names a host; dovecot's own log does not.
			if enveloped && syslogFormat(env.Format) && (len(env.Host) > 0 || env.Format == envelope.FormatRFC5424) {
				return f, true
			}
		case FamilyCLF, FamilyVhost:
			// CLF: the first field an address, the second (identd's
			// answer) not; vhost_combined: the second an address.
			sp := bytes.IndexByte(line, ' ')
			if sp <= 0 {
				continue
			}
			_, first := textmatch.ParseToken(line[:sp])
			second := secondIsAddr(line[sp+1:])
			if (f == FamilyCLF) != (first && !second) {
				continue
			}
			var ev event.Event
			if p.decodeCLFAs(&p.probe, line, &ev, f) == matched {
				return f, true
			}
		case FamilyMySQL:
			if mysqlRecord(line) {
				return f, true
			}
		case FamilyDovecot:
			if startsRecord(f, line) {
				return f, true
			}
		default:
			if startsRecord(f, line) {
				return f, true
			}
		}
	}
	return FamilyAny, false
}

// mysqlRecord reports whether b is, to detection, a record of the
// MySQL/MariaDB error log: a time, an optional thread id, then the severity
// in brackets ("2026-11-23T08:00:01.123456Z 5 [Warning] ...", "261123
// 8:00:02 [Note] ..."), or a time in MySQL's own "yymmdd" form, which no
// other log writes ("240101 12:00:00 mysqld_safe Starting ...").
func mysqlRecord(b []byte) bool {
	if len(b) > 6 && b[6] == ' ' && isDigits(b[:6]) && envelope.TimePrefix(envelope.LayoutMySQL, b) > 0 {
		return true
	}
	n := envelope.TimePrefix(envelope.LayoutMySQL, b)
	if n == 0 {
		n = envelope.TimePrefix(envelope.LayoutISO8601, b)
	}
	if n == 0 || n >= len(b) || b[n] != ' ' {
		return false
	}
	b = bytes.TrimLeft(b[n:], " ")
	if k := bytes.IndexByte(b, ' '); k > 0 && isDigits(b[:k]) {
		b = b[k+1:]
	}
	return len(b) > 2 && b[0] == '['
}
