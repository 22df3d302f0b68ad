package textmatch

// timeLayout identifies the shape of a %{time:LAYOUT} capture. The shapes
// mirror the layouts internal/envelope converts; textmatch only finds the
// extent, the caller converts (and may reject) the text.
type timeLayout uint8

const (
	tlCLF timeLayout = iota + 1
	tlISO8601
	tlApache
	tlNginx
	tlRFC3164
	tlUnix
	tlMySQL
	tlDMY
	tlTAI64N
	tlASSP
	tlCompact
	tlZoned3164
	tlMDY
	tlMonthDay
	tlDotted
	tlClock
	tlJava
)

func timeLayoutByName(name string) (timeLayout, bool) {
	switch name {
	case "clf":
		return tlCLF, true
	case "iso8601", "rfc3339":
		return tlISO8601, true
	case "apache":
		return tlApache, true
	case "nginx":
		return tlNginx, true
	case "rfc3164":
		return tlRFC3164, true
	case "unix":
		return tlUnix, true
	case "mysql":
		return tlMySQL, true
	case "dmy", "3proxy":
		return tlDMY, true
	case "tai64n":
		return tlTAI64N, true
	case "assp":
		return tlASSP, true
	case "compact":
		return tlCompact, true
	case "zoned3164":
		return tlZoned3164, true
	case "mdy":
		return tlMDY, true
	case "monthday":
		return tlMonthDay, true
	case "dotted":
		return tlDotted, true
	case "clock":
		return tlClock, true
	case "java":
		return tlJava, true
	}
	return 0, false
}

// shape is a cursor over b that fails sticky: once a step fails, every
// later step fails too and end reports -1.
type shape struct {
	b  []byte
	i  int
	ok bool
}

func (s *shape) digits(min, max int) {
	if !s.ok {
		return
	}
	n := 0
	for s.i+n < len(s.b) && n < max && isDigit(s.b[s.i+n]) {
		n++
	}
	if n < min {
		s.ok = false
		return
	}
	s.i += n
}

func (s *shape) letters(n int) {
	if !s.ok {
		return
	}
	for k := 0; k < n; k++ {
		if s.i+k >= len(s.b) || !isLetter(s.b[s.i+k]) {
			s.ok = false
			return
		}
	}
	s.i += n
}

func (s *shape) lit(c byte) {
	if !s.ok {
		return
	}
	if s.i >= len(s.b) || s.b[s.i] != c {
		s.ok = false
		return
	}
	s.i++
}

// spaces consumes min..max spaces.
func (s *shape) spaces(min, max int) {
	if !s.ok {
		return
	}
	n := 0
	for s.i+n < len(s.b) && n < max && s.b[s.i+n] == ' ' {
		n++
	}
	if n < min {
		s.ok = false
		return
	}
	s.i += n
}

// peek reports whether the byte at the cursor is c.
func (s *shape) peek(c byte) bool { return s.ok && s.i < len(s.b) && s.b[s.i] == c }

// try runs f on a copy and keeps its progress only if it succeeded: an
// optional part of a shape.
func (s *shape) try(f func(*shape)) {
	if !s.ok {
		return
	}
	c := *s
	f(&c)
	if c.ok {
		*s = c
	}
}

func (s *shape) clock() {
	s.digits(2, 2)
	s.lit(':')
	s.digits(2, 2)
	s.lit(':')
	s.digits(2, 2)
}

func (s *shape) frac() {
	s.try(func(s *shape) { s.lit('.'); s.digits(1, 9) })
}

// numZone is " +0100" style, optional.
func (s *shape) numZone() {
	s.try(func(s *shape) {
		s.lit(' ')
		if !s.peek('+') {
			s.lit('-')
		} else {
			s.lit('+')
		}
		s.digits(4, 4)
	})
}

func (s *shape) end() int {
	if !s.ok {
		return -1
	}
	return s.i
}

