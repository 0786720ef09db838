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
	// warnedMode is set once the world-writable PID file was warned about.
	warnedMode bool
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

// lockGuard takes the guard file, waiting until ctx is done. If the wait
// ends with ctx, the error names the processes that hold the guard and
// whether they look like controllers: a guard held by anything else (a
// daemon that inherited it, a user who could open it) is not "another
// control action", and the operator must know which it is.
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
			return nil, fmt.Errorf("%w; %s", a.timeout(ctx, err), a.guardHint())
		}
		if ctx.Err() != nil {
			return nil, a.timeout(ctx, err)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w; run as the daemon's user or as root", err)
		}
		return nil, fmt.Errorf("%w%s", err, fdHint(err))
	}
	return g, nil
}

// guardHint says who holds the guard file, for an action that timed out
// waiting for it.
func (a *action) guardHint() string {
	var st unix.Stat_t
	if err := unix.Stat(a.o.GuardFile, &st); err != nil {
		return "another control action on this daemon may still be running, try again later"
	}
	procs, err := lockHolders(uint64(st.Dev), uint64(st.Ino))
	if err != nil || len(procs) == 0 {
		return "another control action on this daemon may still be running (its holder cannot be seen from here), try again later"
	}
	for _, p := range procs {
		if !looksLikeController(p, 0, 0) {
			return fmt.Sprintf("the guard is held by %s: a process that is not a controller holds the lock (e.g. a daemon that inherited it from the program that started it); end it, or give the action a longer timeout if it is a controller", describeHolders(procs, 0, 0))
		}
	}
	return fmt.Sprintf("the guard is held by %s: another control action on this daemon is still running, try again later", describeHolders(procs, 0, 0))
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

// inspect reads the state of the PID file. It refuses a path that is not
// a regular file. A world-writable PID file is used, with a warning:
// anyone can make it name any process, but no process is ever signalled
// unless /proc shows that it holds the file's lock (see [Stop]), so its
// content can do no more than name a process that the lock already proves
// to be the daemon.
func (a *action) inspect() (lockfile.Info, error) {
	info, err := lockfile.Inspect(a.o.PIDFile)
	switch {
	case errors.Is(err, lockfile.ErrNotRegular):
		return info, fmt.Errorf("examine pid file %s: %w (it must be a regular file, not a symlink, directory or FIFO)", a.o.PIDFile, err)
	case err != nil:
		return info, fmt.Errorf("examine pid file %s: %w%s", a.o.PIDFile, err, fdHint(err))
	}
	if info.Ino != 0 && info.Mode&0o002 != 0 && !a.warnedMode {
		a.warnedMode = true
		a.log.Warn(fmt.Sprintf("pid file %s is world-writable (mode %04o): anyone can make it name any process; only a process that holds its lock is ever signalled, but make it writable only by the daemon's user (chmod 644 %s)",
			a.o.PIDFile, info.Mode, a.o.PIDFile), "error", ErrUnsafe)
	}
	a.log.Debug("pid file state", "state", info.State, "pid", info.PID)
	return info, nil
}

// refuse returns the error for a PID file that no action may use or
// change: one that is not a PID file, locked with invalid content, or
// naming a live process that holds no lock. It returns nil otherwise.
func (a *action) refuse(info lockfile.Info) error {
	switch {
	case info.State == lockfile.NotPIDFile:
		return fmt.Errorf("%w", &lockfile.NotPIDFileError{Path: a.o.PIDFile, Content: info.Content})
	case info.State == lockfile.Invalid:
		return a.invalid(info)
	case info.State == lockfile.Stale && info.NamesLive:
		return a.namesLive(info)
	}
	return nil
}

// namesLive explains an unlocked PID file naming a live process.
func (a *action) namesLive(info lockfile.Info) error {
	_, pid, _ := lockfile.ParseContent(info.Content, lockfile.PIDMax())
	return fmt.Errorf("pid file %s names %s, which is alive but holds no lock on the file: it was %w; nothing was sent and the file was left as it is. Stop it with the tool that started it (or `kill %d` once you are sure it is the daemon), then start it again with this controller",
		a.o.PIDFile, procfs.Describe(pid), ErrUnlockedLive, pid)
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
// or stopping, [NotRunning] (also when the PID file's directory does not
// exist), [Stale] (the PID file names a daemon that died), or [Error] (the
// PID file is unusable, is not a PID file, or is locked with invalid
// content). A stale PID file that names a live process is [Stale] with an
// error wrapping [ErrUnlockedLive]: that process is not to be taken for
// dead.
//
// For a running daemon, Check also makes sure that the process named by
// the PID file holds its lock (kill(2) and one look at /proc, see
// [Stop]); if it does not (it is gone, or it is another process), the
// state is reported as [lockfile.Invalid] with an error wrapping
// [ErrNotHolder] that names the lock holders, rather than "running".
//
// Check takes the guard file like every action; if the guard file cannot
// be opened for lack of permission (an unprivileged user asking about a
// system daemon) or because its directory is missing, it reads the state
// without it, which is safe because reading does not change anything.
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
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) || errors.Is(err, fs.ErrNotExist):
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
		if info.NamesLive {
			return res, a.namesLive(info)
		}
	case lockfile.Invalid, lockfile.NotPIDFile:
		return fail(res, a.refuse(info))
	case lockfile.Running:
		if err := a.checkHolder(info); err != nil {
			info.State, info.PID, info.Since, info.Reason = lockfile.Invalid, 0, time.Time{}, err
			res.Before, res.After = info, info
			return fail(res, err)
		}
		res.Status = OK
	default:
		res.Status = OK
		if procs, err := lockHolders(info.Dev, info.Ino); err == nil && len(procs) > 0 {
			names := make([]string, len(procs))
			for i, p := range procs {
				names[i] = p.String()
			}
			res.Note = "lock held by " + strings.Join(names, ", ")
		}
	}
	return res, nil
}

