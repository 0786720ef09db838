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
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// action is one control action in progress.
type action struct {
	o     Options
	log   *slog.Logger
	begin time.Time
	guard *pidlock.File // the guard file, while run holds it
	// warnedMode is set once the world-writable PID file was warned about.
	warnedMode bool
	// killed is set once the action sent SIGKILL (KillAfter).
	killed atomic.Bool
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
func (a *action) lockGuard(ctx context.Context) (*pidlock.File, error) {
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
		return Result{Status: StatusFailed}, err
	}
	defer g.Release()
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
			a.o.PIDFile, info.Mode, a.o.PIDFile), "error", errUnsafe)
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
		return fmt.Errorf("%w", &pidlock.NotPIDFileError{Path: a.o.PIDFile, Content: info.Content})
	case info.State == lockfile.Invalid:
		return a.invalid(info)
	case info.State == lockfile.Stale && info.NamesLive:
		return a.namesLive(info)
	}
	return nil
}

// namesLive explains an unlocked PID file naming a live process.
func (a *action) namesLive(info lockfile.Info) error {
	_, pid, _ := pidfile.ParseContent(info.Content, pidfile.PIDMax())
	return fmt.Errorf("pid file %s names %s, which is alive but holds no lock on the file: it was %w; nothing was sent and the file was left as it is. Stop it with the tool that started it (or `kill %d` once you are sure it is the daemon), then start it again with this controller",
		a.o.PIDFile, procfs.Describe(pid), errUnlockedLive, pid)
}

// invalid explains a locked PID file with unknown content.
func (a *action) invalid(info lockfile.Info) error {
	if info.Reason == nil {
		info.Reason = lockfile.ErrInvalidPID
	}
	return fmt.Errorf("%w: pid file %s is locked but holds %q (%w); some process holds its lock without being a daemon of this protocol: find it with `fuser %s` and fix or remove the file",
		errInvalid, a.o.PIDFile, info.Content, info.Reason, a.o.PIDFile)
}

func fail(res Result, err error) (Result, error) {
	res.Status = StatusFailed
	return res, err
}
