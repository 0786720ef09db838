//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// release unlocks f on its open file description, then closes it. Closing
// alone would leave the lock held by any copy of the descriptor: a child
// that another goroutine of this process forks at that moment holds one
// until its exec closes it, so the file would look locked ("stopping") for
// an instant after the action, and a start right after a stop would report
// "already running" and start nothing.
func release(f *lockfile.File) {
	if f == nil {
		return // a guard held by the controller that started us (acquireGuard)
	}
	unix.Flock(int(f.File().Fd()), unix.LOCK_UN)
	f.Close()
}

// action is one control action in progress.
type action struct {
	o     Options
	log   *slog.Logger
	begin time.Time
	guard *lockfile.File // the guard file, while run holds it
}

func newAction(o Options) (*action, error) {
	if o.PIDFile == "" {
		return nil, errors.New("no pid file given: set the PID file of the daemon to control")
	}
	if o.GuardFile == "" {
		o.GuardFile = lockfile.GuardPath(o.PIDFile)
	}
	if filepath.Clean(o.GuardFile) == filepath.Clean(o.PIDFile) {
		return nil, fmt.Errorf("guard file %s is the pid file: give a separate guard file (default %s)", o.GuardFile, lockfile.GuardPath(o.PIDFile))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &action{
		o:     o,
		log:   o.Logger.With("pid_file", o.PIDFile),
		begin: time.Now(),
	}, nil
}

// elapsed is the time since the action began, for messages.
func (a *action) elapsed() time.Duration { return time.Since(a.begin).Round(time.Millisecond) }

// timeout wraps an error caused by ctx ending (or by the end of a context
// derived from ctx, which err then wraps) with ErrTimeout (a deadline
// passed) or ErrInterrupted (ctx was canceled).
func (a *action) timeout(ctx context.Context, err error) error {
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrInterrupted) {
		return err
	}
	switch {
	case interrupted(ctx):
		return fmt.Errorf("%w after %v: %w", ErrInterrupted, a.elapsed(), err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w after %v: %w", ErrTimeout, a.elapsed(), err)
	}
	return err
}

// ended reports whether err was caused by ctx (or a context derived from
// it) ending.
func ended(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// interrupted reports whether ctx was canceled rather than timed out.
func interrupted(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// lockGuard takes the guard file, waiting until ctx is done.
func (a *action) lockGuard(ctx context.Context) (*lockfile.File, error) {
	a.log.Debug("locking guard file", "guard_file", a.o.GuardFile)
	g, err := acquireGuard(ctx, a.o.GuardFile, a.log)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(a.o.GuardFile)
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("directory %s (of pid file %s) does not exist: create it, or give a pid file in an existing directory: %w", dir, a.o.PIDFile, err)
		}
	}
	if err != nil {
		err = fmt.Errorf("lock guard file %s of pid file %s: %w", a.o.GuardFile, a.o.PIDFile, err)
		if ctx.Err() != nil && !interrupted(ctx) {
			return nil, fmt.Errorf("%w; another control action on this daemon is still running, try again later", a.timeout(ctx, err))
		}
		if ctx.Err() != nil {
			return nil, a.timeout(ctx, err)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w; run as the daemon's user or as root", err)
		}
		return nil, err
	}
	return g, nil
}

// run runs fn with the guard file locked.
func (a *action) run(ctx context.Context, fn func() (Result, error)) (Result, error) {
	if a.o.GuardHeld {
		return fn()
	}
	g, err := a.lockGuard(ctx)
	if err != nil {
		return Result{Status: Error}, err
	}
	defer release(g)
	a.guard = g
	defer func() { a.guard = nil }()
	return fn()
}

// inspect reads the state of the PID file and refuses one that is not a
// regular file or is world-writable.
func (a *action) inspect() (lockfile.Info, error) {
	info, err := lockfile.Inspect(a.o.PIDFile)
	if errors.Is(err, lockfile.ErrHardLink) {
		return info, fmt.Errorf("examine pid file %s: %w", a.o.PIDFile, err)
	}
	if err != nil {
		return info, fmt.Errorf("examine pid file %s: %w (it must be a regular file, not a symlink, directory or FIFO)", a.o.PIDFile, err)
	}
	if info.Ino != 0 && info.Mode&0o002 != 0 {
		return info, fmt.Errorf("%w: pid file %s is world-writable (mode %04o), so anyone could make it name any process; make it writable only by the daemon's user (chmod 644 %s)",
			ErrUnsafe, a.o.PIDFile, info.Mode, a.o.PIDFile)
	}
	a.log.Debug("pid file state", "state", info.State, "pid", info.PID)
	return info, nil
}

// invalid explains a locked PID file with unknown content.
func (a *action) invalid(info lockfile.Info) error {
	if info.Reason == nil {
		info.Reason = lockfile.ErrInvalidPID
	}
	return fmt.Errorf("%w: pid file %s is locked but holds %q (%w); some process holds its lock without being a daemon of this protocol: find it with `fuser %s` and fix or remove the file",
		ErrInvalid, a.o.PIDFile, info.Content, info.Reason, a.o.PIDFile)
}

func fail(res Result, err error) (Result, error) {
	res.Status = Error
	return res, err
}

// Check reports the state of the daemon: [OK] if it is running, starting
// or stopping, [NotRunning], [Stale] (the PID file names a daemon that died)
// or [Error] (the PID file is unusable, or locked with invalid content).
//
// Check takes the guard file like every action; if the guard file cannot
// be opened for lack of permission (an unprivileged user asking about a
// system daemon), it reads the state without it, which is safe because
// reading does not change anything.
func Check(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: Error}, err
	}
	var g *lockfile.File
	if !a.o.GuardHeld {
		g, err = a.lockGuard(ctx)
	}
	switch {
	case a.o.GuardHeld:
	case err == nil:
		defer release(g)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS):
		a.log.Info("checking without the guard file", "guard_file", a.o.GuardFile, "error", err)
	default:
		return Result{Status: Error}, err
	}
	info, err := a.inspect()
	res := Result{Before: info, After: info}
	if err != nil {
		return fail(res, err)
	}
	switch info.State {
	case lockfile.NotRunning:
		res.Status = NotRunning
	case lockfile.Stale:
		res.Status = Stale
	case lockfile.Invalid:
		return fail(res, a.invalid(info))
	default:
		res.Status = OK
	}
	return res, nil
}

