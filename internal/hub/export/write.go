package export

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"go4.org/netipx"
)

// Write writes listed to w in format f. listed is not modified; entries
// are normalised first (host bits cleared, zones dropped, IPv4-mapped IPv6
// prefixes unmapped) and an invalid prefix is an error. What each format
// holds:
//
//   - Text: every distinct entry, sorted; a single address without its /32 or /128.
//   - CIDR, Ipset, CrowdSec: the minimal CIDR prefixes covering the list.
//   - Nft: the merged ranges of the list, as addresses, prefixes or first-last.
//   - P2P, Dat: the merged IPv4 ranges; IPv6 entries are left out, as the
//     formats have no IPv6 form.
//
// Write buffers its output and checks everything it can before the first
// byte, so an error from opts or listed leaves w untouched; an error from w
// itself may come after part of the output. It builds no string of the
// whole output: memory is a few slices of len(listed).
func Write(w io.Writer, f Format, listed []netip.Prefix, opts Options) error {
	p, err := prepare(f, listed, opts)
	if err != nil {
		return err
	}
	return p.writeTo(w)
}

// prepared is a list checked and shaped for one format, ready to stream.
type prepared struct {
	f         Format
	o         Options
	prefixes  []netip.Prefix   // Text, CIDR, Ipset, CrowdSec
	ranges    []netipx.IPRange // Nft, P2P, Dat
	v4        int              // how many of prefixes or ranges are IPv4 (they come first)
	now       time.Time        // zero when Options.Now is nil
	lineExtra int              // the longest names a line may carry, in bytes
}

func prepare(f Format, listed []netip.Prefix, opts Options) (*prepared, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &prepared{f: f, o: o}
	p.lineExtra = len(o.Label) + len(o.IpsetV4) + len(o.IpsetV6) + len(o.NftTable) + len(o.NftSetV4) + len(o.NftSetV6) + len(o.Origin) + len(o.Scenario)
	if o.Now != nil {
		p.now = o.Now().UTC()
	}
	switch f {
	case Text:
		if p.prefixes, err = canonical(listed); err != nil {
			return nil, err
		}
	case CIDR, Ipset, CrowdSec:
		ranges, err := mergedRanges(listed)
		if err != nil {
			return nil, err
		}
		p.prefixes = prefixesOf(ranges)
		if f == Ipset {
			p.prefixes = splitZero(p.prefixes)
		}
	case Nft, P2P, Dat:
		if p.ranges, err = mergedRanges(listed); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("export: unknown format %v", f)
	}
	for _, x := range p.prefixes {
		if x.Addr().Is4() {
			p.v4++
		}
	}
	for _, r := range p.ranges {
		if r.From().Is4() {
			p.v4++
		}
	}
	if f == Ipset {
		if n := max(p.v4, len(p.prefixes)-p.v4); n > o.IpsetMaxElem {
			return nil, fmt.Errorf("export: ipset: %d entries in one family, more than maxelem %d", n, o.IpsetMaxElem)
		}
	}
	return p, nil
}

// splitZero replaces a /0 prefix, which an ipset hash:net set cannot hold,
// by its two halves. prefixes are sorted, so a /0 is the first of its family.
func splitZero(prefixes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for i, p := range prefixes {
		if p.Bits() != 0 {
			if out != nil {
				out = append(out, p)
			}
			continue
		}
		if out == nil {
			out = append(make([]netip.Prefix, 0, len(prefixes)+2), prefixes[:i]...)
		}
		lo := netip.PrefixFrom(p.Addr(), 1)
		hi := netip.PrefixFrom(netipx.PrefixLastIP(p), 1).Masked()
		out = append(out, lo, hi)
	}
	if out == nil {
		return prefixes
	}
	return out
}

func (p *prepared) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch p.f {
	case Text, CIDR:
		p.header(bw, len(p.prefixes))
		for _, x := range p.prefixes {
			b := lineBuf(bw, p.lineExtra)
			if p.f == Text && x.IsSingleIP() {
				b = x.Addr().AppendTo(b)
			} else {
				b = x.AppendTo(b)
			}
			_, _ = bw.Write(append(b, '\n'))
		}
	case Ipset:
		p.writeIpset(bw)
	case Nft:
		p.writeNft(bw)
	case CrowdSec:
		p.writeCrowdSec(bw)
	case P2P, Dat:
		for _, r := range p.ranges[:p.v4] {
			b := lineBuf(bw, p.lineExtra)
			if p.f == P2P {
				b = append(b, p.o.Label...)
				b = append(b, ':')
				b = r.From().AppendTo(b)
				b = append(b, '-')
				b = r.To().AppendTo(b)
			} else {
				b = appendPadded4(b, r.From())
				b = append(b, " - "...)
				b = appendPadded4(b, r.To())
				b = append(b, " , 000 , "...)
				b = append(b, p.o.Label...)
			}
			_, _ = bw.Write(append(b, '\n'))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: write %s: %w", p.f, err)
	}
	return nil
}

// header writes the comment line that opens the text, cidr, ipset and nft
// formats: the label, the entry count and, with a clock, the time.
func (p *prepared) header(bw *bufio.Writer, n int) {
	b := lineBuf(bw, p.lineExtra)
	b = append(b, "# "...)
	b = append(b, p.o.Label...)
	b = append(b, ": "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " entries"...)
	if !p.now.IsZero() {
		b = append(b, ", generated "...)
		b = p.now.AppendFormat(b, time.RFC3339)
	}
	_, _ = bw.Write(append(b, '\n'))
}

