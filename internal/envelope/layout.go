package envelope

import (
	"errors"
	"fmt"
	"time"
)

// Layout names a timestamp layout found in log lines.
type Layout uint8

// The layouts ParseTime understands. Each accepts exactly the described text
// (surrounding spaces are ignored); stamps without a zone are read in the
// Parser's Location.
const (
	LayoutNone      Layout = iota
	LayoutCLF              // "10/Oct/2000:13:55:36 -0700" (zone optional; "10/Oct/2000 13:55:36" too)
	LayoutISO8601          // "2000-10-11T14:32:52", T or space, optional ".123", optional "Z", "+01:00", "+0100", "+01"
	LayoutApache           // "Wed Oct 11 14:32:52.123456 2000" (fraction optional)
	LayoutNginx            // "2000/10/11 14:32:52"
	LayoutRFC3164          // "Oct 11 14:32:52" (year inferred), "Oct  1 14:32:52", "Oct 11 2000 14:32:52", optional fraction
	LayoutUnix             // "1700000000" or "1700000000.123" (seconds since the epoch, UTC instant)
	LayoutMySQL            // "190501 12:00:00", "190501  2:00:00", "2019-05-01 12:00:00", " 2019-05-01  2:00:00"
	LayoutDMY              // "11-06-2013 02:09:40 +0300" (fail2ban, 3proxy; zone optional), "11-Aug-2013 03:36:11.372" (BIND)
	LayoutTAI64N           // "@4000000053b2c8a60b1a2c3d" (daemontools/s6 labels, UTC instant)
	LayoutUnixMilli        // "1700000000123" (milliseconds since the epoch, JSON loggers)
	LayoutASSP             // "Apr-07-13 07:08:36" (ASSP: month name, day, two-digit year of 2000-2099)
	LayoutCompact          // "20220407-12:11:06" (xrdp), "2014:07:02-00:17:45" (DirectAdmin): the date, '-', the clock
	LayoutZoned3164        // "PDT Apr 16 21:05:29" (Monit): a zone abbreviation of zoneAbbrevs, then an RFC 3164 stamp
	LayoutMDY              // "10/06/2013 15:50:41" (month first), "01/01/2014 - 01:25:17" (Half-Life servers)
	LayoutMonthDay         // "08-03 07:56:53.026292" (FreeSWITCH's console log: month-day, year inferred)
	LayoutDotted           // "2011.11.21 14:29:16" (stunnel)
	LayoutClock            // "12:57:32.907" (a clock alone, Java loggers' default; the date inferred)
	LayoutJava             // "Apr 15, 2013 8:34:08 PM" (java.util.logging's SimpleFormatter, 12-hour clock)
	numLayouts
)

var layoutNames = [numLayouts]string{"none", "clf", "iso8601", "apache", "nginx", "rfc3164", "unix", "mysql", "dmy", "tai64n", "unix_ms", "assp", "compact", "zoned3164", "mdy", "monthday", "dotted", "clock", "java"}

// String returns the layout's name as rule files spell it.
func (l Layout) String() string {
	if l < numLayouts {
		return layoutNames[l]
	}
	return "invalid"
}

// LayoutByName returns the layout called name ("clf", "iso8601", "apache",
// "nginx", "rfc3164", "unix", "mysql", "dmy", "tai64n", "unix_ms", "assp", "compact", "zoned3164"; also "rfc3339" for
// iso8601 and "3proxy" for dmy).
func LayoutByName(name string) (Layout, bool) {
	switch name {
	case "rfc3339":
		return LayoutISO8601, true
	case "3proxy":
		return LayoutDMY, true
	case "none":
		return 0, false
	}
	for i, n := range layoutNames {
		if n == name {
			return Layout(i), true
		}
	}
	return 0, false
}

// Errors ParseTime wraps.
var (
	ErrSyntax = errors.New("does not match layout")
	ErrRange  = errors.New("field out of range")
	ErrLayout = errors.New("unknown layout")
)

