package envelope

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ref3164 is the slow, readable reference for RFC 3164 envelopes that
// FuzzParse checks Parse against: PRI, stamp, an optional FreeBSD tag, an
// optional host (printable ASCII without brackets, not ending in ':')
// followed by an optional tag or facility.level, then program[pid]: message.
var ref3164 = regexp.MustCompile(`(?s)^(?:<(\d{1,3})>)?` +
	`([A-Za-z]{3}) ( ?\d|\d\d) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:[.,](\d+))? +` +
	`(?:<[^ <>]{1,30}> )?` +
	`(?:([!-9;-Z\\^-~]|[!-Z\\^-~]+[!-9;-Z\\^-~]) (?:<[^ <>]{1,30}> |[a-z0-9]+\.[a-z0-9]+ )?)?` +
	`([A-Za-z0-9/._@()-]+)(?:\[(\d{1,20})\])?:(?: +(.*))?$`)

// refAlt are the other program headers, tried when ref3164 does not match:
// "prog [pid]: msg" (with or without a host before it), rsyslog 8's
// "host prog[pid] msg" (no colon), "[prog]: msg" (no host) and metalog's
// "[prog] msg".
var refAlt = []*regexp.Regexp{
	regexp.MustCompile(`(?s)^(?:<(\d{1,3})>)?` +
		`([A-Za-z]{3}) ( ?\d|\d\d) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:[.,](\d+))? +` +
		`(?:<[^ <>]{1,30}> )?` +
		`(?:([!-9;-Z\\^-~]|[!-Z\\^-~]+[!-9;-Z\\^-~]) )?` +
		`([A-Za-z0-9/._@()-]+) \[(\d{1,20})\]:(?: +(.*))?$`),
	regexp.MustCompile(`(?s)^(?:<(\d{1,3})>)?` +
		`([A-Za-z]{3}) ( ?\d|\d\d) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:[.,](\d+))? +` +
		`(?:<[^ <>]{1,30}> )?` +
		`([!-9;-Z\\^-~]|[!-Z\\^-~]+[!-9;-Z\\^-~]) ` +
		`([A-Za-z0-9/._@()-]+)\[(\d{1,20})\] +([^ ].*)$`),
	regexp.MustCompile(`(?s)^(?:<(\d{1,3})>)?` +
		`([A-Za-z]{3}) ( ?\d|\d\d) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:[.,](\d+))? +` +
		`(?:<[^ <>]{1,30}> )?` +
		`()\[([A-Za-z0-9/._@()-]+)\]():(?: +(.*))?$`),
	regexp.MustCompile(`(?s)^(?:<(\d{1,3})>)?` +
		`([A-Za-z]{3}) ( ?\d|\d\d) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:[.,](\d+))? +` +
		`(?:<[^ <>]{1,30}> )?` +
		`()\[([A-Za-z0-9/._@()-]+)\]() ([^ ].*)$`),
}

var refFacility = regexp.MustCompile(`[a-z0-9]+\.[a-z0-9]+ `)

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// refParse3164 parses line with ref3164 and package time, in UTC, inferring
// a missing year from refTime. skip reports lines whose reading depends on
// rules the reference leaves out (socklog facilities, facility tokens
// longer than skipFacility looks).
func refParse3164(line string, refTime time.Time) (env Envelope, ok, skip bool) {
	m := ref3164.FindStringSubmatch(line)
	for _, re := range refAlt {
		if m != nil {
			break
		}
		m = re.FindStringSubmatch(line)
	}
	if m == nil {
		return env, false, false
	}
	if m[1] != "" {
		if pri, _ := strconv.Atoi(m[1]); pri > 191 {
			return env, false, false
		}
	}
	mon := 0
	for i, n := range monthNames {
		if strings.EqualFold(m[2], n) {
			mon = i + 1
		}
	}
	if mon == 0 {
		return env, false, false
	}
	day, _ := strconv.Atoi(strings.TrimSpace(m[3]))
	hour, _ := strconv.Atoi(m[5])
	minute, _ := strconv.Atoi(m[6])
	sec, _ := strconv.Atoi(m[7])
	frac := m[8]
	if len(frac) > 9 {
		frac = frac[:9]
	}
	ns := 0
	if frac != "" {
		ns, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	valid := func(y int) (time.Time, bool) {
		t := time.Date(y, time.Month(mon), day, hour, minute, sec, ns, time.UTC)
		return t, t.Day() == day && t.Month() == time.Month(mon) && t.Hour() == hour && t.Minute() == minute && t.Second() == sec
	}
	var t time.Time
	if m[4] != "" {
		y, _ := strconv.Atoi(m[4])
		if t, ok = valid(y); !ok || y == 0 {
			return env, false, false
		}
	} else {
		y := refTime.Year()
		if t, ok = valid(y); !ok || t.After(refTime.Add(24*time.Hour)) {
			if t, ok = valid(y - 1); !ok {
				return env, false, false
			}
		}
	}
	host, prog := m[9], m[10]
	if host == "" && isFacility([]byte(prog)) {
		return env, false, true
	}
	for _, tok := range refFacility.FindAllString(line, -1) {
		if len(tok) > 32 {
			return env, false, true // longer than skipFacility looks
		}
	}
	env = Envelope{Format: FormatRFC3164, Time: t, Host: []byte(host), Program: []byte(prog), PID: []byte(m[11]), Message: []byte(m[12])}
	return env, true, false
}
