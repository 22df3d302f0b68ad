package scenario

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// filter is a compiled rules.FilterSpec: every check is precomputed so that
// matching an event compares integers and short strings and never allocates.
// Text criteria on paths, queries and user agents hold lowercase needles and
// are compared against lowercase, percent-decoded views of the event that the
// engine prepares once per event (see view).
type filter struct {
	services   []string
	reasons    []string
	notReasons []string
	methods    []string
	notMethods []string
	notProtos  []string // the event has a protocol and it is none of these
	withUser   bool
	users      []userPattern // the event's user is one of these

	statusSet  bool       // a Status or StatusClasses criterion exists
	status     [16]uint64 // bit s set: status s (0..1023) accepted
	statusMask uint16     // bit c set: any cXX status accepted

	pathContains    [][]byte // lowercase, matched against the decoded path (query stripped)
	pathSuffix      [][]byte // lowercase, matched against the decoded path (query stripped)
	notPathSuffix   [][]byte
	notPathContains [][]byte // lowercase, matched against the decoded path (query stripped)

	pathSuffixes, notPathSuffixes  suffixSet
	queryContains                  [][]byte       // lowercase, matched against the decoded query ('+' is a space)
	queryDigitsMin, queryDigitsMax int            // the query is digits only, this many; max 0: no criterion
	pathRe                         *regexp.Regexp // matched against the decoded target (path, '?', query), case-insensitively
	rePrefilter                    [][]byte       // one of these occurs in any target pathRe matches; nil: no prefilter
	reBit                          uint64         // this filter's bit in the engine's literal scan; 0: run pathRe always
	uaContains                     [][]byte       // lowercase, matched against the lowercased User-Agent
	refContains                    [][]byte       // lowercase, matched against the Referer case-insensitively

	// Bits of this filter in the engine's one-pass literal scans of the
	// path, the query and the user agent; 0: test its needles one by one.
	pathBit, queryBit, uaBit uint64

	needView bool // some criterion reads the decoded path or query
	needUA   bool

	// GeoIP criteria, on Event.Geo (filled by the caller when NeedsGeo).
	countries, notCountries []string
	asns, notASNs           []uint32

	// unless_user_seen_ok (known.go): the event does not match when its
	// user logged in successfully within unlessSeen nanoseconds in family.
	unlessSeen int64
	family     uint64
	known      *knownUsers // set by Engine.setupKnown when unlessSeen > 0
}

// needsGeo reports whether f reads Event.Geo.
func (f *filter) needsGeo() bool {
	return len(f.countries)+len(f.notCountries)+len(f.asns)+len(f.notASNs) > 0
}

func compileFilter(f rules.FilterSpec) (filter, error) {
	c := filter{
		services:        nonEmpty(f.Services),
		reasons:         nonEmpty(f.Reasons),
		notReasons:      nonEmpty(f.NotReasons),
		methods:         nonEmpty(f.Methods),
		notMethods:      nonEmpty(f.NotMethods),
		notProtos:       nonEmpty(f.NotProtocols),
		withUser:        f.WithUser,
		users:           compileUsers(f.Users),
		notPathContains: lowerAll(f.NotPathContains),
		pathContains:    lowerAll(f.PathContains),
		pathSuffix:      lowerAll(f.PathSuffix),
		notPathSuffix:   lowerAll(f.NotPathSuffix),
		queryContains:   lowerAll(f.QueryContains),
		uaContains:      lowerAll(f.UserAgentContains),
		refContains:     lowerAll(f.RefererContains),
		countries:       nonEmpty(f.Countries),
		notCountries:    nonEmpty(f.NotCountries),
		asns:            f.ASNs,
		notASNs:         f.NotASNs,
		unlessSeen:      int64(f.UnlessUserSeenOK),
	}
	if f.UnlessUserSeenOK < 0 || f.UnlessUserSeenOK > maxDuration {
		return filter{}, fmt.Errorf("filter: unless_user_seen_ok %v is not between 0 and %v", f.UnlessUserSeenOK, maxDuration)
	}
	for _, s := range f.Status {
		if s < 100 || s > 999 {
			return filter{}, fmt.Errorf("filter: status %d is not an HTTP status", s)
		}
		c.status[s/64] |= 1 << (s % 64)
		c.statusSet = true
	}
	for _, cl := range f.StatusClasses {
		if cl < 1 || cl > 9 {
			return filter{}, fmt.Errorf("filter: status class %d is not 1..9", cl)
		}
		c.statusMask |= 1 << cl
		c.statusSet = true
	}
	if f.PathRegexp != "" {
		re, err := compileLowered(f.PathRegexp)
		if err != nil {
			return filter{}, fmt.Errorf("filter: path regexp: %w", err)
		}
		c.pathRe = re
		c.rePrefilter = regexpPrefilter(f.PathRegexp)
	}
	c.pathSuffixes = newSuffixSet(c.pathSuffix)
	c.notPathSuffixes = newSuffixSet(c.notPathSuffix)
	if len(f.QueryDigits) == 2 {
		c.queryDigitsMin, c.queryDigitsMax = f.QueryDigits[0], f.QueryDigits[1]
	}
	c.needView = len(c.pathContains)+len(c.pathSuffix)+len(c.notPathSuffix)+len(c.notPathContains)+len(c.queryContains) > 0 ||
		c.pathRe != nil || c.queryDigitsMax > 0
	c.needUA = len(c.uaContains) > 0
	return c, nil
}