// ParseTime reads b, which must hold one timestamp in layout l and nothing
// else but surrounding spaces. It uses p's Location for stamps without a zone
// and p's Reference for year inference. It does not allocate on success.
func (p *Parser) ParseTime(l Layout, b []byte) (time.Time, error) {
	i, j := 0, len(b)
	for i < j && b[i] == ' ' {
		i++
	}
	for j > i && b[j-1] == ' ' {
		j--
	}
	s := b[i:j]
	var c civil
	var end int
	var ok bool
	switch l {
	case LayoutCLF:
		end, ok = scanCLF(s, &c)
	case LayoutISO8601:
		end, ok = scanISO(s, 0, &c)
	case LayoutApache:
		end, ok = scanApache(s, &c)
	case LayoutNginx:
		end, ok = scanNginx(s, &c)
	case LayoutRFC3164:
		end, ok = scan3164(s, 0, &c)
	case LayoutMySQL:
		end, ok = scanMySQL(s, &c)
	case LayoutDMY:
		end, ok = scanDMY(s, &c)
	case LayoutASSP:
		end, ok = scanASSP(s, &c)
	case LayoutCompact:
		end, ok = scanCompact(s, &c)
	case LayoutZoned3164:
		end, ok = scanZoned3164(s, &c)
	case LayoutMDY:
		end, ok = scanMDY(s, &c)
	case LayoutMonthDay:
		end, ok = scanMonthDay(s, &c)
	case LayoutDotted:
		end, ok = scanYMD(s, '.', &c)
	case LayoutClock:
		c.noDate = true
		end, ok = scanClock(s, 0, &c, false)
	case LayoutJava:
		end, ok = scanJava(s, &c)
	case LayoutUnix:
		t, ok := scanUnix(s)
		if !ok {
			return time.Time{}, timeErr(b, ErrSyntax)
		}
		return t.In(p.loc), nil
	case LayoutUnixMilli:
		t, ok := scanUnixMilli(s)
		if !ok {
			return time.Time{}, timeErr(b, ErrSyntax)
		}
		return t.In(p.loc), nil
	case LayoutTAI64N:
		t, ok := scanTAI64N(s)
		if !ok {
			return time.Time{}, timeErr(b, ErrSyntax)
		}
		return t.In(p.loc), nil
	default:
		return time.Time{}, timeErr(b, ErrLayout)
	}
	if !ok || end != len(s) {
		return time.Time{}, timeErr(b, ErrSyntax)
	}
	t, ok := p.build(&c)
	if !ok {
		return time.Time{}, timeErr(b, ErrRange)
	}
	return t, nil
}

func timeErr(b []byte, err error) error {
	return fmt.Errorf("envelope: time %q: %w", b, err)
}

// digits reads exactly n decimal digits at b[i:].
func digits(b []byte, i, n int) (int, bool) {
	if i < 0 || i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, ch := range b[i : i+n] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + int(ch-'0')
	}
	return v, true
}

// digits2 reads exactly two decimal digits at b[i:].
func digits2(b []byte, i int) (int, bool) {
	if i < 0 || i+1 >= len(b) {
		return 0, false
	}
	x, y := b[i]-'0', b[i+1]-'0'
	if x > 9 || y > 9 {
		return 0, false
	}
	return int(x)*10 + int(y), true
}

func isDigit(ch byte) bool { return ch >= '0' && ch <= '9' }

