//go:build unix

package connlimit

import "syscall"

// FileLimit returns the process's soft limit of open files
// (RLIMIT_NOFILE), or 0 when it cannot be read.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