// userPattern is one entry of a filter's users: a lowercase name, compared
// with the whole user name when it holds '@' and with the local part (up to
// the last '@') otherwise, as a prefix when it ended with '*'.
type userPattern struct {
	name   []byte
	whole  bool // compare the whole user name, domain included
	prefix bool // the entry ended with '*': name is a prefix
}

func compileUsers(in []string) []userPattern {
	var out []userPattern
	for _, u := range in {
		if u == "" {
			continue
		}
		p := userPattern{whole: strings.Contains(u, "@")}
		if strings.HasSuffix(u, "*") {
			p.prefix, u = true, u[:len(u)-1]
		}
		p.name = []byte(strings.ToLower(u))
		out = append(out, p)
	}
	return out
}

// matchUser reports whether user, ASCII case folded, matches one of pats. It
// does not allocate.
func matchUser(pats []userPattern, user []byte) bool {
	local := user
	if i := bytes.LastIndexByte(user, '@'); i >= 0 {
		local = user[:i]
	}
	for _, p := range pats {
		u := local
		if p.whole {
			u = user
		}
		if p.prefix && len(u) >= len(p.name) && foldEqual(u[:len(p.name)], p.name) ||
			!p.prefix && len(u) == len(p.name) && foldEqual(u, p.name) {
			return true
		}
	}
	return false
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func lowerAll(in []string) [][]byte {
	var out [][]byte
	for _, s := range in {
		if s != "" {
			out = append(out, []byte(strings.ToLower(s)))
		}
	}
	return out
}

// compileLowered compiles expr to match case-insensitively against text that
// is already ASCII-lowercased (the view's decoded target): ASCII letters in
// literals are lowered and lose their case-folding flag, which spares the
// matcher Unicode case folding on every rune. Literals with other letters
// keep folding; character classes keep both cases (a harmless superset).
func compileLowered(expr string) (*regexp.Regexp, error) {
	re, err := syntax.Parse(expr, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil, err
	}
	lowerLiterals(re)
	return regexp.Compile(re.String())
}

func lowerLiterals(re *syntax.Regexp) {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		ascii := true
		for _, r := range re.Rune {
			ascii = ascii && r < utf8.RuneSelf
		}
		if ascii {
			for i, r := range re.Rune {
				if 'A' <= r && r <= 'Z' {
					re.Rune[i] = r + 'a' - 'A'
				}
			}
			re.Flags &^= syntax.FoldCase
		}
	}
	for _, sub := range re.Sub {
		lowerLiterals(sub)
	}
}

// regexpPrefilter returns literals (lowercase ASCII) one of which occurs in
// every text the case-insensitive expr matches, or nil when it cannot tell.
// Testing them first skips the regular expression for almost every request.
// textmatch's Prefilter is not this: it keeps one case-sensitive literal for
// raw log lines, and gives up on alternations ("select|union" has none there,
// here the set {select, union}; "/\.(env|git)" gives "/." there, here
// {/.env, /.git}).
func regexpPrefilter(expr string) [][]byte {
	re, err := syntax.Parse(expr, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil
	}
	lits, ok := requiredLiterals(re.Simplify())
	if !ok {
		return nil
	}
	out := make([][]byte, len(lits))
	for i, l := range lits {
		out[i] = []byte(l)
	}
	return out
}

