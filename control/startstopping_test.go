//go:build linux

package control_test

import (
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestStartWaitsForStopping: start while the daemon is stopping (PID file
// locked and empty) waits for the lock to be released and then starts,
// instead of reporting "already running" for a daemon that is about to be
// gone.
func TestStartWaitsForStopping(t *testing.T) {
	f := newFixture(t)
	release := f.hold("")
	waiting := f.hooks.on("waiting for the daemon to finish stopping before starting it")
	done := make(chan struct{})
	var res control.Result
	var err error
	go func() {
		defer close(done)
		res, err = control.Start(ctxFor(t, long), f.opts(), f.cmd())
	}()
	await(t, waiting, done)
	release() // the old daemon exits
	<-done
	if res.After.PID != 0 {
		proctest.Cleanup(t, res.After.PID)
	}
	want(t, "Start while stopping", res, err, control.StatusOK)
	if res.Before.State != lockfile.Stopping || res.After.State != lockfile.Running || !proctest.Alive(res.After.PID) {
		t.Errorf("Before %v After %v pid %d", res.Before.State, res.After.State, res.After.PID)
	}
}
