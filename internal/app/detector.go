// Package app is herd's composition root: it builds every stage from rules
// and configuration, wires them in the order of the data flow (line → event →
// alert → decision → kernel), and runs the jobs the CLI offers.
package app

import "github.com/herd-ips/herd/internal/detect"

// The detector is internal/detect's; these names keep the callers of app
// (the CLI, tests) unchanged.
type (
	Detector        = detect.Detector
	DetectorOptions = detect.Options
	Outcome         = detect.Outcome
	Result          = detect.Result
	Counters        = detect.Counters
)

// DefaultEvidence is detect.DefaultEvidence.
const DefaultEvidence = detect.DefaultEvidence

// NewDetector is detect.New.
func NewDetector(o DetectorOptions) (*Detector, error) { return detect.New(o) }
