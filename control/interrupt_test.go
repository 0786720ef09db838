//go:build linux

package control_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestInterruptedIsNotTimeout: an action whose context is canceled (Ctrl-C
// to daemonctl) says "interrupted", not "timed out", and one whose deadline
// passes still says "timed out".
func TestInterruptedIsNotTimeout(t *testing.T) {
	f := newFixture(t)
	g, err := pidlock.Acquire(lockfile.GuardPath(f.pidFile))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	locking := f.hooks.on("locking guard file")
	done := make(chan struct{})
	var res control.Result
	go func() {
		defer close(done)
		res, err = control.Stop(ctx, f.opts())
	}()
	await(t, locking, done)
	cancel()
	<-done
	want(t, "Stop interrupted", res, err, control.StatusFailed)
	if !errors.Is(err, control.ErrInterrupted) || !errors.Is(err, context.Canceled) || errors.Is(err, control.ErrTimeout) {
		t.Errorf("error %v: want ErrInterrupted and context.Canceled, not ErrTimeout", err)
	}

	res, err = control.Stop(ctxFor(t, 100*time.Millisecond), f.opts())
	want(t, "Stop timed out", res, err, control.StatusFailed)
	if !errors.Is(err, control.ErrTimeout) || errors.Is(err, control.ErrInterrupted) {
		t.Errorf("error %v: want ErrTimeout, not ErrInterrupted", err)
	}
}