// checkHolder makes sure that the process named by a running PID file
// holds its lock, cheaply: kill(pid, 0), then one look at the process's
// descriptors in /proc. Where /proc cannot tell (another PID namespace's,
// or not readable by this user), kill(2) alone decides: a PID file naming
// a process that does not exist is never reported as running.
func (a *action) checkHolder(info lockfile.Info) error {
	pid := info.PID
	gone := unix.Kill(pid, 0) == unix.ESRCH
	held := false
	if !gone {
		var err error
		held, err = holdsLock(pid, info.Dev, info.Ino)
		switch {
		case errors.Is(err, errGone):
			st, serr := procfs.ReadStat(pid)
			gone = unix.Kill(pid, 0) == unix.ESRCH || serr == nil && st.Gone()
			held = !gone // a process /proc does not show cannot be judged
		case err != nil:
			a.log.Debug("cannot tell whether the named process holds the pid file", "pid", pid, "error", err)
			return nil
		}
	}
	if held {
		return nil
	}
	return a.notHolder(info, gone)
}

// notHolder explains a locked PID file naming pid info.PID, which does not
// hold its lock (gone: it does not even exist), naming the processes that
// do hold it.
func (a *action) notHolder(info lockfile.Info, gone bool) error {
	what := procfs.Describe(info.PID).String() + ", which does not hold its lock (it only has the file open, or is another process that got the pid)"
	if gone {
		what = fmt.Sprintf("pid %d, which is gone", info.PID)
	}
	procs, err := lockHolders(info.Dev, info.Ino)
	holders := a.describe(procs)
	if err != nil {
		holders = "a process that cannot be seen from here (" + err.Error() + ")"
	}
	hint := "find the lock holder with `fuser " + a.o.PIDFile + "`"
	if len(procs) > 0 {
		hint = "if that is your daemon (e.g. the process that wrote its pid exited and left a child holding the lock), end it with `kill " + strconv.Itoa(procs[0].PID) + "`"
	}
	return fmt.Errorf("%w: pid file %s is locked by %s, but names %s; nothing was sent. To stop it, %s; then start the daemon again",
		ErrNotHolder, a.o.PIDFile, holders, what, hint)
}

