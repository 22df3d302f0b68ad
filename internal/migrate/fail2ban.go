// Package migrate reads the configuration and state of the tools a herd
// user comes from — fail2ban's jails, CrowdSec's allowlists and live
// decisions — and turns them into herd configuration and decisions. It reads
// files and returns values; writing the store is the caller's.
package migrate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of a fail2ban configuration.
const (
	maxINIBytes    = 4 << 20 // per file
	maxInterpDepth = 10
	// PermanentBan stands for fail2ban's negative bantime (ban for ever):
	// herd's decisions always end.
	PermanentBan = 365 * 24 * time.Hour
)

// Fail2banDefaults are fail2ban's own defaults for what a jail leaves unset.
var Fail2banDefaults = struct {
	MaxRetry int
	FindTime time.Duration
	BanTime  time.Duration
}{5, 10 * time.Minute, 10 * time.Minute}

// INI is fail2ban's configuration as read: sections (DEFAULT included) of
// key = value, each value with the file and line that set it last.
type INI struct {
	Sections map[string]map[string]Value
	Order    []string // section names, in order of first appearance
}

// Value is one setting and where it was written.
type Value struct {
	Text string
	File string
	Line int
}

// ParseINI reads fail2ban-style INI text (file is used in errors) into ini,
// later settings replacing earlier ones: sections [NAME], "key = value" or
// "key: value", continuation lines indented, comments on lines starting
// with # or ; and after " #" or " ;" in a value.
func ParseINI(ini *INI, file string, r io.Reader) error {
	if ini.Sections == nil {
		ini.Sections = map[string]map[string]Value{}
	}
	sc := bufio.NewScanner(io.LimitReader(r, maxINIBytes+1))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var section, lastKey string
	n, total := 0, 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		total += len(raw) + 1
		if total > maxINIBytes {
			return fmt.Errorf("%s: larger than %d bytes", file, maxINIBytes)
		}
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && lastKey != "" {
			v := ini.Sections[section][lastKey]
			v.Text = strings.TrimSpace(v.Text + "\n" + stripComment(trimmed))
			ini.Sections[section][lastKey] = v
			continue
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			if end < 2 {
				return fmt.Errorf("%s:%d: bad section header %q", file, n, clip(trimmed))
			}
			section = strings.TrimSpace(trimmed[1:end])
			if _, ok := ini.Sections[section]; !ok {
				ini.Sections[section] = map[string]Value{}
				ini.Order = append(ini.Order, section)
			}
			lastKey = ""
			continue
		}
		if section == "" {
			return fmt.Errorf("%s:%d: setting outside a section", file, n)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return fmt.Errorf("%s:%d: want key = value, got %q", file, n, clip(trimmed))
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		ini.Sections[section][key] = Value{Text: stripComment(strings.TrimSpace(trimmed[i+1:])), File: file, Line: n}
		lastKey = key
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", file, n+1, err)
	}
	return nil
}

func stripComment(s string) string {
	for _, c := range []string{" #", "\t#", " ;", "\t;"} {
		if i := strings.Index(s, c); i >= 0 {
			s = s[:i]
		}
	}
	return strings.TrimSpace(s)
}

func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// Get returns key's value in section, falling back to [DEFAULT], with
// %(name)s references interpolated (from the section, then [DEFAULT];
// fail2ban's %(known/name)s reads the DEFAULT value). ok is false when
// neither sets key.
func (ini *INI) Get(section, key string) (Value, bool, error) {
	v, ok := ini.lookup(section, key)
	if !ok {
		return v, false, nil
	}
	t, err := ini.interpolate(section, v.Text, 0)
	if err != nil {
		return v, true, fmt.Errorf("%s:%d: [%s] %s: %w", v.File, v.Line, section, key, err)
	}
	v.Text = t
	return v, true, nil
}

func (ini *INI) lookup(section, key string) (Value, bool) {
	if v, ok := ini.Sections[section][key]; ok {
		return v, true
	}
	v, ok := ini.Sections["DEFAULT"][key]
	return v, ok
}

