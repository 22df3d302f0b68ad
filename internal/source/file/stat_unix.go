//go:build unix

package file

import (
	"io/fs"
	"syscall"
)

func sysFileID(fi fs.FileInfo) (ino, dev uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), uint64(st.Dev) //nolint:unconvert // types differ by system
	}
	return 0, 0
}