// month reads a three-letter English month name ("Oct", also "OCT", "oct").
func month(b []byte, i int) (int, bool) {
	if i+3 > len(b) {
		return 0, false
	}
	k := uint32(b[i]|0x20)<<16 | uint32(b[i+1]|0x20)<<8 | uint32(b[i+2]|0x20)
	switch k {
	case 'j'<<16 | 'a'<<8 | 'n':
		return 1, true
	case 'f'<<16 | 'e'<<8 | 'b':
		return 2, true
	case 'm'<<16 | 'a'<<8 | 'r':
		return 3, true
	case 'a'<<16 | 'p'<<8 | 'r':
		return 4, true
	case 'm'<<16 | 'a'<<8 | 'y':
		return 5, true
	case 'j'<<16 | 'u'<<8 | 'n':
		return 6, true
	case 'j'<<16 | 'u'<<8 | 'l':
		return 7, true
	case 'a'<<16 | 'u'<<8 | 'g':
		return 8, true
	case 's'<<16 | 'e'<<8 | 'p':
		return 9, true
	case 'o'<<16 | 'c'<<8 | 't':
		return 10, true
	case 'n'<<16 | 'o'<<8 | 'v':
		return 11, true
	case 'd'<<16 | 'e'<<8 | 'c':
		return 12, true
	}
	return 0, false
}

// scanClock reads "hh:mm:ss" with an optional ".fraction" (or ",fraction")
// at b[i:]. With padHour a one-digit hour is accepted ("2:00:00").
func scanClock(b []byte, i int, c *civil, padHour bool) (int, bool) {
	var ok bool
	if padHour && i+1 < len(b) && isDigit(b[i]) && b[i+1] == ':' {
		c.hour = int(b[i] - '0')
		i++
	} else {
		if c.hour, ok = digits2(b, i); !ok {
			return 0, false
		}
		i += 2
	}
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	if c.min, ok = digits2(b, i+1); !ok {
		return 0, false
	}
	i += 3
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	if c.sec, ok = digits2(b, i+1); !ok {
		return 0, false
	}
	i += 3
	return scanFrac(b, i, c)
}

// scanFrac reads an optional fraction of a second; digits past the ninth
// are read and ignored.
func scanFrac(b []byte, i int, c *civil) (int, bool) {
	if i >= len(b) || (b[i] != '.' && b[i] != ',') || i+1 >= len(b) || !isDigit(b[i+1]) {
		return i, true
	}
	i++
	ns, n := 0, 0
	for i < len(b) && isDigit(b[i]) {
		if n < 9 {
			ns = ns*10 + int(b[i]-'0')
			n++
		}
		i++
	}
	for ; n < 9; n++ {
		ns *= 10
	}
	c.nsec = ns
	return i, true
}

// scanZone reads an optional zone at b[i:]: "Z", "+hh:mm", "+hhmm" or "+hh".
func scanZone(b []byte, i int, c *civil) (int, bool) {
	if i >= len(b) {
		return i, true
	}
	switch b[i] {
	case 'Z', 'z':
		c.hasZone, c.off = true, 0
		return i + 1, true
	case '+', '-':
	default:
		return i, true
	}
	sign := 1
	if b[i] == '-' {
		sign = -1
	}
	h, ok := digits(b, i+1, 2)
	if !ok {
		return i, false
	}
	j := i + 3
	m := 0
	if j < len(b) && b[j] == ':' {
		if m, ok = digits(b, j+1, 2); !ok {
			return i, false
		}
		j += 3
	} else if v, ok := digits(b, j, 2); ok {
		m = v
		j += 2
	}
	if h > 23 || m > 59 {
		return i, false
	}
	c.hasZone, c.off = true, sign*(h*3600+m*60)
	return j, true
}

