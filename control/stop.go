//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Stop stops the daemon: [StatusAlreadyDone] if it is not running; [StatusStale], with
// an error wrapping [ErrStale], if its PID file is stale (the daemon died:
// the file is kept, so that a later check still shows it, as libucw does).
// Otherwise it sends o.Signal (default SIGTERM) through a pidfd opened
// before checking that the process holds the PID file's lock and that the
// file is unchanged, escalates to SIGKILL after o.KillAfter if set, waits
// for the process to exit and the PID file lock to be released, and
// empties the PID file if it still names the process: [StatusOK]. If ctx ends
// first: [StatusFailed] wrapping [ErrStillRunning] (also when the process is gone
// but its PID file is still locked, by a process that inherited it).
//
// A file that is not a PID file, one locked with invalid content, one
// naming a process that does not hold its lock, and an unlocked one naming
// a live process are [StatusFailed]: nothing is signalled and the file is left
// as it is. A daemon that is starting is stopped through the processes
// that hold its lock (see stopStarting); one that is stopping is waited
// for until it releases the lock.
//
// Waiting for the lock needs only read access to the PID file: a daemon
// whose PID file cannot be written (a read-only path) is stopped, and the
// file, if it still names the dead daemon, is left as it is with a
// warning.
func Stop(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	return a.run(ctx, func() (Result, error) { return a.stop(ctx) })
}

// maxChanges bounds how often an action starts over because the PID file
// changed between reading it and signalling.
const maxChanges = 5

// stop is Stop with the guard locked.
func (a *action) stop(ctx context.Context) (Result, error) {
	sig := a.o.Signal
	if sig == 0 {
		sig = unix.SIGTERM
	}
	before, err := a.inspect()
	res := Result{Before: before, After: before}
	if err != nil {
		return fail(res, err)
	}
	info := before
	for changes := 0; ; changes++ {
		if info.State == lockfile.Stopping {
			if info, err = a.settle(ctx, info); err != nil {
				res.After = info
				return fail(res, err)
			}
		}
		res.After = info
		if err := a.refuse(info); err != nil {
			return fail(res, err)
		}
		switch info.State {
		case lockfile.NotRunning:
			res.Status = StatusAlreadyDone
			return res, nil
		case lockfile.Stale:
			res.Status = StatusStale
			return res, a.stale(info)
		}
		if info.State == lockfile.Starting {
			err = a.stopStarting(ctx, info, sig)
		} else {
			err = a.stopRunning(ctx, info, sig)
		}
		if errors.Is(err, errChanged) && changes < maxChanges {
			if info, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			continue
		}
		res.After, _ = lockfile.Inspect(a.o.PIDFile)
		if err != nil {
			return fail(res, err)
		}
		res.Status = StatusOK
		return res, nil
	}
}

// stale says that the daemon of a stale PID file died.
func (a *action) stale(info lockfile.Info) error {
	what := "while starting"
	if _, pid, _ := pidfile.ParseContent(info.Content, pidfile.PIDMax()); pid != 0 {
		what = "(pid " + strconv.Itoa(pid) + ")"
	}
	return fmt.Errorf("%w %s without cleaning up: pid file %s is kept, so that its status still shows it; start the daemon again, or empty the file", ErrStale, what, a.o.PIDFile)
}

// stopRunning signals the daemon named by a running PID file and waits for
// it to stop. It returns an error wrapping errChanged if the PID file
// changed before anything was sent.
func (a *action) stopRunning(ctx context.Context, info lockfile.Info, sig syscall.Signal) (err error) {
	verdict := a.awaitVerdict(ctx, info, "stop")
	defer func() {
		if v := verdict(); err == nil {
			err = v
		}
	}()
	p, err := a.signal(info, sig)
	if err != nil && !errors.Is(err, errGone) {
		return err
	}
	if p != nil {
		defer p.close()
	} else if cur, ierr := lockfile.Inspect(a.o.PIDFile); ierr == nil && cur.State.Alive() {
		// Gone before anything was sent (pidfd_open or the holder check
		// found no process): a process that has exited has closed its
		// descriptors, so whatever holds the lock is not the daemon.
		// Waiting for it would only run out the timeout.
		return a.notHolder(info, true)
	}
	return a.waitStopped(ctx, info, p)
}

// settle waits while the daemon is starting (until it is running or gone)
// or stopping (until it releases the PID file lock), and returns the state
// it settled in.
func (a *action) settle(ctx context.Context, info lockfile.Info) (lockfile.Info, error) {
	wait := 5 * time.Millisecond
	logged := false
	for info.State == lockfile.Starting || info.State == lockfile.Stopping {
		if !logged {
			a.log.Info("waiting for the daemon to finish "+info.State.String(), "state", info.State)
			logged = true
		}
		var err error
		if info.State == lockfile.Stopping {
			// Wait on the lock itself: it is released when the daemon exits.
			err = pidlock.WaitUnlocked(ctx, a.o.PIDFile)
		} else {
			// A starting daemon will write its PID: look again, backing off.
			err = sleep(ctx, wait)
			wait = min(2*wait, 200*time.Millisecond)
		}
		if err != nil {
			return info, a.timeout(ctx, fmt.Errorf("daemon with pid file %s still %s: %w; %s", a.o.PIDFile, info.State, err, a.stuckHint(info)))
		}
		if info, err = a.inspect(); err != nil {
			return info, err
		}
	}
	return info, nil
}

