package afpacket

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// Compile compiles a filter expression into a classic BPF program for an
// Ethernet interface that keeps the first snapLen bytes of the packets it
// accepts. The empty expression accepts everything.
//
// The syntax is a small subset of pcap-filter(7):
//
//	expr      = term { "or" term }          ("||" also)
//	term      = factor { "and" factor }     ("&&" also)
//	factor    = "not" factor | "!" factor | "(" expr ")" | primitive
//	primitive = "ip" | "ip6" | "arp" | "tcp" | "udp" | "icmp" | "sctp"
//	          | [dir] "host" ADDR            ADDR: IPv4 or IPv6
//	          | [dir] "net" PREFIX           PREFIX: 10.0.0.0/8, 2001:db8::/32
//	          | [dir] "port" PORTS           PORTS: 22 or 22,80,443
//	          | [dir] "portrange" LO-HI
//	dir       = "src" | "dst"               (neither: either)
//
// Ports match TCP, UDP and SCTP, in IPv4 (unfragmented or first fragment)
// and in IPv6 without extension headers; "tcp" and "udp" likewise look at
// IPv6's next header only. A frame too short for a field the program
// reads is rejected, whatever the expression says (as with pcap). Frames
// whose VLAN tag the driver kept in the
// frame are not looked into (most drivers take it out before the filter).
func Compile(expr string, snapLen int) ([]bpf.RawInstruction, error) {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	if len(expr) > maxExpr {
		return nil, fmt.Errorf("filter of %d bytes: at most %d", len(expr), maxExpr)
	}
	toks := tokenize(expr)
	if len(toks) > maxTokens {
		return nil, fmt.Errorf("filter of %d words: at most %d", len(toks), maxTokens)
	}
	var root node = always{}
	if len(toks) > 0 {
		p := &parser{toks: toks}
		var err error
		root, err = p.expr()
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", expr, err)
		}
		if p.i < len(p.toks) {
			return nil, fmt.Errorf("filter %q: unexpected %q", expr, p.toks[p.i])
		}
	}
	var a asm
	accept, reject := a.label(), a.label()
	root.gen(&a, accept, reject)
	a.place(accept)
	a.emit(bpf.RetConstant{Val: uint32(snapLen)})
	a.place(reject)
	a.emit(bpf.RetConstant{Val: 0})
	prog, err := a.assemble()
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	return prog, nil
}

// Bounds on an expression, which keep compiling it cheap.
const (
	maxExpr   = 4096
	maxTokens = 256
)

// ---- the expression tree ----

// A node emits code that jumps to t when it holds, to f when not.
type node interface{ gen(a *asm, t, f int) }

type always struct{}

func (always) gen(a *asm, t, _ int) { a.jump(t) }

type or struct{ l, r node }

func (n or) gen(a *asm, t, f int) {
	next := a.label()
	n.l.gen(a, t, next)
	a.place(next)
	n.r.gen(a, t, f)
}

type and struct{ l, r node }

func (n and) gen(a *asm, t, f int) {
	next := a.label()
	n.l.gen(a, next, f)
	a.place(next)
	n.r.gen(a, t, f)
}

type not struct{ x node }

func (n not) gen(a *asm, t, f int) { n.x.gen(a, f, t) }

// test loads a value and compares it: (load) & mask <cond> val. A zero
// mask means none.
type test struct {
	load []bpf.Instruction
	mask uint32
	cond bpf.JumpTest
	val  uint32
}

func (n test) gen(a *asm, t, f int) {
	for _, ins := range n.load {
		a.emit(ins)
	}
	if n.mask != 0 {
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: n.mask})
	}
	a.cond(n.cond, n.val, t, f)
}

// Frame offsets (Ethernet II, untagged).
const (
	offType  = 12
	offIP    = 14
	etherIP  = 0x0800
	etherIP6 = 0x86dd
	etherARP = 0x0806
)

func ldh(off uint32) []bpf.Instruction { return []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: 2}} }
func ldb(off uint32) []bpf.Instruction { return []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: 1}} }
func ld(off uint32) []bpf.Instruction  { return []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: 4}} }

func eq(load []bpf.Instruction, v uint32) node {
	return test{load: load, cond: bpf.JumpEqual, val: v}
}

func ands(ns ...node) node {
	n := ns[0]
	for _, x := range ns[1:] {
		n = and{n, x}
	}
	return n
}

func ors(ns ...node) node {
	n := ns[0]
	for _, x := range ns[1:] {
		n = or{n, x}
	}
	return n
}

var (
	isIP  = eq(ldh(offType), etherIP)
	isIP6 = eq(ldh(offType), etherIP6)
)

