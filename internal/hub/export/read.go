package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"go4.org/netipx"
)

// maxLine is the longest line Read accepts, in bytes.
const maxLine = 4096

// Read parses a list in format f (Text, CIDR, P2P or Dat) from r and returns
// its entries in file order; name labels errors ("name:line: why"). It is
// strict: a line it cannot parse is an error, never skipped.
//
//   - Text and CIDR: one address or CIDR prefix per line; the prefix must
//     have no host bits set. Blank lines and lines starting with '#' are
//     skipped, and so is a '#' comment after an entry.
//   - P2P: label:first-last with IPv4 addresses, octets optionally
//     zero-padded; the label is everything before the last ':'. Blank and
//     '#' lines are skipped.
//   - Dat: first - last , level , label; addresses IPv4 (octets optionally
//     zero-padded) or IPv6; level 0..255, and only ranges with a level
//     below 128 are blocked, so others are left out. Blank lines and lines
//     starting with '#' or '//' are skipped.
//
// Ranges are returned as the CIDR prefixes that cover them exactly.
func Read(r io.Reader, f Format, name string) ([]netip.Prefix, error) {
	var parse func([]byte, []netip.Prefix) ([]netip.Prefix, error)
	switch f {
	case Text, CIDR:
		parse = parseTextLine
	case P2P:
		parse = parseP2PLine
	case Dat:
		parse = parseDatLine
	default:
		return nil, fmt.Errorf("export %s: format %v cannot be read", name, f)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	var out []netip.Prefix
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' || f == Dat && bytes.HasPrefix(text, []byte("//")) {
			continue
		}
		var err error
		if out, err = parse(text, out); err != nil {
			return nil, fmt.Errorf("export %s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("export %s:%d: line longer than %d bytes", name, line+1, maxLine)
		}
		return nil, fmt.Errorf("export %s: read: %w", name, err)
	}
	return out, nil
}

func parseTextLine(text []byte, out []netip.Prefix) ([]netip.Prefix, error) {
	if i := bytes.IndexByte(text, '#'); i >= 0 {
		text = bytes.TrimSpace(text[:i])
	}
	s := string(text)
	if bytes.IndexByte(text, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("prefix %s has host bits set (the network is %s)", p, p.Masked())
		}
		return append(out, p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, err
	}
	if a.Zone() != "" {
		return nil, fmt.Errorf("address %s has a zone", s)
	}
	return append(out, netip.PrefixFrom(a, a.BitLen())), nil
}

func parseP2PLine(text []byte, out []netip.Prefix) ([]netip.Prefix, error) {
	i := bytes.LastIndexByte(text, ':')
	if i < 0 {
		return nil, errors.New("want label:first-last, found no ':'")
	}
	first, last, ok := bytes.Cut(text[i+1:], []byte{'-'})
	if !ok {
		return nil, errors.New("want label:first-last, found no '-'")
	}
	a, err := parseAddr4(bytes.TrimSpace(first))
	if err != nil {
		return nil, err
	}
	b, err := parseAddr4(bytes.TrimSpace(last))
	if err != nil {
		return nil, err
	}
	return appendRange(out, a, b)
}

func parseDatLine(text []byte, out []netip.Prefix) ([]netip.Prefix, error) {
	rng, rest, ok := bytes.Cut(text, []byte{','})
	if !ok {
		return nil, errors.New("want first - last , level , label: found no ','")
	}
	levelText, _, _ := bytes.Cut(rest, []byte{','})
	level, err := strconv.ParseUint(string(bytes.TrimSpace(levelText)), 10, 8)
	if err != nil {
		return nil, fmt.Errorf("access level %q: want 0..255", bytes.TrimSpace(levelText))
	}
	first, last, ok := bytes.Cut(rng, []byte{'-'})
	if !ok {
		return nil, errors.New("want first - last: found no '-'")
	}
	a, err := parseDatAddr(bytes.TrimSpace(first))
	if err != nil {
		return nil, err
	}
	b, err := parseDatAddr(bytes.TrimSpace(last))
	if err != nil {
		return nil, err
	}
	if level >= 128 {
		if a.BitLen() != b.BitLen() || b.Less(a) {
			return nil, fmt.Errorf("range %s - %s is not first-last of one family", a, b)
		}
		return out, nil // not blocked
	}
	return appendRange(out, a, b)
}

// parseDatAddr parses an IPv6 address or an IPv4 one with optionally
// zero-padded octets.
func parseDatAddr(s []byte) (netip.Addr, error) {
	if bytes.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(string(s))
		if err == nil && a.Zone() != "" {
			err = fmt.Errorf("address %s has a zone", s)
		}
		return a, err
	}
	return parseAddr4(s)
}

// parseAddr4 parses a dotted-quad IPv4 address whose octets may carry
// leading zeros (decimal, never octal): 001.002.003.004 is 1.2.3.4.
func parseAddr4(s []byte) (netip.Addr, error) {
	var v [4]byte
	field, digits, val := 0, 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
			val = val*10 + int(c-'0')
			if digits > 3 || val > 255 {
				return netip.Addr{}, fmt.Errorf("IPv4 address %q: octet out of range", s)
			}
		case c == '.' && digits > 0 && field < 3:
			v[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return netip.Addr{}, fmt.Errorf("IPv4 address %q: unexpected %q", s, c)
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, fmt.Errorf("IPv4 address %q: want four octets", s)
	}
	v[3] = byte(val)
	return netip.AddrFrom4(v), nil
}

// appendRange appends the prefixes covering first..last, which must be of
// one family and in order.
func appendRange(out []netip.Prefix, first, last netip.Addr) ([]netip.Prefix, error) {
	r := netipx.IPRangeFrom(first, last)
	if !r.IsValid() {
		return nil, fmt.Errorf("range %s - %s is not first-last of one family", first, last)
	}
	return r.AppendPrefixes(out), nil
}