// writeIpset writes `ipset restore` input that fills a temporary set per
// family and swaps it with the live one, so the live set never shows a
// partial list and a reload replaces its content whole:
//
//	create herd-v4-tmp hash:net family inet hashsize 1024 maxelem 1048576 -exist
//	flush herd-v4-tmp
//	add herd-v4-tmp 192.0.2.0/24
//	create herd-v4 hash:net family inet hashsize 1024 maxelem 1048576 -exist
//	swap herd-v4-tmp herd-v4
//	destroy herd-v4-tmp
func (p *prepared) writeIpset(bw *bufio.Writer) {
	p.header(bw, len(p.prefixes))
	fams := []struct {
		name, family string
		list         []netip.Prefix
	}{
		{p.o.IpsetV4, "inet", p.prefixes[:p.v4]},
		{p.o.IpsetV6, "inet6", p.prefixes[p.v4:]},
	}
	params := " hashsize 1024 maxelem " + strconv.Itoa(p.o.IpsetMaxElem) + " -exist\n"
	for _, fam := range fams {
		tmp := fam.name + ipsetTempSuffix
		fmt.Fprintf(bw, "create %s hash:net family %s%sflush %s\n", tmp, fam.family, params, tmp)
		for _, x := range fam.list {
			b := lineBuf(bw, p.lineExtra)
			b = append(b, "add "...)
			b = append(b, tmp...)
			b = append(b, ' ')
			b = x.AppendTo(b)
			_, _ = bw.Write(append(b, '\n'))
		}
		fmt.Fprintf(bw, "create %s hash:net family %s%sswap %s %s\ndestroy %s\n", fam.name, fam.family, params, tmp, fam.name, tmp)
	}
}

// nftChunk is how many elements one `add element` statement carries.
const nftChunk = 1024

// writeNft writes an nftables script that declares the table and its two
// interval sets (idempotent), flushes both and adds the elements. nft -f
// applies a file as one transaction, so a reload swaps the content
// atomically.
func (p *prepared) writeNft(bw *bufio.Writer) {
	p.header(bw, len(p.ranges))
	o := p.o
	fmt.Fprintf(bw, "table inet %s {\n", o.NftTable)
	fmt.Fprintf(bw, "\tset %s {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t}\n", o.NftSetV4)
	fmt.Fprintf(bw, "\tset %s {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\tauto-merge\n\t}\n}\n", o.NftSetV6)
	fmt.Fprintf(bw, "flush set inet %s %s\nflush set inet %s %s\n", o.NftTable, o.NftSetV4, o.NftTable, o.NftSetV6)
	for _, fam := range []struct {
		set  string
		list []netipx.IPRange
	}{{o.NftSetV4, p.ranges[:p.v4]}, {o.NftSetV6, p.ranges[p.v4:]}} {
		for i, r := range fam.list {
			b := lineBuf(bw, p.lineExtra)
			if i%nftChunk == 0 {
				b = append(b, "add element inet "...)
				b = append(b, o.NftTable...)
				b = append(b, ' ')
				b = append(b, fam.set...)
				b = append(b, " {\n"...)
			}
			b = append(b, '\t')
			if x, ok := r.Prefix(); ok && x.IsSingleIP() {
				b = x.Addr().AppendTo(b)
			} else if ok {
				b = x.AppendTo(b)
			} else {
				b = r.From().AppendTo(b)
				b = append(b, '-')
				b = r.To().AppendTo(b)
			}
			if i%nftChunk == nftChunk-1 || i == len(fam.list)-1 {
				b = append(b, "\n}\n"...)
			} else {
				b = append(b, ",\n"...)
			}
			_, _ = bw.Write(b)
		}
	}
}

// writeCrowdSec writes the body CrowdSec's LAPI answers a bouncer's first
// GET /v1/decisions/stream with (startup=true): every decision new, none
// deleted. Each aggregated prefix is one ban decision: scope "Ip" for a
// single address, "Range" for a wider prefix, fields named and ordered as
// herd's local API writes them.
func (p *prepared) writeCrowdSec(bw *bufio.Writer) {
	dur := p.o.Duration.String()
	origin := strconv.Quote(p.o.Origin) // JSON too: withDefaults allows printable ASCII without quotes or backslashes
	scenario := strconv.Quote(p.o.Scenario)
	_, _ = bw.WriteString(`{"new":[`)
	for i, x := range p.prefixes {
		b := lineBuf(bw, p.lineExtra)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `,"origin":`...)
		b = append(b, origin...)
		b = append(b, `,"type":"ban","scope":`...)
		if x.IsSingleIP() {
			b = append(b, `"Ip","value":"`...)
			b = x.Addr().AppendTo(b)
		} else {
			b = append(b, `"Range","value":"`...)
			b = x.AppendTo(b)
		}
		b = append(b, `","duration":"`...)
		b = append(b, dur...)
		b = append(b, `","scenario":`...)
		b = append(b, scenario...)
		_, _ = bw.Write(append(b, '}'))
	}
	_, _ = bw.WriteString("],\"deleted\":[]}\n")
}

// lineBuf returns bw's free buffer, flushing first if less than one line
// (a fixed part and extra bytes of names) would fit, so that appending a
// line never reallocates.
func lineBuf(bw *bufio.Writer, extra int) []byte {
	if bw.Available() < 160+extra {
		_ = bw.Flush() // an error sticks to bw and is returned by the last Flush
	}
	return bw.AvailableBuffer()
}

// appendPadded4 appends IPv4 address a with each octet in three digits
// (001.002.003.004), as ipfilter.dat writes them.
func appendPadded4(b []byte, a netip.Addr) []byte {
	v := a.As4()
	for i, o := range v {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, '0'+o/100, '0'+o/10%10, '0'+o%10)
	}
	return b
}
