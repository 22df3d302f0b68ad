package nft

import (
	"github.com/google/nftables"
)

// Stats is what the kernel holds in herd's table.
type Stats struct {
	Exists bool // the table is in the kernel
	// Elements counts, per set (ban4, ban6, ranges4, ranges6), the
	// addresses of the hash sets and the merged prefixes of the interval
	// sets.
	Elements map[string]int
}

// Total returns the elements of every set.
func (s Stats) Total() int {
	n := 0
	for _, v := range s.Elements {
		n += v
	}
	return n
}

// ReadStats reads herd's table (o.Table in namespace o.NetNS) without
// creating or changing anything; a missing table gives Exists false. Like
// List, it dumps every set: meant for herd status, not for a hot loop. It
// returns an error wrapping ErrNotSupported when nftables cannot be read
// here (not root, no nf_tables).
func ReadStats(o Options) (Stats, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	conn, err := nftables.New(nftables.WithNetNSFd(o.NetNS))
	if err != nil {
		return Stats{}, wrap("connect", err)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return Stats{}, wrap("list tables", err)
	}
	var table *nftables.Table
	for _, t := range tables {
		if t.Name == o.Table {
			table = t
		}
	}
	if table == nil {
		return Stats{}, nil
	}
	sets, err := conn.GetSets(table)
	if err != nil {
		return Stats{}, wrap("list sets of "+o.Table, err)
	}
	st := Stats{Exists: true, Elements: map[string]int{}}
	for _, s := range sets {
		elems, err := conn.GetSetElements(s)
		if err != nil {
			return Stats{}, wrap("list "+s.Name, err)
		}
		// A large Reconcile leaves ban4b for ban4 (and ban6b for ban6);
		// both may be there for a moment, or after an interrupted one:
		// the larger is counted.
		name := canonicalName(s.Name)
		switch name {
		case setRanges4, setRanges6:
			st.Elements[name] = len(appendIntervals(nil, elems, name == setRanges4))
		default:
			st.Elements[name] = max(st.Elements[name], len(elems))
		}
	}
	return st, nil
}