func (ini *INI) interpolate(section, s string, depth int) (string, error) {
	if !strings.Contains(s, "%(") {
		return s, nil
	}
	if depth >= maxInterpDepth {
		return "", errors.New("interpolation nested too deep (a loop?)")
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "%(")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i:], ")s")
		if j < 0 {
			return "", fmt.Errorf("unterminated %%( in %q", clip(s))
		}
		b.WriteString(s[:i])
		name := strings.ToLower(s[i+2 : i+j])
		sec := section
		if n, ok := strings.CutPrefix(name, "known/"); ok {
			name, sec = n, "DEFAULT"
		}
		v, ok := ini.lookup(sec, name)
		if !ok {
			// fail2ban leaves names it does not know to the action (e.g.
			// %(__name__)s is the jail's name).
			if name == "__name__" {
				b.WriteString(section)
			} else {
				return "", fmt.Errorf("%%(%s)s is not set", name)
			}
		} else {
			t, err := ini.interpolate(sec, v.Text, depth+1)
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		}
		s = s[i+j+2:]
	}
	return b.String(), nil
}

// ReadFail2ban reads a fail2ban configuration directory as fail2ban does:
// jail.conf, jail.d/*.conf, jail.local, jail.d/*.local, each later file's
// settings replacing earlier ones. Missing files are skipped; none at all
// is an error.
func ReadFail2ban(fsys fs.FS) (*INI, []string, error) {
	var files []string
	add := func(name string) {
		if st, err := fs.Stat(fsys, name); err == nil && st.Mode().IsRegular() {
			files = append(files, name)
		}
	}
	glob := func(pat string) {
		m, _ := fs.Glob(fsys, pat)
		slices.Sort(m)
		for _, f := range m {
			add(f)
		}
	}
	add("jail.conf")
	glob("jail.d/*.conf")
	add("jail.local")
	glob("jail.d/*.local")
	if len(files) == 0 {
		return nil, nil, errors.New("fail2ban: no jail.conf, jail.local or jail.d/*.conf|local")
	}
	ini := &INI{}
	for _, f := range files {
		fh, err := fsys.Open(f)
		if err != nil {
			return nil, files, fmt.Errorf("fail2ban: %w", err)
		}
		err = ParseINI(ini, f, fh)
		fh.Close()
		if err != nil {
			return nil, files, fmt.Errorf("fail2ban: %w", err)
		}
	}
	return ini, files, nil
}

// ReadFail2banDir is ReadFail2ban on a directory of the file system.
func ReadFail2banDir(dir string) (*INI, []string, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("fail2ban: %w", err)
	}
	ini, files, err := ReadFail2ban(os.DirFS(dir))
	for i := range files {
		files[i] = filepath.Join(dir, files[i])
	}
	return ini, files, err
}

// Jail is one enabled fail2ban jail, its settings resolved.
type Jail struct {
	Name     string
	MaxRetry int
	FindTime time.Duration
	BanTime  time.Duration
	// Permanent: a negative bantime (ban for ever); BanTime is then
	// PermanentBan.
	Permanent bool
	// Increment is bantime.increment: longer bans for repeat offenders;
	// MaxTime is bantime.maxtime (0 when unset).
	Increment bool
	MaxTime   time.Duration
	Filter    string
	Port      string
	LogPath   string
	Backend   string
	Action    string
	// Unsupported lists settings the jail sets that herd has no equivalent
	// for (bantime.factor, bantime.formula, ...), each "key = value".
	Unsupported []string
}

// settingsWithoutEquivalent are jail keys herd cannot honour; the importer
// names them when a jail sets them.
var settingsWithoutEquivalent = []string{"bantime.factor", "bantime.formula", "bantime.multipliers",
	"bantime.rndtime", "bantime.overalljails", "maxmatches", "usedns", "ignorecommand", "ignoreself"}