// proto is IPv4's protocol or IPv6's next header equal to p.
func proto(p4, p6 uint32) node {
	return or{and{isIP, eq(ldb(offIP+9), p4)}, and{isIP6, eq(ldb(offIP+6), p6)}}
}

// Port field offsets from the transport header.
const (
	srcPort = 0
	dstPort = 2
)

// portTest compares the port at field (srcPort or dstPort) with c/v, in
// IPv4 (first fragment, any header length) and IPv6 (no extension header)
// TCP, UDP and SCTP.
func portTest(field uint32, c bpf.JumpTest, v uint32) node {
	l4 := func(nh uint32) node { return ors(eq(ldb(nh), 6), eq(ldb(nh), 17), eq(ldb(nh), 132)) }
	v4 := ands(isIP, l4(offIP+9),
		test{load: ldh(offIP + 6), mask: 0x1fff, cond: bpf.JumpEqual, val: 0},
		test{load: []bpf.Instruction{
			bpf.LoadMemShift{Off: offIP},
			bpf.LoadIndirect{Off: offIP + field, Size: 2},
		}, cond: c, val: v})
	v6 := ands(isIP6, l4(offIP+6), test{load: ldh(offIP + 40 + field), cond: c, val: v})
	return or{v4, v6}
}

// hostTest matches an address or prefix in the source (at=12 for IPv4,
// 8 for IPv6) or destination.
func prefixTest(p netip.Prefix, dir string) node {
	var nodes []node
	for _, d := range dirs(dir) {
		if p.Addr().Is4() {
			off := uint32(offIP + 12)
			if d == "dst" {
				off = offIP + 16
			}
			b := p.Addr().As4()
			mask := ^uint32(0)
			if p.Bits() < 32 {
				mask = ^(^uint32(0) >> p.Bits())
			}
			v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) & mask
			if p.Bits() == 0 {
				nodes = append(nodes, isIP)
				continue
			}
			m := mask
			if m == ^uint32(0) {
				m = 0
			}
			nodes = append(nodes, and{isIP, test{load: ld(off), mask: m, cond: bpf.JumpEqual, val: v}})
			continue
		}
		off := uint32(offIP + 8)
		if d == "dst" {
			off = offIP + 24
		}
		b := p.Addr().As16()
		parts := []node{isIP6}
		for w := 0; w < 4 && w*32 < p.Bits(); w++ {
			bits := min(32, p.Bits()-w*32)
			mask := ^(^uint32(0) >> bits)
			if bits == 32 {
				mask = ^uint32(0)
			}
			v := (uint32(b[4*w])<<24 | uint32(b[4*w+1])<<16 | uint32(b[4*w+2])<<8 | uint32(b[4*w+3])) & mask
			m := mask
			if m == ^uint32(0) {
				m = 0
			}
			parts = append(parts, test{load: ld(off + uint32(4*w)), mask: m, cond: bpf.JumpEqual, val: v})
		}
		nodes = append(nodes, ands(parts...))
	}
	return ors(nodes...)
}

func dirs(dir string) []string {
	if dir == "" {
		return []string{"src", "dst"}
	}
	return []string{dir}
}

func portsTest(dir string, lo, hi uint32) node {
	var nodes []node
	for _, d := range dirs(dir) {
		field := uint32(srcPort)
		if d == "dst" {
			field = dstPort
		}
		if lo == hi {
			nodes = append(nodes, portTest(field, bpf.JumpEqual, lo))
		} else {
			nodes = append(nodes, and{portTest(field, bpf.JumpGreaterOrEqual, lo), portTest(field, bpf.JumpLessOrEqual, hi)})
		}
	}
	return ors(nodes...)
}

// ---- the parser ----

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '!':
			toks = append(toks, s[i:i+1])
			i++
		case c == '&' || c == '|':
			if i+1 < len(s) && s[i+1] == c {
				toks = append(toks, s[i:i+2])
				i += 2
			} else {
				toks = append(toks, s[i:i+1])
				i++
			}
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()!&|", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

type parser struct {
	toks  []string
	i     int
	depth int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t != "" {
		p.i++
	}
	return t
}

const maxDepth = 64

func (p *parser) expr() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("expression nested too deeply")
	}
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "or" || t == "||"; t = p.peek() {
		p.next()
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = or{l, r}
	}
	return l, nil
}

func (p *parser) term() (node, error) {
	l, err := p.factor()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "and" || t == "&&"; t = p.peek() {
		p.next()
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		l = and{l, r}
	}
	return l, nil
}

