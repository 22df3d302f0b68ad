//go:build unix

package scenario

import "syscall"

// processCPU returns the CPU time the process has used, user and system.
// Benchmarks report it per operation beside wall time, which on a shared
// machine measures the neighbours as much as the code.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