// Start starts the daemon with s unless it is running or starting
// ([AlreadyDone]). A daemon that is stopping is waited for (until it
// releases its PID file lock, or ctx ends) and then started. Start waits
// for s to return: then the daemon must be running ([OK], or [Stale] if the
// PID file was stale before, as libucw reports). A starter error that wraps
// [lockfile.ErrLocked] or is an [*ExitError] with status 100 means
// [AlreadyDone]; an [*ExitError] with status 103 (a start command that is
// itself a controller and found the PID file stale) with the daemon running
// afterwards means [Stale]; any other failure is [Error], and the error
// carries the starter's (an [*ExitError] for a [CommandStarter]: exit
// status or signal and message).
func Start(ctx context.Context, o Options, s Starter) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: Error}, err
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
			f, err := lockfile.AcquireWait(ctx, a.o.PIDFile)
			if err != nil {
				return fail(res, a.timeout(ctx, fmt.Errorf("start daemon for pid file %s: the previous daemon is still stopping: %w; try again later, or stop it with a kill-after delay", a.o.PIDFile, err)))
			}
			release(f)
			if before, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			res.After = before
		}
	}
	switch before.State {
	case lockfile.Starting, lockfile.Running:
		a.log.Debug("already running")
		res.Status = AlreadyDone
		return res, nil
	case lockfile.Invalid:
		return fail(res, a.invalid(before))
	}
	if s == nil {
		return fail(res, fmt.Errorf("start daemon for pid file %s: %w", a.o.PIDFile, ErrNoStarter))
	}
	a.log.Debug("running start command", "stale", wasStale)
	serr := s.Start(withGuard(ctx, a.guard))
	after, ierr := a.inspect()
	res.After = after
	var xe *ExitError
	if errors.As(serr, &xe) && xe.Signal == 0 && xe.Code == int(Stale) && ierr == nil && after.State == lockfile.Running {
		// The start command is itself a controller that started the
		// daemon and reported the stale PID file it found (libucw's 103).
		a.log.Debug("start command reported a stale pid file", "error", serr)
		serr, wasStale = nil, true
	}
	if serr != nil {
		if errors.Is(serr, lockfile.ErrLocked) || errors.As(serr, &xe) && xe.AlreadyRunning() {
			a.log.Debug("start command says already running", "error", serr)
			res.Status = AlreadyDone
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
			ErrNotStarted, a.o.PIDFile, after.State, after.Content))
	}
	res.Status = OK
	if wasStale {
		res.Status = Stale
	}
	a.log.Debug("started", "pid", after.PID)
	return res, nil
}

