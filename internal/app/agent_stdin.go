package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/decision"
	"github.com/herd-ips/herd/internal/source/lines"
)

// errStdinEnd ends the agent's jobs once standard input is read to its end.
var errStdinEnd = errors.New("agent: end of standard input")

// stdinOnly returns the configuration of a run that reads standard input:
// the configured log files, journal and syslog listener are not followed,
// and the local API is off (the run is short and may sit beside a running
// agent that owns the API's port).
func stdinOnly(cfg *config.Config) *config.Config {
	c := *cfg
	c.Sources = nil
	c.Journald.Enabled = false
	c.Syslog = config.Syslog{}
	c.API.Listen = ""
	return &c
}

// readStdin runs the lines of r through the detector until its end, then
// returns errStdinEnd, which stops the agent: RunAgent then commits the last
// batch and enforces its decisions before it returns. The read runs in a
// goroutine of its own, since a read of standard input cannot be
// interrupted: when ctx ends first, readStdin returns at once and that
// goroutine stays blocked until the input ends or the process exits.
func (a *agent) readStdin(ctx context.Context, r io.Reader, hint string) error {
	type result struct {
		line []byte
		err  error
	}
	next := make(chan result)
	done := make(chan struct{}) // the line was handled; read the next
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		lr := lines.NewReader(r, 0)
		for {
			b, err := lr.Next()
			select {
			case next <- result{b, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-done:
			case <-stop:
				return
			}
		}
	}()
	n := 0
	a.mu.Lock()
	src := a.m.source(stdinSource)
	a.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case res := <-next:
			switch {
			case res.err == io.EOF:
				a.log.Info("agent: end of standard input", "lines", n)
				return errStdinEnd
			case res.err != nil:
				return fmt.Errorf("agent: stdin: %w", res.err)
			}
			n++
			if err := a.live(ctx, res.line, &a.stdinBind, hint, src); err != nil {
				return err
			}
			done <- struct{}{}
		}
	}
}

// settle enforces (or, dry, prints) the set's changes that the enforce job
// had not taken when the agent stopped: those of the last batch, committed
// after the jobs ended.
func (a *agent) settle(sub *decision.Subscription) {
	c := sub.Take()
	if c.Empty() {
		return
	}
	if a.fw == nil {
		for _, p := range c.Delete {
			a.printScope("unban", p)
		}
		for _, d := range c.Add {
			a.printDecision("ban", d)
		}
		return
	}
	if err := a.fw.Apply(c.Add, c.Delete, a.now()); err != nil {
		a.log.Error("agent: firewall apply at stop failed; the next start reconciles", "err", err)
	}
}
