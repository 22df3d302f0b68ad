package connlimit

// Bounds of the limits FromFileLimit derives.
const (
	// MaxDefaultTotal bounds a derived Limits.Total whatever the file
	// limit: beyond it, memory (some 20 KiB per held connection in a Go
	// HTTP server) matters more than descriptors.
	MaxDefaultTotal = 8192
	// minReserve descriptors are kept for the database, log files,
	// nftables' netlink sockets and outgoing connections.
	minReserve = 256
	// PerAddr is Total/perAddrShare, within [minPerAddr, maxPerAddr].
	perAddrShare = 16
	minPerAddr   = 8
	maxPerAddr   = 256
	// Reserve is Total/reserveShare.
	reserveShare = 16
)

// FromFileLimit derives the limits of one of listeners listeners that share
// a process whose file-descriptor limit is nofile: it keeps a reserve of an
// eighth of nofile (at least 256) for everything else, shares the rest
// equally between the listeners (at most MaxDefaultTotal each), lets one
// client hold a sixteenth of a listener's connections (between 8 and 256),
// and keeps a sixteenth more in reserve for priority clients (taken from
// the process's reserve).
// nofile 0 (unknown) is taken as 1024; listeners below 1 as 1.
//
// For nofile 4,096 and two listeners: Total 1,792, PerAddr 112, Reserve
// 112.
func FromFileLimit(nofile uint64, listeners int) Limits {
	if nofile == 0 {
		nofile = 1024
	}
	listeners = max(listeners, 1)
	reserve := max(uint64(minReserve), nofile/8)
	budget := nofile / 2
	if nofile > 2*reserve {
		budget = nofile - reserve
	}
	total := min(budget/uint64(listeners), MaxDefaultTotal)
	total = max(total, 1)
	per := min(max(total/perAddrShare, minPerAddr), maxPerAddr)
	return Limits{Total: int(total), PerAddr: int(min(per, total)), Reserve: int(total / reserveShare)}
}
