package app

import (
	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/parse"
)

// The format names are internal/detect's; these keep app's callers
// unchanged.
type Binding = detect.Binding

// HeadBytes is detect.HeadBytes.
const HeadBytes = detect.HeadBytes

// ParseFormat is detect.ParseFormat.
func ParseFormat(name string) (f parse.Family, detecting bool, err error) {
	return detect.ParseFormat(name)
}

// FormatNames is detect.FormatNames.
func FormatNames() []string { return detect.FormatNames() }