// Jails returns the enabled jails of ini in file order, and the never-ban
// prefixes of their ignoreip (and [DEFAULT]'s): addresses and CIDR
// prefixes are kept; host names and other entries are returned in
// ignored, as herd's allowlist takes addresses only.
func Jails(ini *INI) (jails []Jail, allow []netip.Prefix, ignored []string, err error) {
	var errs []error
	seen := map[netip.Prefix]bool{}
	addIgnore := func(text string) {
		for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
			p, perr := parseIgnore(f)
			if perr != nil {
				if !slices.Contains(ignored, f) {
					ignored = append(ignored, f)
				}
				continue
			}
			if !seen[p] {
				seen[p] = true
				allow = append(allow, p)
			}
		}
	}
	for _, name := range ini.Order {
		if name == "DEFAULT" || name == "INCLUDES" {
			continue
		}
		en, _, e := ini.Get(name, "enabled")
		if e != nil {
			errs = append(errs, e)
			continue
		}
		if !truthy(en.Text) {
			continue
		}
		j := Jail{Name: name, MaxRetry: Fail2banDefaults.MaxRetry, FindTime: Fail2banDefaults.FindTime, BanTime: Fail2banDefaults.BanTime}
		get := func(key string) (Value, bool) {
			v, ok, e := ini.Get(name, key)
			if e != nil {
				errs = append(errs, e)
				return v, false
			}
			return v, ok
		}
		if v, ok := get("maxretry"); ok {
			n, e := strconv.Atoi(strings.TrimSpace(v.Text))
			if e != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s:%d: [%s] maxretry %q: want a positive integer", v.File, v.Line, name, clip(v.Text)))
			} else {
				j.MaxRetry = n
			}
		}
		for _, t := range []struct {
			key string
			dst *time.Duration
		}{{"findtime", &j.FindTime}, {"bantime", &j.BanTime}, {"bantime.maxtime", &j.MaxTime}} {
			v, ok := get(t.key)
			if !ok {
				continue
			}
			d, e := ParseFail2banTime(v.Text)
			if e != nil {
				errs = append(errs, fmt.Errorf("%s:%d: [%s] %s: %w", v.File, v.Line, name, t.key, e))
				continue
			}
			if d < 0 {
				if t.key != "bantime" {
					errs = append(errs, fmt.Errorf("%s:%d: [%s] %s: negative", v.File, v.Line, name, t.key))
					continue
				}
				j.Permanent, d = true, PermanentBan
			}
			*t.dst = d
		}
		if v, ok := get("bantime.increment"); ok {
			j.Increment = truthy(v.Text)
		}
		for _, k := range []struct {
			key string
			dst *string
		}{{"filter", &j.Filter}, {"port", &j.Port}, {"logpath", &j.LogPath}, {"backend", &j.Backend}, {"banaction", &j.Action}} {
			if v, ok := get(k.key); ok {
				*k.dst = strings.Join(strings.Fields(v.Text), " ")
			}
		}
		if j.Filter == "" {
			j.Filter = name
		}
		for _, k := range settingsWithoutEquivalent {
			if v, ok := ini.Sections[name][k]; ok {
				j.Unsupported = append(j.Unsupported, k+" = "+clip(v.Text))
			}
		}
		if v, ok := get("ignoreip"); ok {
			addIgnore(v.Text)
		}
		jails = append(jails, j)
	}
	if v, ok, e := ini.Get("DEFAULT", "ignoreip"); e == nil && ok {
		addIgnore(v.Text)
	}
	return jails, allow, ignored, errors.Join(errs...)
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1", "on", "enabled":
		return true
	}
	return false
}

// parseIgnore parses one ignoreip entry: an address or a CIDR prefix
// (fail2ban writes 127.0.0.1/8, not masked).
func parseIgnore(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an address: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// ParseFail2banTime parses a fail2ban time: seconds ("600"), or numbers
// with units summed ("10m", "1h30m", "2d", "1w", "1mo", "1y", and the long
// forms "10 minutes", "1 hour", ...); a negative value means for ever.
func ParseFail2banTime(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, errors.New("empty time")
	}
	neg := false
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		neg, s = true, strings.TrimSpace(rest)
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("time %q: want a number", clip(s))
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n > 1e9 {
			return 0, fmt.Errorf("time %q: bad number", clip(s))
		}
		s = strings.TrimLeft(s[i:], " ")
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		unit, ok := fail2banUnit(s[:j])
		if !ok {
			return 0, fmt.Errorf("time unit %q unknown", clip(s[:j]))
		}
		total += time.Duration(n * float64(unit))
		s = strings.TrimLeft(s[j:], " ")
	}
	if neg {
		return -total, nil
	}
	return total, nil
}

func fail2banUnit(u string) (time.Duration, bool) {
	day := 24 * time.Hour
	switch u {
	case "", "s", "sec", "secs", "second", "seconds", "ss":
		return time.Second, true
	case "m", "min", "mins", "minute", "minutes", "mm":
		return time.Minute, true
	case "h", "hour", "hours", "hh":
		return time.Hour, true
	case "d", "day", "days", "dd":
		return day, true
	case "w", "week", "weeks", "ww":
		return 7 * day, true
	case "mo", "mon", "month", "months":
		return 30*day + 10*time.Hour + 30*time.Minute, true // fail2ban: 30.4375 days
	case "y", "year", "years", "yy":
		return 365*day + 6*time.Hour, true // fail2ban: 365.25 days
	}
	return 0, false
}