// scanISO reads "yyyy-mm-dd[T ]hh:mm:ss[.frac][zone]" at b[i:].
func scanISO(b []byte, i int, c *civil) (int, bool) {
	var ok bool
	if c.year, ok = digits(b, i, 4); !ok || i+4 >= len(b) || b[i+4] != '-' {
		return 0, false
	}
	if c.month, ok = digits(b, i+5, 2); !ok || i+7 >= len(b) || b[i+7] != '-' {
		return 0, false
	}
	if c.day, ok = digits(b, i+8, 2); !ok || i+10 >= len(b) {
		return 0, false
	}
	if sep := b[i+10]; sep != 'T' && sep != 't' && sep != ' ' {
		return 0, false
	}
	j, ok := scanClock(b, i+11, c, false)
	if !ok {
		return 0, false
	}
	// .NET's Serilog writes the offset after a space: " +08:00". Only
	// that exact form is taken, so that a space ending the stamp stays one.
	if j+7 <= len(b) && b[j] == ' ' && (b[j+1] == '+' || b[j+1] == '-') && b[j+4] == ':' &&
		(j+7 == len(b) || b[j+7] == ' ') {
		if _, ok := digits(b, j+2, 2); ok {
			if _, ok := digits(b, j+5, 2); ok {
				return scanZone(b, j+1, c)
			}
		}
	}
	return scanZone(b, j, c)
}

// scan3164 reads "Mmm dd hh:mm:ss", "Mmm  d hh:mm:ss", "Mmm d hh:mm:ss" or
// "Mmm dd yyyy hh:mm:ss", each with an optional fraction, at b[i:].
func scan3164(b []byte, i int, c *civil) (int, bool) {
	var ok bool
	if c.month, ok = month(b, i); !ok {
		return 0, false
	}
	j, ok := scanDay(b, i+3, c)
	if !ok {
		return 0, false
	}
	if j+4 < len(b) && b[j+4] == ' ' {
		if c.year, ok = digits(b, j, 4); !ok {
			return 0, false
		}
		j += 5
	} else {
		c.noYear = true
	}
	return scanClock(b, j, c, false)
}

// scanDay reads " dd ", "  d " or " d " at b[i:] and returns the index after
// the trailing space.
func scanDay(b []byte, i int, c *civil) (int, bool) {
	if i+3 > len(b) || b[i] != ' ' {
		return 0, false
	}
	i++
	padded := b[i] == ' '
	if padded {
		i++
	}
	if i >= len(b) || !isDigit(b[i]) {
		return 0, false
	}
	c.day = int(b[i] - '0')
	i++
	if i < len(b) && isDigit(b[i]) {
		if padded { // "  dd" is not a padded day
			return 0, false
		}
		c.day = c.day*10 + int(b[i]-'0')
		i++
	}
	if i >= len(b) || b[i] != ' ' {
		return 0, false
	}
	return i + 1, true
}

// scanCLF reads "10/Oct/2000:13:55:36 -0700" (the zone is optional).
func scanCLF(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.day, ok = digits(b, 0, 2); !ok || len(b) < 12 || b[2] != '/' {
		return 0, false
	}
	if c.month, ok = month(b, 3); !ok || b[6] != '/' {
		return 0, false
	}
	// Kerio Connect writes a space where CLF has a colon.
	if c.year, ok = digits(b, 7, 4); !ok || (b[11] != ':' && b[11] != ' ') {
		return 0, false
	}
	j, ok := scanClock(b, 12, c, false)
	if !ok {
		return 0, false
	}
	if j+1 < len(b) && b[j] == ' ' && (b[j+1] == '+' || b[j+1] == '-') {
		return scanZone(b, j+1, c)
	}
	return j, true
}

// scanApache reads "Wed Oct 11 14:32:52.123456 2000".
func scanApache(b []byte, c *civil) (int, bool) {
	if len(b) < 4 || b[3] != ' ' {
		return 0, false
	}
	for _, ch := range b[:3] {
		if ch|0x20 < 'a' || ch|0x20 > 'z' {
			return 0, false
		}
	}
	var ok bool
	if c.month, ok = month(b, 4); !ok {
		return 0, false
	}
	j, ok := scanDay(b, 7, c)
	if !ok {
		return 0, false
	}
	if j, ok = scanClock(b, j, c, false); !ok || j >= len(b) || b[j] != ' ' {
		return 0, false
	}
	if c.year, ok = digits(b, j+1, 4); !ok {
		return 0, false
	}
	return j + 5, true
}