// requiredLiterals returns a set of literals one of which every match of re
// contains, and false when there is no useful set.
func requiredLiterals(re *syntax.Regexp) ([]string, bool) {
	lits, _ := literalSets(re)
	if len(lits) == 0 || len(lits) > maxLiterals {
		return nil, false
	}
	for _, l := range lits {
		if l == "" {
			return nil, false
		}
	}
	return lits, true
}

const maxLiterals = 256

// literalSets returns a set of literals one of which every match of re
// contains (nil when it cannot tell), and whether the set is exact: every
// match of re is one of them, whole. Exact sets of consecutive parts of a
// concatenation multiply into longer literals ("/." then "env|git" gives
// "/.env|/.git"), which make far better prefilters. Literals are lowercase
// ASCII; the expression is case-insensitive.
func literalSets(re *syntax.Regexp) (lits []string, exact bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 { // the target is lowercased as ASCII only
				return nil, false
			}
		}
		return []string{strings.ToLower(s)}, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpCapture:
		return literalSets(re.Sub[0])
	case syntax.OpCharClass:
		// A small class ([Pp] from case folding, [-_], [0-9] is not small)
		// is a set of one-byte literals, which keeps a concatenation's run
		// of exact parts going.
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r >= 0x80 || len(set) > 4 {
					return nil, false
				}
				l := strings.ToLower(string(r))
				if !slices.Contains(set, l) {
					set = append(set, l)
				}
			}
		}
		if len(set) == 0 || len(set) > 4 {
			return nil, false
		}
		return set, true
	case syntax.OpQuest:
		if lits, exact := literalSets(re.Sub[0]); exact && len(lits) < maxLiterals {
			return append(lits, ""), true
		}
		return []string{""}, false
	case syntax.OpPlus:
		lits, _ := literalSets(re.Sub[0])
		return lits, false
	case syntax.OpRepeat:
		if re.Min >= 1 {
			lits, exact := literalSets(re.Sub[0])
			return lits, exact && re.Min == 1 && re.Max == 1
		}
	case syntax.OpConcat:
		var best []string
		consider := func(set []string) {
			if len(set) == 0 || len(set) > maxLiterals {
				return
			}
			if best == nil || score(set) > score(best) {
				best = set
			}
		}
		allExact := true
		var run []string // product of the current run of exact parts
		for _, sub := range re.Sub {
			lits, exact := literalSets(sub)
			if !exact {
				allExact = false
				consider(run)
				consider(lits)
				run = nil
				continue
			}
			if run == nil {
				run = lits
				continue
			}
			if len(run)*len(lits) > maxLiterals {
				consider(run)
				allExact = false // the product is no longer kept whole
				run = lits
				continue
			}
			next := make([]string, 0, len(run)*len(lits))
			for _, x := range run {
				for _, y := range lits {
					next = append(next, x+y)
				}
			}
			run = next
		}
		if allExact {
			return run, true
		}
		consider(run)
		return best, false
	case syntax.OpAlternate:
		var all []string
		exact := true
		for _, sub := range re.Sub {
			lits, ex := literalSets(sub)
			if len(lits) == 0 {
				return nil, false
			}
			exact = exact && ex
			all = append(all, lits...)
		}
		if len(all) > maxLiterals {
			return nil, false
		}
		return all, exact
	}
	return nil, false
}

// score rates a literal set as a prefilter: how rare in URLs its most common
// member is (each byte weighs the more the rarer it is, so "'" beats "or"),
// then fewer members.
func score(set []string) int {
	worst := math.MaxInt
	for _, l := range set {
		r := 0
		for i := 0; i < len(l); i++ {
			if c := commonness(l[i]); c == 1 {
				r += 16 // punctuation such as ' < ( ~ is rare in URLs: one beats a short word
			} else {
				r += 10 - c
			}
		}
		worst = min(worst, r)
	}
	return worst*1024 - len(set)
}

// match reports whether ev passes every criterion of f. v is the engine's
// per-event view of the decoded path, prepared on first use.
func (f *filter) match(ev *event.Event, v *view) bool {
	if f.services != nil && !hasString(f.services, ev.Service) {
		return false
	}
	return f.matchRest(ev, v)
}

