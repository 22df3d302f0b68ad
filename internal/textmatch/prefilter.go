package textmatch

import "bytes"

// Prefilter is a set of literals, one of which must occur in a message for
// the expensive matchers behind it to be worth running. The zero Prefilter
// passes everything. It is immutable after construction.
type Prefilter struct {
	lits [][]byte
}

// NewPrefilter returns a Prefilter passing messages that contain any of
// lits. Empty literals are ignored; with none left every message passes.
func NewPrefilter(lits ...string) Prefilter {
	var p Prefilter
	for _, l := range lits {
		if l != "" {
			p.lits = append(p.lits, []byte(l))
		}
	}
	return p
}

// Empty reports whether p passes every message.
func (p *Prefilter) Empty() bool { return len(p.lits) == 0 }

// Match reports whether msg contains one of p's literals (or p is empty). It
// does not allocate.
func (p *Prefilter) Match(msg []byte) bool {
	if len(p.lits) == 0 {
		return true
	}
	for _, l := range p.lits {
		if bytes.Contains(msg, l) {
			return true
		}
	}
	return false
}