// scanNginx reads "2000/10/11 14:32:52".
func scanNginx(b []byte, c *civil) (int, bool) { return scanYMD(b, '/', c) }

// scanYMD reads "yyyy<sep>mm<sep>dd hh:mm:ss" with an optional fraction.
func scanYMD(b []byte, sep byte, c *civil) (int, bool) {
	var ok bool
	if c.year, ok = digits(b, 0, 4); !ok || len(b) < 11 || b[4] != sep {
		return 0, false
	}
	if c.month, ok = digits(b, 5, 2); !ok || b[7] != sep {
		return 0, false
	}
	if c.day, ok = digits(b, 8, 2); !ok || len(b) < 11 || b[10] != ' ' {
		return 0, false
	}
	return scanClock(b, 11, c, false)
}

// scanMySQL reads "yymmdd h:mm:ss" or "yyyy-mm-dd h:mm:ss", the hour padded
// with a space or a zero, the date and time separated by one or more spaces.
func scanMySQL(b []byte, c *civil) (int, bool) {
	var ok bool
	var j int
	if len(b) > 6 && b[6] == ' ' {
		yy, ok := digits(b, 0, 2)
		if !ok {
			return 0, false
		}
		c.year = 2000 + yy
		if yy >= 70 {
			c.year = 1900 + yy
		}
		if c.month, ok = digits(b, 2, 2); !ok {
			return 0, false
		}
		if c.day, ok = digits(b, 4, 2); !ok {
			return 0, false
		}
		j = 6
	} else {
		if c.year, ok = digits(b, 0, 4); !ok || len(b) < 11 || b[4] != '-' || b[7] != '-' {
			return 0, false
		}
		if c.month, ok = digits(b, 5, 2); !ok {
			return 0, false
		}
		if c.day, ok = digits(b, 8, 2); !ok {
			return 0, false
		}
		j = 10
	}
	if j >= len(b) || b[j] != ' ' {
		return 0, false
	}
	for j < len(b) && j < 12 && b[j] == ' ' {
		j++
	}
	return scanClock(b, j, c, true)
}

// scanDMY reads "dd-mm-yyyy hh:mm:ss" with an optional " +hhmm" zone.
func scanDMY(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.day, ok = digits(b, 0, 2); !ok || len(b) < 11 || b[2] != '-' {
		return 0, false
	}
	// The month is two digits or, as BIND writes it, a three-letter name.
	i := 5
	if c.month, ok = digits(b, 3, 2); !ok {
		if c.month, ok = month(b, 3); !ok {
			return 0, false
		}
		i = 6
	}
	if len(b) < i+6 || b[i] != '-' || b[i+5] != ' ' {
		return 0, false
	}
	if c.year, ok = digits(b, i+1, 4); !ok {
		return 0, false
	}
	j, ok := scanClock(b, i+6, c, false)
	if !ok {
		return 0, false
	}
	if j+1 < len(b) && b[j] == ' ' && (b[j+1] == '+' || b[j+1] == '-') {
		return scanZone(b, j+1, c)
	}
	return j, true
}

// scanASSP reads "Mmm-dd-yy hh:mm:ss", ASSP's log time; the two-digit
// year is one of 2000-2099.
func scanASSP(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.month, ok = month(b, 0); !ok || len(b) < 11 || b[3] != '-' || b[6] != '-' || b[9] != ' ' {
		return 0, false
	}
	if c.day, ok = digits2(b, 4); !ok {
		return 0, false
	}
	if c.year, ok = digits2(b, 7); !ok {
		return 0, false
	}
	c.year += 2000
	return scanClock(b, 10, c, false)
}

