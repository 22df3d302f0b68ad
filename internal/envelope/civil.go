package envelope

import (
	"math"
	"time"
)

// civil is a broken-down timestamp as read from a line, before validation.
// noYear asks for year inference from the Parser's Reference.
type civil struct {
	noYear               bool
	noDate               bool // a clock alone: the date is inferred too
	year, month, day     int
	hour, min, sec, nsec int
	hasZone              bool
	off                  int // seconds east of UTC when hasZone
}

// Bounds of what build accepts: years 1..9999, which keeps every Unix second
// count far from overflow.
const (
	maxYear    = 9999
	maxUnixSec = 253402300799 // 9999-12-31T23:59:59Z
	dstMargin  = 4 * 3600     // no zone transition moves clocks by more than this
)

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(m, y int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm), for y in
// 1..maxYear; unsigned arithmetic lets the divisions become multiplications.
func daysFromCivil(y, m, d int) int64 {
	yy, mp := uint(y), uint(m-3)
	if m <= 2 {
		yy--
		mp = uint(m + 9)
	}
	era := yy / 400
	yoe := yy - era*400
	doy := (153*mp+2)/5 + uint(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468
}

// build validates c and turns it into a time. Out-of-range fields are
// refused, never normalised. It does not allocate once the Parser's zone
// caches are warm.
func (p *Parser) build(c *civil) (time.Time, bool) {
	if c.noDate {
		return p.buildClock(c)
	}
	if c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31 ||
		c.hour < 0 || c.hour > 23 || c.min < 0 || c.min > 59 || c.sec < 0 || c.sec > 59 ||
		c.nsec < 0 || c.nsec > 999999999 {
		return time.Time{}, false
	}
	if !c.noYear {
		if c.year < 1 || c.year > maxYear || c.day > daysIn(c.month, c.year) {
			return time.Time{}, false
		}
		return p.mk(c.year, localSeconds(c.year, c), c), true
	}
	// Year inference: the Reference's year, or the one before when that
	// would put the stamp more than a day after the Reference.
	// The comparison is made on wall-clock seconds, so it costs no zone
	// lookup; a DST shift of the day-long margin does not matter.
	y := p.refYear
	if c.day <= daysIn(c.month, y) {
		if local := localSeconds(y, c); local <= p.refLocal+86400 {
			return p.mk(y, local, c), true
		}
	}
	y--
	if y < 1 || c.day > daysIn(c.month, y) {
		return time.Time{}, false
	}
	return p.mk(y, localSeconds(y, c), c), true
}

// clockMargin is how far after the Reference a clock-only stamp may be and
// still be read on the Reference's day (clock skew between writer and
// reader); later, it is the day before's.
const clockMargin = 10 * 60

// buildClock dates a clock-only stamp: the Reference's day, or the day
// before when that would put the stamp more than clockMargin after the
// Reference (a log is read after it is written).
func (p *Parser) buildClock(c *civil) (time.Time, bool) {
	if c.hour < 0 || c.hour > 23 || c.min < 0 || c.min > 59 || c.sec < 0 || c.sec > 59 || c.nsec < 0 || c.nsec > 999999999 {
		return time.Time{}, false
	}
	day := p.refLocal / 86400
	if p.refLocal < 0 && p.refLocal%86400 != 0 {
		day--
	}
	local := day*86400 + int64(c.hour*3600+c.min*60+c.sec)
	if local > p.refLocal+clockMargin {
		local -= 86400
	}
	y, m, d := time.Unix(local, 0).UTC().Date()
	if y < 1 || y > maxYear {
		return time.Time{}, false
	}
	c.year, c.month, c.day = y, int(m), d
	return p.mk(y, local, c), true
}

// localSeconds returns c's wall-clock time in year y as seconds since
// 1970-01-01 00:00:00 of the same wall clock.
func localSeconds(y int, c *civil) int64 {
	return daysFromCivil(y, c.month, c.day)*86400 + int64(c.hour*3600+c.min*60+c.sec)
}

// mk builds the time for a validated civil in year y, whose wall-clock
// seconds are local.
func (p *Parser) mk(y int, local int64, c *civil) time.Time {
	if c.hasZone {
		return time.Unix(local-int64(c.off), int64(c.nsec)).In(p.fixedZone(c.off))
	}
	if p.loc == time.UTC {
		return time.Unix(local, int64(c.nsec)).UTC()
	}
	z := &p.zone
	if z.ok {
		u := local - z.off
		if u >= z.lo && u < z.hi {
			return time.Unix(u, int64(c.nsec)).In(p.loc)
		}
	}
	t := time.Date(y, time.Month(c.month), c.day, c.hour, c.min, c.sec, c.nsec, p.loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	z.ok, z.off, z.lo, z.hi = true, int64(off), math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		z.lo = start.Unix() + dstMargin
	}
	if !end.IsZero() {
		z.hi = end.Unix() - dstMargin
	}
	return t
}

// zoneCache remembers the offset of p.loc over a span of instants, kept
// dstMargin away from the span's transitions so that a local time inside it
// has exactly one reading: the cache then gives the same answer time.Date
// would, without its two zone lookups.
type zoneCache struct {
	ok     bool
	off    int64
	lo, hi int64 // Unix seconds
}

// fixedZone returns a *time.Location for an explicit UTC offset, from a small
// cache so that steady input does not allocate.
func (p *Parser) fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	for i := range p.fixed {
		if p.fixed[i].loc != nil && p.fixed[i].off == off {
			return p.fixed[i].loc
		}
	}
	l := time.FixedZone("", off)
	p.fixed[p.nextFixed] = fixedEntry{off: off, loc: l}
	p.nextFixed = (p.nextFixed + 1) % len(p.fixed)
	return l
}

type fixedEntry struct {
	off int
	loc *time.Location
}

// valid reports whether c's fields name a possible time (Feb 29 only in a
// leap year when the year is known; any year allows it otherwise).
func (c *civil) valid() bool {
	if c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31 ||
		c.hour < 0 || c.hour > 23 || c.min < 0 || c.min > 59 || c.sec < 0 || c.sec > 59 ||
		c.nsec < 0 || c.nsec > 999999999 {
		return false
	}
	if c.noYear {
		return c.day <= daysIn(c.month, 2000)
	}
	return c.year >= 1 && c.year <= maxYear && c.day <= daysIn(c.month, c.year)
}
