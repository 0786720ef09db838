//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Signal sends o.Signal (default SIGHUP) to the running daemon, the same
// way [Stop] does, without waiting: [StatusOK], or [StatusNotRunning] if it is not
// running (or its PID file is stale). A starting daemon is waited for until
// it is running; a stopping one until it is gone. A PID file that [Stop]
// refuses is [StatusFailed] here too, also an unlocked one naming a live process:
// it is running, so "not running" would be wrong, but it is not ours to
// signal.
func Signal(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	sig := o.Signal
	if sig == 0 {
		sig = unix.SIGHUP
	}
	return a.run(ctx, func() (Result, error) {
		return a.onRunning(ctx, func(info lockfile.Info) error {
			p, err := a.signal(info, sig)
			if p != nil {
				p.close()
			}
			return err
		})
	})
}

// signalGone reports a daemon found gone while signalling it: not running,
// unless its PID file is still locked by someone else.
func (a *action) signalGone(info lockfile.Info, res Result) (Result, error) {
	res.After, _ = lockfile.Inspect(a.o.PIDFile)
	if res.After.State.Alive() {
		return fail(res, a.notHolder(info, true))
	}
	res.Status = StatusNotRunning
	return res, nil
}

// open returns a handle for pid (a pidfd where there are pidfds).
func (a *action) open(pid int) (process, error) {
	if a.o.noPidfd {
		return newKillProcess(pid)
	}
	return openProcess(pid)
}

// signal sends sig to the daemon named by info (Running), through a pidfd
// opened before checking that the process holds the PID file's lock and
// that the PID file is still locked, is the same file and names the same
// PID. It returns the process handle (for waiting) and errGone if the
// process had already exited, or an error wrapping errChanged if the PID
// file changed (nothing was sent).
func (a *action) signal(info lockfile.Info, sig syscall.Signal) (process, error) {
	pid := info.PID
	if err := checkPID(pid); err != nil {
		return nil, fmt.Errorf("pid file %s: %w: %w; fix or empty the pid file", a.o.PIDFile, lockfile.ErrInvalidPID, err)
	}
	p, err := a.open(pid)
	if errors.Is(err, errGone) {
		a.log.Info("daemon process already gone", "pid", pid)
		return nil, errGone
	}
	if err != nil {
		return nil, fmt.Errorf("open pid %d named by pid file %s: %w%s", pid, a.o.PIDFile, err, fdHint(err))
	}
	if err := a.recheck(info, p); err != nil {
		p.close()
		return nil, err
	}
	a.log.Debug("sending signal", "pid", pid, "signal", SignalName(sig), "via", p.how())
	if err := p.signal(sig); err != nil {
		if errors.Is(err, errGone) {
			return p, errGone
		}
		p.close()
		return nil, fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
	}
	return p, nil
}

// recheck verifies, right before signalling p, that the daemon named by
// info still is the one to signal: the process holds the PID file's lock,
// and the PID file is still locked, the same file and names the same
// PID. It returns errGone if the process is gone, and errors wrapping
// errNotHolder, ErrUnverified or errChanged.
func (a *action) recheck(info lockfile.Info, p process) error {
	if err := a.holds(info, p); errors.Is(err, errNotHolder) {
		return a.notHolder(info, false)
	} else if err != nil {
		return err
	}
	return a.unchanged(info)
}

// holds checks that the process behind p, opened before this check (so
// that the process checked is the one that a later signal reaches: if it
// exits in between, the signal fails), holds the exclusive lock of the
// PID file info. It returns nil if it does, errGone if it is gone, an
// error wrapping errNotHolder if it does not, and one wrapping
// ErrUnverified if it cannot tell: nothing may then be sent. Where there
// is no /proc (not Linux), it cannot tell and returns nil: the re-check of
// the PID file's lock and content is all there is.
func (a *action) holds(info lockfile.Info, p process) error {
	pid := p.pid()
	held, err := holdsLock(pid, info.Dev, info.Ino)
	switch {
	case errors.Is(err, errGone) && confirmGone(p, pid):
		a.log.Info("process already gone", "pid", pid)
		return errGone
	case errors.Is(err, errGone):
		err = errors.New("the process exists but /proc does not show it (is /proc mounted with hidepid?)")
	case errors.Is(err, procfs.ErrUnsupported):
		a.log.Debug("cannot tell whether the process holds the pid file", "pid", pid, "error", err, "via", p.how())
		return nil
	case err == nil && !held:
		return errNotHolder
	case err == nil:
		return nil
	}
	return fmt.Errorf("cannot tell whether pid %d holds pid file %s: %w%s; %w",
		pid, a.o.PIDFile, err, fdHint(err), ErrUnverified)
}

// unchanged checks that the PID file is still in the state info, the same
// file; else it returns an error wrapping errChanged.
func (a *action) unchanged(info lockfile.Info) error {
	cur, err := a.inspect()
	if err != nil {
		return err
	}
	if cur.State != info.State || cur.PID != info.PID || cur.Dev != info.Dev || cur.Ino != info.Ino {
		a.log.Info("pid file changed before signalling", "state", cur.State, "pid", cur.PID)
		return fmt.Errorf("%w: pid file %s was %s (pid %d) but is now %s (content %q); nothing was sent",
			errChanged, a.o.PIDFile, info.State, info.PID, cur.State, cur.Content)
	}
	return nil
}