// Stop stops the daemon: [AlreadyDone] if it is not running (a stale PID
// file is emptied, and reported in Before). Otherwise it sends o.Signal
// (default SIGTERM) through a pidfd after checking again that the PID file
// still names the process, escalates to SIGKILL after o.KillAfter if set,
// waits for the process to exit and the PID file lock to be released, and
// empties the PID file if it still names the process: [OK]. If ctx ends
// first: [Error] wrapping [ErrStillRunning] or [ErrLockHeld].
//
// A daemon that is starting is waited for until it is running (then
// stopped) or gone; one that is stopping is waited for until it releases
// the lock.
func Stop(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: Error}, err
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
		if info, err = a.settle(ctx, info); err != nil {
			res.After = info
			return fail(res, err)
		}
		switch info.State {
		case lockfile.NotRunning:
			res.After, res.Status = info, AlreadyDone
			return res, nil
		case lockfile.Stale:
			a.clearStale(info)
			res.After, _ = lockfile.Inspect(a.o.PIDFile)
			res.Status = AlreadyDone
			return res, nil
		case lockfile.Invalid:
			res.After = info
			return fail(res, a.invalid(info))
		}
		p, err := a.signal(info, sig)
		if errors.Is(err, ErrChanged) && changes < maxChanges {
			if info, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			continue
		}
		if err != nil && !errors.Is(err, errGone) {
			res.After, _ = lockfile.Inspect(a.o.PIDFile)
			return fail(res, err)
		}
		if p != nil {
			defer p.close()
		}
		err = a.waitStopped(ctx, info, p)
		res.After, _ = lockfile.Inspect(a.o.PIDFile)
		if err != nil {
			return fail(res, err)
		}
		res.Status = OK
		return res, nil
	}
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
			var f *lockfile.File
			if f, err = lockfile.AcquireWait(ctx, a.o.PIDFile); err == nil {
				release(f)
			}
		} else {
			// A starting daemon will write its PID: look again, backing off.
			// (Under the guard protocol a controller sees this state only
			// for daemons started without the guard.)
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
	pids, err := procfs.Holders(info.Dev, info.Ino)
	if err != nil {
		return hint
	}
	pids = slices.DeleteFunc(pids, func(p int) bool { return p == os.Getpid() })
	if len(pids) == 0 {
		return hint
	}
	names := make([]string, len(pids))
	for i, p := range pids {
		names[i] = fmt.Sprintf("pid %d (%s)", p, procfs.Comm(p))
	}
	held := "the pid file lock is held by " + strings.Join(names, ", ")
	if info.State == lockfile.Starting {
		return held + "; if the program that started it is gone (e.g. killed before the daemon was ready), nobody will write its pid: stop it with `kill " + strconv.Itoa(pids[0]) + "` and start it again, else try again later"
	}
	return held + "; it may be hanging while it exits: look at its log, or end it with `kill -KILL " + strconv.Itoa(pids[0]) + "`"
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

// clearStale empties a stale PID file, so that Stop leaves it not running,
// if the file is unlocked and unchanged since info was read.
func (a *action) clearStale(info lockfile.Info) {
	f, err := lockfile.Acquire(a.o.PIDFile)
	if err != nil {
		a.log.Info("not clearing stale pid file", "error", err)
		return
	}
	defer release(f)
	b, err := f.Read()
	if err != nil || f.Dev() != info.Dev || f.Ino() != info.Ino || string(b) != string(info.Content) {
		a.log.Info("not clearing stale pid file: it changed", "content", string(b))
		return
	}
	if err := f.Clear(); err != nil {
		a.log.Warn("clearing stale pid file", "error", err)
		return
	}
	a.log.Info("cleared stale pid file", "content", string(b))
}

// signal sends sig to the daemon named by info (Running), through a pidfd
// opened before checking again that the PID file is still locked, is the
// same file and names the same PID. It returns the process handle (for
// waiting) and errGone if the process had already exited, or an error
// wrapping ErrChanged if the PID file changed (nothing was sent).
func (a *action) signal(info lockfile.Info, sig syscall.Signal) (process, error) {
	pid := info.PID
	if err := checkPID(pid); err != nil {
		return nil, fmt.Errorf("pid file %s: %w: %w; fix or empty the pid file", a.o.PIDFile, lockfile.ErrInvalidPID, err)
	}
	var p process
	var err error
	if a.o.noPidfd {
		p, err = newKillProcess(pid)
	} else {
		p, err = openProcess(pid)
	}
	if errors.Is(err, errGone) {
		a.log.Info("daemon process already gone", "pid", pid)
		return nil, errGone
	}
	if err != nil {
		return nil, fmt.Errorf("open pid %d named by pid file %s: %w", pid, a.o.PIDFile, err)
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
// info still is the one to signal: the process has the PID file open (that
// is how a daemon holds the lock; a process that does not is not the
// daemon, its PID was reused while someone else holds the lock), and the
// PID file is still locked, the same file and names the same PID. With a
// pidfd the process checked is the one signalled: if it exits in between,
// the signal fails. It returns errGone if the process is gone, and errors
// wrapping ErrNotHolder or ErrChanged.
func (a *action) recheck(info lockfile.Info, p process) error {
	pid := info.PID
	switch held, err := holdsFile(pid, info.Dev, info.Ino); {
	case errors.Is(err, errGone):
		a.log.Info("daemon process already gone", "pid", pid)
		return errGone
	case err != nil:
		a.log.Debug("cannot tell whether the process holds the pid file", "pid", pid, "error", err, "via", p.how())
	case !held:
		return fmt.Errorf("%w: pid file %s is locked and names pid %d, but that process does not have the file open, so it is not the daemon; nothing was sent. Find the lock holder with `fuser %s`",
			ErrNotHolder, a.o.PIDFile, pid, a.o.PIDFile)
	}
	cur, err := a.inspect()
	if err != nil {
		return err
	}
	if cur.State != lockfile.Running || cur.PID != pid || cur.Dev != info.Dev || cur.Ino != info.Ino {
		a.log.Info("pid file changed before signalling", "state", cur.State, "pid", cur.PID)
		return fmt.Errorf("%w: pid file %s named pid %d but is now %s (content %q); nothing was sent",
			ErrChanged, a.o.PIDFile, pid, cur.State, cur.Content)
	}
	return nil
}

// waitStopped waits for the signalled daemon info.PID to exit (escalating
// to SIGKILL after KillAfter) and for its PID file lock to be released,
// then empties the PID file if it still names the daemon. p is nil if the
// process was already gone.
func (a *action) waitStopped(ctx context.Context, info lockfile.Info, p process) error {
	pid := info.PID
	signalled := time.Now()
	var f *lockfile.File
	var err error
	if p != nil {
		exited, werr := p.wait(ctx, a.o.KillAfter)
		if werr == nil && !exited {
			a.log.Warn("daemon did not exit: sending SIGKILL", "pid", pid, "after", a.o.KillAfter)
			if err := p.signal(unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
			}
			exited, werr = p.wait(ctx, 0)
		}
		switch {
		case errors.Is(werr, errNoWait):
			f, err = a.waitLockKill(ctx, info, p)
			if err != nil {
				return err
			}
		case werr != nil:
			return a.stillRunning(ctx, pid, signalled, werr)
		case !exited:
			return a.stillRunning(ctx, pid, signalled, ctx.Err())
		}
	}
	if f == nil {
		f, err = lockfile.Acquire(a.o.PIDFile)
		if errors.Is(err, lockfile.ErrLocked) {
			a.log.Info("daemon exited but its pid file is still locked: waiting for the lock", "pid", pid)
			f, err = lockfile.AcquireWait(ctx, a.o.PIDFile)
			if err != nil && ctx.Err() != nil {
				return a.timeout(ctx, fmt.Errorf("%w: pid %d is gone but pid file %s is still locked: %w; a process that inherited the lock holds it, find it with `fuser %s`",
					ErrLockHeld, pid, a.o.PIDFile, err, a.o.PIDFile))
			}
		}
		if err != nil {
			return fmt.Errorf("lock pid file %s after pid %d exited: %w", a.o.PIDFile, pid, err)
		}
	}
	defer release(f)
	b, err := f.Read()
	if err != nil {
		return fmt.Errorf("read pid file %s: %w", a.o.PIDFile, err)
	}
	if c, cpid, _ := lockfile.ParseContent(b, lockfile.PIDMax()); c == lockfile.ContentPID && cpid == pid && f.Dev() == info.Dev && f.Ino() == info.Ino {
		if err := f.Clear(); err != nil {
			return fmt.Errorf("empty pid file %s after pid %d exited: %w", a.o.PIDFile, pid, err)
		}
		a.log.Debug("emptied pid file", "pid", pid)
	}
	a.log.Debug("stopped", "pid", pid)
	return nil
}

// waitLockKill waits for the PID file lock where the process cannot be
// waited for (kill(2) fallback), escalating to SIGKILL after KillAfter
// (after the same re-check as the first signal).
func (a *action) waitLockKill(ctx context.Context, info lockfile.Info, p process) (*lockfile.File, error) {
	signalled := time.Now()
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if a.o.KillAfter > 0 {
		wctx, cancel = context.WithTimeout(ctx, a.o.KillAfter)
	}
	f, err := lockfile.AcquireWait(wctx, a.o.PIDFile)
	cancel()
	if err != nil && a.o.KillAfter > 0 && ctx.Err() == nil {
		switch rerr := a.recheck(info, p); {
		case rerr == nil:
			a.log.Warn("daemon did not exit: sending SIGKILL", "pid", info.PID, "after", a.o.KillAfter, "via", p.how())
			if err := p.signal(unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
				return nil, fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
			}
		case errors.Is(rerr, errGone), errors.Is(rerr, ErrChanged):
			// It exited, or the file changed: wait for the lock.
		default:
			return nil, rerr
		}
		f, err = lockfile.AcquireWait(ctx, a.o.PIDFile)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, a.stillRunning(ctx, info.PID, signalled, err)
		}
		return nil, fmt.Errorf("lock pid file %s: %w", a.o.PIDFile, err)
	}
	return f, nil
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

// Signal sends o.Signal (default SIGHUP) to the running daemon, the same
// way [Stop] does, without waiting: [OK], or [NotRunning] if it is not
// running (or its PID file is stale). A starting daemon is waited for until
// it is running; a stopping one until it is gone.
func Signal(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: Error}, err
	}
	sig := o.Signal
	if sig == 0 {
		sig = unix.SIGHUP
	}
	return a.run(ctx, func() (Result, error) {
		before, err := a.inspect()
		res := Result{Before: before, After: before}
		if err != nil {
			return fail(res, err)
		}
		info := before
		for changes := 0; ; changes++ {
			if info, err = a.settle(ctx, info); err != nil {
				res.After = info
				return fail(res, err)
			}
			res.After = info
			switch info.State {
			case lockfile.NotRunning, lockfile.Stale:
				res.Status = NotRunning
				return res, nil
			case lockfile.Invalid:
				return fail(res, a.invalid(info))
			}
			p, err := a.signal(info, sig)
			if errors.Is(err, ErrChanged) && changes < maxChanges {
				if info, err = a.inspect(); err != nil {
					return fail(res, err)
				}
				continue
			}
			if p != nil {
				p.close()
			}
			if errors.Is(err, errGone) {
				res.After, _ = lockfile.Inspect(a.o.PIDFile)
				res.Status = NotRunning
				return res, nil
			}
			if err != nil {
				return fail(res, err)
			}
			res.Status = OK
			return res, nil
		}
	})
}

// Restart stops the daemon as [Stop] does, then starts it as [Start] does,
// holding the guard file throughout, so no other action runs in between.
// The status is Start's ([Stale] if the PID file was stale before); Before
// is the state before stopping.
func Restart(ctx context.Context, o Options, s Starter) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: Error}, err
	}
	return a.run(ctx, func() (Result, error) {
		r, err := a.stop(ctx)
		if err != nil {
			return r, err
		}
		a.log.Debug("stopped, starting", "stop_status", r.Status)
		rs, err := a.start(ctx, r.After, r.Before.State == lockfile.Stale, s)
		rs.Before = r.Before
		return rs, err
	})
}
