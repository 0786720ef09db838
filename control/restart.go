//go:build unix

package control

import (
	"context"

	"github.com/daemonkit/daemonkit/lockfile"
)

// Restart stops the daemon as [Stop] does, then starts it as [Start] does,
// holding the guard file throughout, so no other action runs in between.
// The status is Start's ([StatusStale] if the PID file was stale before); Before
// is the state before stopping.
func Restart(ctx context.Context, o Options, s Starter) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	return a.run(ctx, func() (Result, error) {
		r, err := a.stop(ctx)
		if err != nil && r.Status != StatusStale {
			return r, err
		}
		a.log.Debug("stopped, starting", "stop_status", r.Status)
		rs, err := a.start(ctx, r.After, r.Before.State == lockfile.Stale, s)
		rs.Before = r.Before
		return rs, err
	})
}