func (p *parser) factor() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("expression nested too deeply")
	}
	switch t := p.next(); t {
	case "":
		return nil, errors.New("unexpected end")
	case "not", "!":
		x, err := p.factor()
		if err != nil {
			return nil, err
		}
		return not{x}, nil
	case "(":
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, errors.New("missing )")
		}
		return x, nil
	case "ip":
		return isIP, nil
	case "ip6":
		return isIP6, nil
	case "arp":
		return eq(ldh(offType), etherARP), nil
	case "tcp":
		return proto(6, 6), nil
	case "udp":
		return proto(17, 17), nil
	case "sctp":
		return proto(132, 132), nil
	case "icmp":
		return proto(1, 58), nil
	case "src", "dst":
		k := p.next()
		if k != "host" && k != "net" && k != "port" && k != "portrange" {
			return nil, fmt.Errorf("%s must be followed by host, net, port or portrange, not %q", t, k)
		}
		return p.qualified(t, k)
	case "host", "net", "port", "portrange":
		return p.qualified("", t)
	default:
		return nil, fmt.Errorf("unknown word %q", t)
	}
}

func (p *parser) qualified(dir, kind string) (node, error) {
	arg := p.next()
	if arg == "" {
		return nil, fmt.Errorf("%s needs an argument", kind)
	}
	switch kind {
	case "host":
		a, err := netip.ParseAddr(arg)
		if err != nil {
			return nil, fmt.Errorf("host %q: not an IP address", arg)
		}
		a = a.Unmap()
		return prefixTest(netip.PrefixFrom(a, a.BitLen()), dir), nil
	case "net":
		pf, err := netip.ParsePrefix(arg)
		if err != nil {
			return nil, fmt.Errorf("net %q: not a prefix", arg)
		}
		return prefixTest(pf.Masked(), dir), nil
	case "port":
		var nodes []node
		for _, s := range strings.Split(arg, ",") {
			n, err := port(s)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, portsTest(dir, n, n))
		}
		if len(nodes) > 64 {
			return nil, fmt.Errorf("port list of %d ports: at most 64", len(nodes))
		}
		return ors(nodes...), nil
	default: // portrange
		los, his, ok := strings.Cut(arg, "-")
		if !ok {
			return nil, fmt.Errorf("portrange %q: want LO-HI", arg)
		}
		lo, err := port(los)
		if err != nil {
			return nil, err
		}
		hi, err := port(his)
		if err != nil {
			return nil, err
		}
		if lo > hi {
			return nil, fmt.Errorf("portrange %q: %d > %d", arg, lo, hi)
		}
		return portsTest(dir, lo, hi), nil
	}
}

func port(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q: not a number from 0 to 65535", s)
	}
	return uint32(n), nil
}

// ---- a two-pass assembler with labels ----

// asm collects instructions whose jumps name labels, then resolves them
// into classic BPF's forward offsets.
type asm struct {
	ins    []pending
	labels []int // label → instruction index, -1 until placed
}

type pending struct {
	ins  bpf.Instruction
	kind int // 0 plain, 1 conditional (t, f), 2 unconditional (t)
	cond bpf.JumpTest
	val  uint32
	t, f int
}

func (a *asm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *asm) place(l int) { a.labels[l] = len(a.ins) }

func (a *asm) emit(ins bpf.Instruction) { a.ins = append(a.ins, pending{ins: ins}) }

func (a *asm) jump(t int) { a.ins = append(a.ins, pending{kind: 2, t: t}) }

func (a *asm) cond(c bpf.JumpTest, v uint32, t, f int) {
	a.ins = append(a.ins, pending{kind: 1, cond: c, val: v, t: t, f: f})
}

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	if len(a.ins) > maxInsns {
		return nil, fmt.Errorf("%d instructions: more than the kernel's %d", len(a.ins), maxInsns)
	}
	out := make([]bpf.Instruction, len(a.ins))
	for i, p := range a.ins {
		switch p.kind {
		case 0:
			out[i] = p.ins
		case 2:
			out[i] = bpf.Jump{Skip: uint32(a.labels[p.t] - i - 1)}
		case 1:
			st, sf := a.labels[p.t]-i-1, a.labels[p.f]-i-1
			if st < 0 || sf < 0 || st > 255 || sf > 255 {
				return nil, fmt.Errorf("a jump of %d or %d instructions: too long for classic BPF (255); simplify the expression", st, sf)
			}
			out[i] = bpf.JumpIf{Cond: p.cond, Val: p.val, SkipTrue: uint8(st), SkipFalse: uint8(sf)}
		}
	}
	return bpf.Assemble(out)
}