// stuckHint says what to do about a daemon that stayed starting or
// stopping, naming the processes that hold its PID file lock.
func (a *action) stuckHint(info lockfile.Info) string {
	hint := "try again later, or look at the daemon's log"
	procs, err := lockHolders(info.Dev, info.Ino)
	if err != nil || len(procs) == 0 {
		return hint
	}
	held := "the pid file lock is held by " + a.describe(procs)
	pid := strconv.Itoa(procs[0].PID)
	if info.State == lockfile.Starting {
		return held + "; stop it (which signals the processes that hold the lock), or try again later"
	}
	return held + "; it may be hanging while it exits: look at its log, or end it with `kill -KILL " + pid + "`"
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopStarting stops a daemon whose PID file is locked and says
// "(starting)": it signals every process that holds the PID file's
// exclusive lock, then waits for the lock to be released.
//
// Under the guard, no live controller's start is in progress (it would
// hold the guard), so a PID file that is starting belongs to a daemon
// started without a controller, or to a start whose controller died: a
// framework daemon whose launcher is gone writes its own PID in a moment,
// but a program that merely keeps the PID file's descriptor never will.
// Waiting for a PID could therefore wait forever, while the processes
// that hold the lock are exactly the daemon being started (its launcher,
// and the daemon stage that inherited the lock): signalling them is
// stopping it, and a framework launcher that gets SIGTERM aborts the start
// and kills its daemon stage. Each holder is signalled through a pidfd
// opened before /proc confirmed that it holds the lock, after the PID file
// was re-checked (still starting, same file), so a process that exits and
// leaves its PID to another one is never hit. KillAfter escalates the same
// way. If no holder can be seen (only this process, or /proc cannot tell
// us), it waits for the lock instead, as for a stopping daemon.
func (a *action) stopStarting(ctx context.Context, info lockfile.Info, sig syscall.Signal) error {
	procs, err := a.holderHandles(info)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range procs {
			p.close()
		}
	}()
	if len(procs) == 0 {
		a.log.Info("waiting for the daemon to finish starting: no process that holds its lock can be signalled", "state", info.State)
		if err := pidlock.WaitUnlocked(ctx, a.o.PIDFile); err != nil {
			return a.timeout(ctx, fmt.Errorf("daemon with pid file %s still starting: %w; %s", a.o.PIDFile, err, a.stuckHint(info)))
		}
		return fmt.Errorf("%w: it stopped starting", errChanged)
	}
	if err := a.signalAll(procs, sig); err != nil {
		return err
	}
	signalled := time.Now()
	if err := a.waitUnlockedKill(ctx, info, procs); err != nil {
		return a.stillRunning(ctx, procs[0].pid(), signalled, err)
	}
	a.emptyIfStill(info, "")
	return nil
}

// holderHandles opens a handle for each process that holds the exclusive
// lock of the PID file info (other than this process), and keeps those
// that still hold it once their handle is open. It returns an error
// wrapping errChanged if the PID file changed meanwhile, and one wrapping
// ErrUnverified if /proc cannot tell who holds the lock.
func (a *action) holderHandles(info lockfile.Info) ([]process, error) {
	all, err := lockHolders(info.Dev, info.Ino)
	if err != nil {
		return nil, fmt.Errorf("cannot tell which processes hold the lock of pid file %s: %w%s; %w", a.o.PIDFile, err, fdHint(err), ErrUnverified)
	}
	var procs []process
	for _, h := range all {
		p, err := a.open(h.PID)
		if errors.Is(err, errGone) {
			continue
		}
		if err == nil {
			err = a.holds(info, p)
		}
		if errors.Is(err, errNotHolder) || errors.Is(err, errGone) {
			p.close()
			continue
		}
		if err != nil {
			if p != nil {
				p.close()
			}
			closeAll(procs)
			return nil, err
		}
		procs = append(procs, p)
	}
	if err := a.unchanged(info); err != nil {
		closeAll(procs)
		return nil, err
	}
	return procs, nil
}

func closeAll(procs []process) {
	for _, p := range procs {
		p.close()
	}
}

// signalAll sends sig to each of procs (a process that has exited since
// is skipped).
func (a *action) signalAll(procs []process, sig syscall.Signal) error {
	for _, p := range procs {
		a.log.Info("signalling a process that holds the pid file lock", "pid", p.pid(), "signal", SignalName(sig), "via", p.how())
		if err := p.signal(sig); err != nil && !errors.Is(err, errGone) {
			return fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
		}
	}
	return nil
}

