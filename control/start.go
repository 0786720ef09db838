//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Start starts the daemon with s unless it is running or starting
// ([StatusAlreadyDone]). A daemon that is stopping is waited for (until it
// releases its PID file lock, or ctx ends) and then started. Start waits
// for s to return: then the daemon must be running ([StatusOK], or [StatusStale] if the
// PID file was stale before, as libucw reports). A starter error that wraps
// [lockfile.ErrLocked] or is an [*ExitError] with status 100 means
// [StatusAlreadyDone]; an [*ExitError] with status 103 (a start command that is
// itself a controller and found the PID file stale) with the daemon running
// afterwards means [StatusStale]; any other failure is [StatusFailed], and the error
// carries the starter's (an [*ExitError] for a [CommandStarter]: exit
// status or signal and message).
func Start(ctx context.Context, o Options, s Starter) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	return a.run(ctx, func() (Result, error) {
		before, err := a.inspect()
		if err != nil {
			return fail(Result{Before: before}, err)
		}
		return a.start(ctx, before, before.State == lockfile.Stale, s)
	})
}

// start is Start with the guard locked and the state known.
func (a *action) start(ctx context.Context, before lockfile.Info, wasStale bool, s Starter) (Result, error) {
	res := Result{Before: before, After: before}
	if before.State == lockfile.Stopping {
		// A daemon that is stopping is gone in a moment: wait for it
		// to release the PID file lock (we hold the guard, so nobody
		// else starts it meanwhile), then start.
		a.log.Info("waiting for the daemon to finish stopping before starting it", "state", before.State)
		for before.State == lockfile.Stopping {
			f, err := pidlock.AcquireWait(ctx, a.o.PIDFile)
			if err != nil {
				return fail(res, a.timeout(ctx, fmt.Errorf("start daemon for pid file %s: the previous daemon is still stopping: %w; try again later, or stop it with a kill-after delay", a.o.PIDFile, err)))
			}
			f.Release()
			if before, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			res.After = before
		}
	}
	switch before.State {
	case lockfile.Starting, lockfile.Running:
		a.log.Debug("already running")
		res.Status = StatusAlreadyDone
		return res, nil
	}
	if err := a.refuse(before); err != nil {
		return fail(res, err)
	}
	if s == nil {
		return fail(res, fmt.Errorf("start daemon for pid file %s: %w", a.o.PIDFile, errNoStarter))
	}
	a.log.Debug("running start command", "stale", wasStale)
	serr := a.runStarter(ctx, s)
	after, ierr := a.inspect()
	res.After = after
	var xe *ExitError
	if errors.As(serr, &xe) && xe.Signal == 0 && xe.Code == int(StatusStale) && ierr == nil && after.State == lockfile.Running {
		// The start command is itself a controller that started the
		// daemon and reported the stale PID file it found (libucw's 103).
		a.log.Debug("start command reported a stale pid file", "error", serr)
		serr, wasStale = nil, true
	}
	if serr != nil {
		if errors.Is(serr, lockfile.ErrLocked) || errors.As(serr, &xe) && xe.alreadyRunning() {
			a.log.Debug("start command says already running", "error", serr)
			res.Status = StatusAlreadyDone
			return res, nil
		}
		err := fmt.Errorf("start daemon for pid file %s: %w", a.o.PIDFile, serr)
		if ended(ctx, serr) && !interrupted(ctx) {
			err = fmt.Errorf("%w; the start command did not finish in time, give it a longer timeout or check why it hangs", a.timeout(ctx, err))
		} else if ended(ctx, serr) {
			err = a.timeout(ctx, err)
		}
		if ierr == nil && after.State.Alive() {
			err = fmt.Errorf("%w (the pid file is now %s: the daemon may be running anyway, check its status)", err, after.State)
		}
		return fail(res, err)
	}
	if ierr != nil {
		return fail(res, ierr)
	}
	if after.State != lockfile.Running {
		return fail(res, fmt.Errorf("%w: the start command succeeded but pid file %s is %s afterwards (content %q); the daemon must lock the pid file and write its pid before the command exits, check its log",
			errNotStarted, a.o.PIDFile, after.State, after.Content))
	}
	res.Status = StatusOK
	if wasStale {
		res.Status = StatusStale
	}
	a.log.Debug("started", "pid", after.PID)
	return res, nil
}

// runStarter runs s, telling it the guard file held for it if it wants to
// know (a [CommandStarter] marks it in the command's environment).
func (a *action) runStarter(ctx context.Context, s Starter) error {
	if gs, ok := s.(guardedStarter); ok {
		return gs.start(ctx, a.guard)
	}
	return s.Start(ctx)
}