// scanTime returns the end of the timestamp of layout l starting at
// msg[pos], or -1 if none starts there. Optional parts are taken when present.
func scanTime(l timeLayout, msg []byte, pos int) int {
	s := shape{b: msg, i: pos, ok: true}
	switch l {
	case tlCLF: // 10/Oct/2000:13:55:36 -0700
		s.digits(1, 2)
		s.lit('/')
		s.letters(3)
		s.lit('/')
		s.digits(4, 4)
		s.lit(':')
		s.clock()
		s.numZone()
	case tlISO8601: // 2000-10-11T14:32:52.123+01:00
		s.digits(4, 4)
		s.lit('-')
		s.digits(2, 2)
		s.lit('-')
		s.digits(2, 2)
		if !s.peek('T') {
			s.lit(' ')
		} else {
			s.lit('T')
		}
		s.clock()
		s.frac()
		switch {
		case s.peek('Z'):
			s.lit('Z')
		case s.peek('+') || s.peek('-'):
			s.try(func(s *shape) {
				s.i++
				s.digits(2, 2)
				s.try(func(s *shape) {
					if s.peek(':') {
						s.lit(':')
					}
					s.digits(2, 2)
				})
			})
		}
	case tlApache: // Wed Oct 11 14:32:52.123456 2000
		s.letters(3)
		s.lit(' ')
		s.letters(3)
		s.spaces(1, 2)
		s.digits(1, 2)
		s.lit(' ')
		s.clock()
		s.frac()
		s.lit(' ')
		s.digits(4, 4)
	case tlNginx: // 2000/10/11 14:32:52
		s.digits(4, 4)
		s.lit('/')
		s.digits(2, 2)
		s.lit('/')
		s.digits(2, 2)
		s.lit(' ')
		s.clock()
	case tlRFC3164: // Oct 11 14:32:52, Oct  1 14:32:52, Oct 11 2000 14:32:52
		s.letters(3)
		s.spaces(1, 2)
		s.digits(1, 2)
		s.lit(' ')
		s.try(func(s *shape) { s.digits(4, 4); s.lit(' ') })
		s.clock()
		s.frac()
	case tlUnix: // 1700000000.123
		s.digits(1, 19)
		s.frac()
	case tlMySQL: // 190501 12:00:00, 190501  2:00:00, 2019-05-01 12:00:00
		s.spaces(0, 1)
		if s.ok && s.i+4 < len(msg) && msg[s.i+4] == '-' {
			s.digits(4, 4)
			s.lit('-')
			s.digits(2, 2)
			s.lit('-')
			s.digits(2, 2)
		} else {
			s.digits(6, 6)
		}
		s.spaces(1, 2)
		s.digits(1, 2)
		s.lit(':')
		s.digits(2, 2)
		s.lit(':')
		s.digits(2, 2)
	case tlDMY: // 11-06-2013 02:09:40 +0300, 11-Aug-2013 03:36:11.372
		s.digits(2, 2)
		s.lit('-')
		if s.ok && s.i < len(msg) && isLetter(msg[s.i]) {
			s.letters(3)
		} else {
			s.digits(2, 2)
		}
		s.lit('-')
		s.digits(4, 4)
		s.lit(' ')
		s.clock()
		s.frac()
		s.numZone()
	case tlASSP: // Apr-07-13 07:08:36
		s.letters(3)
		s.lit('-')
		s.digits(2, 2)
		s.lit('-')
		s.digits(2, 2)
		s.lit(' ')
		s.clock()
	case tlCompact: // 20220407-12:11:06, 2014:07:02-00:17:45
		s.digits(4, 4)
		if s.ok && s.i < len(msg) && msg[s.i] == ':' {
			s.lit(':')
			s.digits(2, 2)
			s.lit(':')
			s.digits(2, 2)
		} else {
			s.digits(4, 4)
		}
		s.lit('-')
		s.clock()
	case tlZoned3164: // PDT Apr 16 21:05:29
		n := 0
		for s.i+n < len(msg) && n < 5 && msg[s.i+n] >= 'A' && msg[s.i+n] <= 'Z' {
			n++
		}
		if n < 3 {
			s.ok = false
		}
		s.i += n
		s.lit(' ')
		s.letters(3)
		s.spaces(1, 2)
		s.digits(1, 2)
		s.lit(' ')
		s.clock()
	case tlMDY: // 10/06/2013 15:50:41, 01/01/2014 - 01:25:17
		s.digits(2, 2)
		s.lit('/')
		s.digits(2, 2)
		s.lit('/')
		s.digits(4, 4)
		s.lit(' ')
		s.try(func(s *shape) { s.lit('-'); s.lit(' ') })
		s.clock()
	case tlMonthDay: // 08-03 07:56:53.026292
		s.digits(2, 2)
		s.lit('-')
		s.digits(2, 2)
		s.lit(' ')
		s.clock()
		s.frac()
	case tlDotted: // 2011.11.21 14:29:16
		s.digits(4, 4)
		s.lit('.')
		s.digits(2, 2)
		s.lit('.')
		s.digits(2, 2)
		s.lit(' ')
		s.clock()
		s.frac()
	case tlClock: // 12:57:32.907
		s.clock()
		s.frac()
	case tlJava: // Apr 15, 2013 8:34:08 PM
		s.letters(3)
		s.lit(' ')
		s.digits(1, 2)
		s.lit(',')
		s.lit(' ')
		s.digits(4, 4)
		s.lit(' ')
		s.digits(1, 2)
		s.lit(':')
		s.digits(2, 2)
		s.lit(':')
		s.digits(2, 2)
		s.lit(' ')
		s.letters(1)
		s.lit('M')
	case tlTAI64N: // @4000000053b2c8a60b1a2c3d
		s.lit('@')
		for k := 0; k < 24 && s.ok; k++ {
			if s.i >= len(msg) || !isHex(msg[s.i]) {
				s.ok = false
			}
			s.i++
		}
	default:
		return -1
	}
	return s.end()
}
