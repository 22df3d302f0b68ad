package cli

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/herd-ips/herd/internal/query"
)

// progressMin is the input size above which replay shows a progress bar:
// smaller files are read in well under a second.
const progressMin = 32 << 20

// progress returns a wrapper that shows a progress bar on standard error
// while an input of known size, at least progressMin bytes (env's
// progressMin in tests), is read; nil when standard error is not a
// terminal, so that logs and pipes never receive the bar's control
// sequences. Commands that read long inputs (replay; imports) use it.
func (e *env) progress() func(query.Input) io.Reader {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	least := e.progressMin
	if least == 0 {
		least = progressMin
	}
	return func(in query.Input) io.Reader {
		if in.Size < least {
			return in.R
		}
		bar := progressbar.NewOptions64(in.Size,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(in.Name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true), // drawn at once, not after the first throttle period
		)
		r := progressbar.NewReader(in.R, bar)
		return &r
	}
}
