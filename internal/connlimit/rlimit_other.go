//go:build !unix

package connlimit

// FileLimit returns 0: the limit of open files is not known here.
func FileLimit() uint64 { return 0 }