// describe names procs for a message, saying which look like controllers
// (which includes holding the guard file this action holds, if any).
func (a *action) describe(procs []procfs.Process) string {
	if a.guard == nil {
		return describeHolders(procs, 0, 0)
	}
	return describeHolders(procs, a.guard.Dev(), a.guard.Ino())
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
	}
	if err := a.refuse(before); err != nil {
		return fail(res, err)
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

// Stop stops the daemon: [AlreadyDone] if it is not running; [Stale], with
// an error wrapping [ErrStale], if its PID file is stale (the daemon died:
// the file is kept, so that a later check still shows it, as libucw does).
// Otherwise it sends o.Signal (default SIGTERM) through a pidfd opened
// before checking that the process holds the PID file's lock and that the
// file is unchanged, escalates to SIGKILL after o.KillAfter if set, waits
// for the process to exit and the PID file lock to be released, and
// empties the PID file if it still names the process: [OK]. If ctx ends
// first: [Error] wrapping [ErrStillRunning] or [ErrLockHeld].
//
// A file that is not a PID file, one locked with invalid content, one
// naming a process that does not hold its lock, and an unlocked one naming
// a live process are [Error]: nothing is signalled and the file is left
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
			res.Status = AlreadyDone
			return res, nil
		case lockfile.Stale:
			res.Status = Stale
			return res, a.stale(info)
		}
		if info.State == lockfile.Starting {
			err = a.stopStarting(ctx, info, sig)
		} else {
			err = a.stopRunning(ctx, info, sig)
		}
		if errors.Is(err, ErrChanged) && changes < maxChanges {
			if info, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			continue
		}
		res.After, _ = lockfile.Inspect(a.o.PIDFile)
		if err != nil {
			return fail(res, err)
		}
		res.Status = OK
		return res, nil
	}
}

// stale says that the daemon of a stale PID file died.
func (a *action) stale(info lockfile.Info) error {
	what := "while starting"
	if _, pid, _ := lockfile.ParseContent(info.Content, lockfile.PIDMax()); pid != 0 {
		what = "(pid " + strconv.Itoa(pid) + ")"
	}
	return fmt.Errorf("%w %s without cleaning up: pid file %s is kept, so that its status still shows it; start the daemon again, or empty the file", ErrStale, what, a.o.PIDFile)
}

