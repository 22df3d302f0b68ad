package detect

import (
	"context"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// FlushEvery, until ctx ends, commits the open batch every every on clk
// (nil = clock.Real) and then calls sample, when set, with the detector
// under the pipeline's lock (to read the counters the stages keep). It
// stops at the first commit that fails, with its error.
func (p *Pipeline) FlushEvery(ctx context.Context, clk clock.Clock, every time.Duration, sample func(d *Detector)) error {
	t := clock.Or(clk).NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if err := p.Flush(ctx); err != nil {
			return err
		}
		if sample != nil {
			p.Locked(sample)
		}
	}
}