// scanCompact reads "yyyymmdd-hh:mm:ss" (xrdp) or "yyyy:mm:dd-hh:mm:ss"
// (DirectAdmin's login log).
func scanCompact(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.year, ok = digits(b, 0, 4); !ok {
		return 0, false
	}
	i := 4
	if i < len(b) && b[i] == ':' {
		if len(b) < 11 || b[7] != ':' {
			return 0, false
		}
		if c.month, ok = digits2(b, 5); !ok {
			return 0, false
		}
		if c.day, ok = digits2(b, 8); !ok {
			return 0, false
		}
		i = 10
	} else {
		if c.month, ok = digits2(b, 4); !ok {
			return 0, false
		}
		if c.day, ok = digits2(b, 6); !ok {
			return 0, false
		}
		i = 8
	}
	if i >= len(b) || b[i] != '-' {
		return 0, false
	}
	return scanClock(b, i+1, c, false)
}

// zoneAbbrevs are the zone abbreviations scanZoned3164 accepts, with their
// offsets in seconds east of UTC: only those that name one offset (CST, IST
// and the like name several and are refused).
var zoneAbbrevs = map[string]int{
	"UTC": 0, "GMT": 0, "WET": 0, "WEST": 3600, "BST": 3600, "CET": 3600, "CEST": 7200,
	"EET": 7200, "EEST": 10800, "MSK": 10800,
	"EST": -5 * 3600, "EDT": -4 * 3600, "MST": -7 * 3600, "MDT": -6 * 3600,
	"PST": -8 * 3600, "PDT": -7 * 3600, "AKST": -9 * 3600, "AKDT": -8 * 3600, "HST": -10 * 3600,
	"JST": 9 * 3600, "KST": 9 * 3600, "AEST": 10 * 3600, "AEDT": 11 * 3600, "NZST": 12 * 3600, "NZDT": 13 * 3600,
}

// scanZoned3164 reads "ZONE Mmm dd hh:mm:ss" (Monit's log): a zone
// abbreviation of zoneAbbrevs, a space, then a year-less RFC 3164 stamp.
func scanZoned3164(b []byte, c *civil) (int, bool) {
	i := 0
	for i < len(b) && i < 5 && b[i] >= 'A' && b[i] <= 'Z' {
		i++
	}
	if i < 3 || i >= len(b) || b[i] != ' ' {
		return 0, false
	}
	off, ok := zoneAbbrevs[string(b[:i])] // no allocation: the compiler looks up without a copy
	if !ok {
		return 0, false
	}
	end, ok := scan3164(b, i+1, c)
	if !ok {
		return 0, false
	}
	c.hasZone, c.off = true, off
	return end, true
}

// scanMDY reads "mm/dd/yyyy hh:mm:ss" or, as Half-Life servers write it,
// "mm/dd/yyyy - hh:mm:ss".
func scanMDY(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.month, ok = digits2(b, 0); !ok || len(b) < 11 || b[2] != '/' || b[5] != '/' || b[10] != ' ' {
		return 0, false
	}
	if c.day, ok = digits2(b, 3); !ok {
		return 0, false
	}
	if c.year, ok = digits(b, 6, 4); !ok {
		return 0, false
	}
	i := 11
	if i+1 < len(b) && b[i] == '-' && b[i+1] == ' ' {
		i += 2
	}
	return scanClock(b, i, c, false)
}

// scanJava reads "Mmm d, yyyy h:mm:ss AM" (month name in any case, day and
// hour of one or two digits, AM or PM).
func scanJava(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.month, ok = month(b, 0); !ok || len(b) < 4 || b[3] != ' ' {
		return 0, false
	}
	i := 4
	c.day = 0
	for n := 0; n < 2 && i < len(b) && isDigit(b[i]); n++ {
		c.day = c.day*10 + int(b[i]-'0')
		i++
	}
	if i == 4 || i+2 > len(b) || b[i] != ',' || b[i+1] != ' ' {
		return 0, false
	}
	if c.year, ok = digits(b, i+2, 4); !ok || i+6 >= len(b) || b[i+6] != ' ' {
		return 0, false
	}
	j, ok := scanClock(b, i+7, c, true)
	if !ok || j+3 > len(b) || b[j] != ' ' || b[j+2]|0x20 != 'm' || c.hour < 1 || c.hour > 12 {
		return 0, false
	}
	switch b[j+1] | 0x20 {
	case 'a':
		if c.hour == 12 {
			c.hour = 0
		}
	case 'p':
		if c.hour != 12 {
			c.hour += 12
		}
	default:
		return 0, false
	}
	return j + 3, true
}