// stopRunning signals the daemon named by a running PID file and waits for
// it to stop. It returns an error wrapping ErrChanged if the PID file
// changed before anything was sent.
func (a *action) stopRunning(ctx context.Context, info lockfile.Info, sig syscall.Signal) error {
	p, err := a.signal(info, sig)
	if err != nil && !errors.Is(err, errGone) {
		return err
	}
	if p != nil {
		defer p.close()
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
			err = lockfile.WaitUnlocked(ctx, a.o.PIDFile)
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
		if err := lockfile.WaitUnlocked(ctx, a.o.PIDFile); err != nil {
			return a.timeout(ctx, fmt.Errorf("daemon with pid file %s still starting: %w; %s", a.o.PIDFile, err, a.stuckHint(info)))
		}
		return fmt.Errorf("%w: it stopped starting", ErrChanged)
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
// wrapping ErrChanged if the PID file changed meanwhile, and one wrapping
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
		if errors.Is(err, ErrNotHolder) || errors.Is(err, errGone) {
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
	err := lockfile.WaitUnlocked(wctx, a.o.PIDFile)
	cancel()
	if err == nil || a.o.KillAfter <= 0 || ctx.Err() != nil {
		return err
	}
	if err := a.unchanged(info); errors.Is(err, ErrChanged) {
		return lockfile.WaitUnlocked(ctx, a.o.PIDFile) // it exited, or the file changed
	} else if err != nil {
		return err
	}
	for _, p := range procs {
		switch herr := a.holds(info, p); {
		case herr == nil:
			a.log.Warn("process did not exit: sending SIGKILL", "pid", p.pid(), "after", a.o.KillAfter, "via", p.how())
			if err := p.signal(unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("pid file %s: %w", a.o.PIDFile, err)
			}
		case errors.Is(herr, errGone), errors.Is(herr, ErrNotHolder):
		default:
			return herr
		}
	}
	return lockfile.WaitUnlocked(ctx, a.o.PIDFile)
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
	f, err := lockfile.Acquire(a.o.PIDFile)
	if err != nil {
		a.log.Warn(fmt.Sprintf("the daemon is gone, but pid file %s cannot be emptied; it is left as it is (still %q, so its status shows it stale)", a.o.PIDFile, content), "error", err)
		return
	}
	defer release(f)
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
// process had already exited, or an error wrapping ErrChanged if the PID
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
// ErrNotHolder, ErrUnverified or ErrChanged.
func (a *action) recheck(info lockfile.Info, p process) error {
	if err := a.holds(info, p); errors.Is(err, ErrNotHolder) {
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
// error wrapping ErrNotHolder if it does not, and one wrapping
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
		return ErrNotHolder
	case err == nil:
		return nil
	}
	return fmt.Errorf("cannot tell whether pid %d holds pid file %s: %w%s; %w",
		pid, a.o.PIDFile, err, fdHint(err), ErrUnverified)
}

// unchanged checks that the PID file is still in the state info, the same
// file; else it returns an error wrapping ErrChanged.
func (a *action) unchanged(info lockfile.Info) error {
	cur, err := a.inspect()
	if err != nil {
		return err
	}
	if cur.State != info.State || cur.PID != info.PID || cur.Dev != info.Dev || cur.Ino != info.Ino {
		a.log.Info("pid file changed before signalling", "state", cur.State, "pid", cur.PID)
		return fmt.Errorf("%w: pid file %s was %s (pid %d) but is now %s (content %q); nothing was sent",
			ErrChanged, a.o.PIDFile, info.State, info.PID, cur.State, cur.Content)
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
		if err := lockfile.WaitUnlocked(ctx, a.o.PIDFile); err != nil {
			procs, _ := lockHolders(info.Dev, info.Ino)
			return a.timeout(ctx, fmt.Errorf("%w: pid %d is gone but pid file %s is still locked by %s: %w; a process that inherited the lock holds it: end it, or wait for it",
				ErrLockHeld, pid, a.o.PIDFile, a.describe(procs), err))
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

// Signal sends o.Signal (default SIGHUP) to the running daemon, the same
// way [Stop] does, without waiting: [OK], or [NotRunning] if it is not
// running (or its PID file is stale). A starting daemon is waited for until
// it is running; a stopping one until it is gone. A PID file that [Stop]
// refuses is [Error] here too, also an unlocked one naming a live process:
// it is running, so "not running" would be wrong, but it is not ours to
// signal.
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
			if err := a.refuse(info); err != nil {
				return fail(res, err)
			}
			if info.State == lockfile.NotRunning || info.State == lockfile.Stale {
				res.Status = NotRunning
				return res, nil
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
				return a.signalGone(info, res)
			}
			if err != nil {
				return fail(res, err)
			}
			res.Status = OK
			return res, nil
		}
	})
}

// signalGone reports a daemon found gone while signalling it: not running,
// unless its PID file is still locked by someone else.
func (a *action) signalGone(info lockfile.Info, res Result) (Result, error) {
	res.After, _ = lockfile.Inspect(a.o.PIDFile)
	if res.After.State.Alive() {
		return fail(res, a.notHolder(info, true))
	}
	res.Status = NotRunning
	return res, nil
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
		if err != nil && r.Status != Stale {
			return r, err
		}
		a.log.Debug("stopped, starting", "stop_status", r.Status)
		rs, err := a.start(ctx, r.After, r.Before.State == lockfile.Stale, s)
		rs.Before = r.Before
		return rs, err
	})
}
