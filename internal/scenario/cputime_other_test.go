//go:build !unix

package scenario

func processCPU() int64 { return 0 }
