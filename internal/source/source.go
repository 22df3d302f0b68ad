// Package source declares the contract of herd's log sources: a Source
// emits lines, one at a time, each with its provenance and with the mark
// (a file position, a journal cursor) that, once saved, means "this line is
// done". The implementations are file (followed files, rotation-safe
// offsets), journald (journalctl with cursors), syslog (a UDP and TCP
// receiver) and stdin (standard input, read once to its end).
package source

import "context"

// Source is a stage that emits lines. Lines calls emit with each line from
// its own goroutine, one at a time (nothing more is read while emit runs),
// until ctx ends (it then returns nil) or emit fails (it returns emit's
// error as it is). Implementations carry a compile-time check
// (var _ source.Source = (*Follower)(nil)). Lines is called once.
type Source interface {
	Lines(ctx context.Context, emit func(*Line) error) error
}

// Line is one line a Source emits. It and its slices are valid until emit
// returns; a consumer that keeps them copies them.
type Line struct {
	// Data is the line without its end of line, cut to the source's
	// maximum length. Every byte may be an attacker's.
	Data []byte
	// Name is the line's provenance: the followed name of a file (not the
	// rotated name it may have now), or the source's name ("journald",
	// "syslog", "stdin").
	Name string
	// Pos is, for a file, the position just after this line; zero for
	// other sources.
	Pos Position
	// Cursor is, for the journal, the entry's cursor (empty when the entry
	// had none); nil for other sources.
	Cursor []byte
}

// Position is how far a file has been read. It identifies the file by inode
// and by a fingerprint of its first bytes, so that it is found again after a
// rename and not mistaken for a new file that reuses the inode.
type Position struct {
	Path   string // the followed name (not the rotated name the file may have now)
	Inode  uint64
	Dev    uint64
	Offset int64 // bytes from the start of the file; always just after a newline
	// Fingerprint is the FNV-1a 64-bit hash of the file's first
	// min(Offset, 256) bytes, the part already read, which an appending
	// writer never changes.
	Fingerprint uint64
}