// scanMonthDay reads "mm-dd hh:mm:ss" with an optional fraction; the year
// is inferred.
func scanMonthDay(b []byte, c *civil) (int, bool) {
	var ok bool
	if c.month, ok = digits2(b, 0); !ok || len(b) < 6 || b[2] != '-' || b[5] != ' ' {
		return 0, false
	}
	if c.day, ok = digits2(b, 3); !ok {
		return 0, false
	}
	c.noYear = true
	return scanClock(b, 6, c, false)
}

// scanUnix reads "seconds[.fraction]" since the epoch.
func scanUnix(b []byte) (time.Time, bool) {
	var sec int64
	i := 0
	for i < len(b) && isDigit(b[i]) {
		if i >= 12 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || sec > maxUnixSec {
		return time.Time{}, false
	}
	var c civil
	j, _ := scanFrac(b, i, &c)
	if j != len(b) {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(c.nsec)), true
}

// scanUnixMilli reads milliseconds since the epoch.
func scanUnixMilli(b []byte) (time.Time, bool) {
	if len(b) == 0 || len(b) > 15 {
		return time.Time{}, false
	}
	var ms int64
	for _, ch := range b {
		if !isDigit(ch) {
			return time.Time{}, false
		}
		ms = ms*10 + int64(ch-'0')
	}
	if ms/1000 > maxUnixSec {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// tai64Epoch is the TAI64 label of 1970-01-01T00:00:00Z as daemontools and
// s6 write it (2^62 + 10 s of TAI−UTC offset; leap seconds are ignored).
const tai64Epoch = 0x400000000000000a

// scanTAI64N reads "@" and 24 hex digits: 16 of TAI64 seconds, 8 of nanoseconds.
func scanTAI64N(b []byte) (time.Time, bool) {
	if len(b) != 25 || b[0] != '@' {
		return time.Time{}, false
	}
	var v [2]uint64
	for k, ch := range b[1:] {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return time.Time{}, false
		}
		w := 0
		if k >= 16 {
			w = 1
		}
		v[w] = v[w]<<4 | uint64(d)
	}
	if v[0] < tai64Epoch || v[0]-tai64Epoch > maxUnixSec || v[1] > 999999999 {
		return time.Time{}, false
	}
	return time.Unix(int64(v[0]-tai64Epoch), int64(v[1])), true
}

// TimePrefix returns the length of the timestamp in layout l at the very
// start of b, or 0 when b does not start with one. Only the layouts with a
// fixed shape are supported (clf, iso8601, apache, nginx, rfc3164, mysql,
// dmy, monthday); the calendar is checked (no Feb 30, no 25:00). It is how a line
// shows that it starts a record of a log whose records all begin with a
// time. It does not allocate.
func TimePrefix(l Layout, b []byte) int {
	var c civil
	var end int
	var ok bool
	switch l {
	case LayoutCLF:
		end, ok = scanCLF(b, &c)
	case LayoutISO8601:
		end, ok = scanISO(b, 0, &c)
	case LayoutApache:
		end, ok = scanApache(b, &c)
	case LayoutNginx:
		end, ok = scanNginx(b, &c)
	case LayoutRFC3164:
		end, ok = scan3164(b, 0, &c)
	case LayoutMySQL:
		end, ok = scanMySQL(b, &c)
	case LayoutDMY:
		end, ok = scanDMY(b, &c)
	case LayoutMonthDay:
		end, ok = scanMonthDay(b, &c)
	}
	if !ok || !c.valid() {
		return 0
	}
	return end
}