// matchRest is match without the services criterion, for the engine,
// whose dispatch by service already applied it.
func (f *filter) matchRest(ev *event.Event, v *view) bool {
	if f.reasons != nil && !hasString(f.reasons, ev.Reason) {
		return false
	}
	if f.notReasons != nil && hasString(f.notReasons, ev.Reason) {
		return false
	}
	if f.statusSet {
		s := ev.Status
		inSet := s < 1024 && f.status[s/64]&(1<<(s%64)) != 0
		inClass := s >= 100 && s < 1000 && f.statusMask&(1<<(s/100)) != 0
		if !inSet && !inClass {
			return false
		}
	}
	if f.methods != nil {
		ok := false
		for _, m := range f.methods {
			if string(ev.Method) == m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, m := range f.notMethods {
		if string(ev.Method) == m {
			return false
		}
	}
	if f.notProtos != nil && (len(ev.Proto) == 0 || hasString(f.notProtos, string(ev.Proto))) {
		return false
	}
	if f.withUser && len(ev.User) == 0 {
		return false
	}
	if f.users != nil && !matchUser(f.users, ev.User) {
		return false
	}
	if f.countries != nil && !hasString(f.countries, ev.Geo.Country) {
		return false
	}
	if f.notCountries != nil && hasString(f.notCountries, ev.Geo.Country) {
		return false
	}
	if f.asns != nil && !slices.Contains(f.asns, ev.Geo.ASN) {
		return false
	}
	if f.notASNs != nil && slices.Contains(f.notASNs, ev.Geo.ASN) {
		return false
	}
	if f.needView {
		v.prepare(ev.Path)
		if f.queryDigitsMax > 0 && !allDigits(v.query(), f.queryDigitsMin, f.queryDigitsMax) {
			return false
		}
		path := v.path()
		if f.pathContains != nil && !v.has(inPath, f.pathBit, path, f.pathContains) {
			return false
		}
		if f.pathSuffix != nil && !f.pathSuffixes.any(path) {
			return false
		}
		if f.notPathSuffix != nil && f.notPathSuffixes.any(path) {
			return false
		}
		if f.notPathContains != nil && containsAny(path, f.notPathContains) {
			return false
		}
		if f.queryContains != nil && !v.has(inQuery, f.queryBit, v.query(), f.queryContains) {
			return false
		}
		if f.pathRe != nil && (f.reBit != 0 && v.scan()[anywhere]&f.reBit == 0 || !f.pathRe.Match(v.buf)) {
			return false
		}
	}
	if f.refContains != nil && !containsAnyFold(ev.Referer, f.refContains) {
		return false
	}
	if f.needUA {
		if f.uaBit != 0 {
			if v.uaMatches(ev.UserAgent)&f.uaBit == 0 {
				return false
			}
		} else if !containsAny(v.userAgent(ev.UserAgent), f.uaContains) {
			return false
		}
	}
	if f.known != nil && f.known.seen(f.family, ev.User, ev.Time.UnixNano(), f.unlessSeen) {
		return false
	}
	return true
}

// allDigits reports whether q is min to max decimal digits.
func allDigits(q []byte, min, max int) bool {
	if len(q) < min || len(q) > max {
		return false
	}
	for _, c := range q {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func hasString(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// containsAnyFold reports whether one of needles (lowercase ASCII) occurs
// in b, ASCII case folded. It does not allocate; it is for rare fields
// (the Referer), read only by the filters that name them. A needle that
// starts with a byte that is not a letter ("${jndi:") is looked for with
// bytes.IndexByte, which skips most of b at once.
func containsAnyFold(b []byte, needles [][]byte) bool {
	for _, n := range needles {
		c0 := n[0]
		letter := 'a' <= c0 && c0 <= 'z'
		for i := 0; i+len(n) <= len(b); i++ {
			if !letter {
				k := bytes.IndexByte(b[i:len(b)-len(n)+1], c0)
				if k < 0 {
					break
				}
				i += k
			}
			if foldEqual(b[i:i+len(n)], n) {
				return true
			}
		}
	}
	return false
}

// foldEqual reports whether b, ASCII-lowercased, equals the lowercase n.
func foldEqual(b, n []byte) bool {
	for j, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != n[j] {
			return false
		}
	}
	return true
}

func containsAny(b []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(b, n) {
			return true
		}
	}
	return false
}

// suffixSet tests several suffixes, rejecting most texts on their last byte.
type suffixSet struct {
	last     [4]uint64 // bitmap of the suffixes' last bytes
	suffixes [][]byte
}

func newSuffixSet(suffixes [][]byte) suffixSet {
	s := suffixSet{suffixes: suffixes}
	for _, x := range suffixes {
		c := x[len(x)-1]
		s.last[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *suffixSet) any(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if c := b[len(b)-1]; s.last[c>>6]&(1<<(c&63)) == 0 {
		return false
	}
	return hasSuffixAny(b, s.suffixes)
}

func hasSuffixAny(b []byte, suffixes [][]byte) bool {
	for _, s := range suffixes {
		if bytes.HasSuffix(b, s) {
			return true
		}
	}
	return false
}

// view holds, for the event being poured, the lowercase percent-decoded
// request target and the lowercase user agent. Its buffers belong to the
// engine and are reused from event to event, so preparing a view allocates
// only until they have grown to the longest input seen.
type view struct {
	buf     []byte // decoded path, then '?' and the decoded query when present
	pathEnd int    // len of the path part of buf
	ready   bool

	// Every filter's regexp prefilter, path and query needles, found in
	// one pass over buf.
	lits      *multiLit
	litMask   [numRegions]uint64
	litsReady bool

	// The user agent scan is cached by a seeded hash of the raw header:
	// the same few user agents make most requests.
	uaLits  *multiLit
	uaSeed  maphash.Seed
	uaCache *[1024]uaEntry

	ua      []byte
	uaReady bool
}

func (v *view) reset() { v.ready, v.uaReady, v.litsReady = false, false, false }

type uaEntry struct{ hash, mask uint64 }

// uaMatches returns the bits of the filters one of whose user agent needles
// occurs in ua, case-insensitively.
func (v *view) uaMatches(ua []byte) uint64 {
	h := maphash.Bytes(v.uaSeed, ua) | 1 // never 0, which marks an empty entry
	e := &v.uaCache[h%uint64(len(v.uaCache))]
	if e.hash != h {
		ual := v.userAgent(ua)
		e.hash, e.mask = h, v.uaLits.scan(ual, len(ual))[anywhere]
	}
	return e.mask
}

// has reports whether one of needles occurs in text, the region reg of the
// prepared target, through the one-pass scan when the filter has a bit in
// it.
func (v *view) has(reg region, bit uint64, text []byte, needles [][]byte) bool {
	if bit == 0 {
		return containsAny(text, needles)
	}
	return v.scan()[reg]&bit != 0
}

// scan returns, for each region, the bits of the filters one of whose
// literals occurs there in the prepared target.
func (v *view) scan() *[numRegions]uint64 {
	if !v.litsReady {
		v.litsReady = true
		v.litMask = v.lits.scan(v.buf, v.pathEnd)
	}
	return &v.litMask
}

func (v *view) path() []byte { return v.buf[:v.pathEnd] }

func (v *view) query() []byte {
	if v.pathEnd < len(v.buf) {
		return v.buf[v.pathEnd+1:]
	}
	return nil
}

// prepare decodes target once per event: the path and the query (split at the
// first literal '?', so an encoded %3F does not split) are percent-decoded
// and lowercased; in the query '+' also becomes a space.
func (v *view) prepare(target []byte) {
	if v.ready {
		return
	}
	v.ready = true
	q := bytes.IndexByte(target, '?')
	p := target
	if q >= 0 {
		p = target[:q]
	}
	v.buf = decodeLower(v.buf[:0], p, false)
	v.pathEnd = len(v.buf)
	if q >= 0 {
		v.buf = append(v.buf, '?')
		v.buf = decodeLower(v.buf, target[q+1:], true)
	}
}

func (v *view) userAgent(ua []byte) []byte {
	if !v.uaReady {
		v.uaReady = true
		v.ua = append(v.ua[:0], ua...)
		lowerInPlace(v.ua)
	}
	return v.ua
}

func lowerInPlace(b []byte) {
	for i, c := range b {
		b[i] = lowerTab[c]
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeLower appends src to dst percent-decoded once (a malformed escape is
// kept as written) and ASCII-lowercased. Text without escapes is copied
// through a lowercase table in one pass.
func decodeLower(dst, src []byte, plusIsSpace bool) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	for i, c := range src {
		if c == '%' || c == '+' && plusIsSpace {
			return decodeLowerSlow(dst[:n+i], src[i:], plusIsSpace)
		}
		out[i] = lowerTab[c]
	}
	return dst
}

func decodeLowerSlow(dst, src []byte, plusIsSpace bool) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '%' && i+2 < len(src):
			h, ok1 := unhex(src[i+1])
			l, ok2 := unhex(src[i+2])
			if ok1 && ok2 {
				c = h<<4 | l
				i += 2
			}
		case c == '+' && plusIsSpace:
			c = ' '
		}
		dst = append(dst, lowerTab[c])
	}
	return dst
}

// lowerTab maps each byte to its ASCII lowercase.
var lowerTab = func() (t [256]byte) {
	for i := range t {
		t[i] = lower(byte(i))
	}
	return t
}()

// region is where in a request target a literal must lie.
type region uint8

const (
	anywhere region = iota // the whole decoded target, '?' included
	inPath                 // the decoded path, before the first literal '?'
	inQuery                // the decoded query, after it
	numRegions
)

// multiLit finds, in one pass over a text, which of up to 64 literal sets
// per region have a member there. Each literal is anchored on its least
// common byte pair (or is a single byte); the pass looks each pair of the
// text up in a bitmap and verifies the few literals anchored there. It is
// the prefilter that spares almost every request the path regular
// expressions and most substring searches.
type multiLit struct {
	single    [numRegions][256]uint64 // byte → bits of the sets holding that one-byte literal
	anySingle [256]bool
	hasSingle bool
	pairs     [1024]uint64 // bitmap over byte pairs: some literal is anchored there
	cands     map[uint16][]anchored
	n         [numRegions]int // sets added per region
}

type anchored struct {
	lit  []byte
	off  int // offset of the anchor pair in lit
	bits uint64
	reg  region
}

// add registers a set of lowercase literals for reg and returns its bit, or
// 0 when the set is empty or all 64 bits of reg are used.
func (m *multiLit) add(reg region, lits [][]byte) uint64 {
	if m.n[reg] == 64 || len(lits) == 0 {
		return 0
	}
	bit := uint64(1) << m.n[reg]
	m.n[reg]++
	if m.cands == nil {
		m.cands = make(map[uint16][]anchored)
	}
	for _, l := range lits {
		if len(l) == 1 {
			m.single[reg][l[0]] |= bit
			m.anySingle[l[0]] = true
			m.hasSingle = true
			continue
		}
		off, best := 0, 1<<30
		for i := 0; i+1 < len(l); i++ {
			if sc := commonness(l[i]) + commonness(l[i+1]); sc < best {
				off, best = i, sc
			}
		}
		p := uint16(l[off])<<8 | uint16(l[off+1])
		m.pairs[p>>6] |= 1 << (p & 63)
		m.cands[p] = append(m.cands[p], anchored{lit: l, off: off, bits: bit, reg: reg})
	}
	return bit
}

// commonness guesses how often c occurs in a lowercased URL path: the less,
// the better an anchor. It only affects speed.
func commonness(c byte) int {
	switch {
	case c == '/':
		return 8
	case 'a' <= c && c <= 'z':
		if strings.IndexByte("etaoinsrhlcdpmu", c) >= 0 {
			return 6
		}
		return 4
	case '0' <= c && c <= '9', c == '-', c == '_', c == '=', c == '&', c == '?':
		return 5
	case c == '.':
		return 3
	}
	return 1
}

// scan returns, per region, the bits of the sets with a literal in h, where
// h[:split] is the path region and h[split+1:] the query region (split ==
// len(h) when there is no query). A nil m finds nothing. It does not
// allocate.
func (m *multiLit) scan(h []byte, split int) (found [numRegions]uint64) {
	if m == nil || len(h) == 0 {
		return found
	}
	if m.hasSingle {
		for i, c := range h {
			if m.anySingle[c] {
				found[anywhere] |= m.single[anywhere][c]
				if i < split {
					found[inPath] |= m.single[inPath][c]
				} else if i > split {
					found[inQuery] |= m.single[inQuery][c]
				}
			}
		}
	}
	prev := h[0]
	for i := 1; i < len(h); i++ {
		c := h[i]
		p := uint16(prev)<<8 | uint16(c)
		prev = c
		if m.pairs[p>>6]&(1<<(p&63)) != 0 {
			m.verify(h, i-1, split, p, &found)
		}
	}
	return found
}

// verify checks the literals anchored on the pair p found at h[i:].
func (m *multiLit) verify(h []byte, i, split int, p uint16, found *[numRegions]uint64) {
	for _, a := range m.cands[p] {
		start := i - a.off
		if start < 0 || found[a.reg]&a.bits != 0 || !bytes.HasPrefix(h[start:], a.lit) {
			continue
		}
		switch end := start + len(a.lit); {
		case a.reg == anywhere, a.reg == inPath && end <= split, a.reg == inQuery && start > split:
			found[a.reg] |= a.bits
		}
	}
}