// waitUnlockedKill waits for the PID file lock to be released, sending
// SIGKILL to those of procs that still hold it after KillAfter.
func (a *action) waitUnlockedKill(ctx context.Context, info lockfile.Info, procs []process) error {
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if a.o.KillAfter > 0 {
		wctx, cancel = context.WithTimeout(ctx, a.o.KillAfter)
	}
	err := pidlock.WaitUnlocked(wctx, a.o.PIDFile)
	cancel()
	if err == nil || a.o.KillAfter <= 0 || ctx.Err() != nil {
		return err
	}
	if err := a.unchanged(info); errors.Is(err, errChanged) {
		return pidlock.WaitUnlocked(ctx, a.o.PIDFile) // it exited, or the file changed
	} else if err != nil {
		return err
	}
	for _, p := range procs {
		switch herr := a.holds(info, p); {
		case herr == nil:
			a.log.Warn("process did not exit: sending SIGKILL", "pid", p.pid(), "after", a.o.KillAfter, "via", p.how())
			a.killed.Store(true)
			if err := p.signal(unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
			}
		case errors.Is(herr, errGone), errors.Is(herr, errNotHolder):
		default:
			return herr
		}
	}
	return pidlock.WaitUnlocked(ctx, a.o.PIDFile)
}

// emptyIfStill empties the PID file once its daemon is gone, if it is
// unlocked and still the file info was read from, with the same content
// (or, if content is not empty, that content). A file that cannot be
// written (a read-only path, no permission) is left as it is, with a
// warning: the daemon is gone all the same, and a later status shows the
// file stale.
func (a *action) emptyIfStill(info lockfile.Info, content string) {
	if content == "" {
		content = string(info.Content)
	}
	cur, err := lockfile.Inspect(a.o.PIDFile)
	if err != nil || cur.State.Alive() || cur.Dev != info.Dev || cur.Ino != info.Ino || string(cur.Content) != content {
		return // gone, taken over or changed: not ours to empty
	}
	f, err := pidlock.Acquire(a.o.PIDFile)
	if err != nil {
		a.log.Warn(fmt.Sprintf("the daemon is gone, but pid file %s cannot be emptied; it is left as it is (still %q, so its status shows it stale)", a.o.PIDFile, content), "error", err)
		return
	}
	defer f.Release()
	b, err := f.Read()
	if err != nil || f.Dev() != info.Dev || f.Ino() != info.Ino || string(b) != content {
		return
	}
	if err := f.Clear(); err != nil {
		a.log.Warn(fmt.Sprintf("the daemon is gone, but pid file %s cannot be emptied; it is left as it is", a.o.PIDFile), "error", err)
		return
	}
	a.log.Debug("emptied pid file", "content", content)
}

// waitStopped waits for the signalled daemon info.PID to exit (escalating
// to SIGKILL after KillAfter) and for its PID file lock to be released,
// then empties the PID file if it still names the daemon. p is nil if the
// process was already gone.
func (a *action) waitStopped(ctx context.Context, info lockfile.Info, p process) error {
	pid := info.PID
	signalled := time.Now()
	if p != nil {
		exited, werr := p.wait(ctx, a.o.KillAfter)
		if werr == nil && !exited {
			a.log.Warn("daemon did not exit: sending SIGKILL", "pid", pid, "after", a.o.KillAfter)
			a.killed.Store(true)
			if err := p.signal(unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
			}
			exited, werr = p.wait(ctx, 0)
		}
		switch {
		case errors.Is(werr, errNoWait):
			if err := a.waitUnlockedKill(ctx, info, []process{p}); err != nil {
				return a.stillRunning(ctx, pid, signalled, err)
			}
		case werr != nil:
			return a.stillRunning(ctx, pid, signalled, werr)
		case !exited:
			return a.stillRunning(ctx, pid, signalled, ctx.Err())
		}
	}
	if cur, err := lockfile.Inspect(a.o.PIDFile); err != nil || cur.State.Alive() {
		a.log.Info("daemon exited but its pid file is still locked: waiting for the lock", "pid", pid)
		if err := pidlock.WaitUnlocked(ctx, a.o.PIDFile); err != nil {
			procs, _ := lockHolders(info.Dev, info.Ino)
			return a.timeout(ctx, fmt.Errorf("%w: pid %d is gone but pid file %s is still locked by %s: %w; a process that inherited the lock holds it: end it, or wait for it",
				errLockHeld, pid, a.o.PIDFile, a.describe(procs), err))
		}
	}
	a.emptyIfStill(info, "")
	a.log.Debug("stopped", "pid", pid)
	return nil
}

func (a *action) stillRunning(ctx context.Context, pid int, signalled time.Time, err error) error {
	hint := "try again with a longer timeout"
	if a.o.KillAfter <= 0 {
		hint += ", or escalate to SIGKILL with a kill-after delay"
	}
	if interrupted(ctx) {
		hint = "it may still stop: check its status"
	}
	return a.timeout(ctx, fmt.Errorf("pid %d (pid file %s) %w %v after the signal (%w); %s",
		pid, a.o.PIDFile, ErrStillRunning, time.Since(signalled).Round(time.Millisecond), err, hint))
}
