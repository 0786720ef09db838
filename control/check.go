//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/exitrec"
	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Check reports the state of the daemon: [StatusOK] if it is running, starting
// or stopping, [StatusNotRunning] (also when the PID file's directory does not
// exist), [StatusStale] (the PID file names a daemon that died), or [StatusFailed] (the
// PID file is unusable, is not a PID file, or is locked with invalid
// content). A stale PID file that names a live process is [StatusStale] with an
// error wrapping [ErrUnverified]: that process is not to be taken for
// dead.
//
// For a running daemon, Check also makes sure that the process named by
// the PID file holds its lock (kill(2) and one look at /proc, see
// [Stop]); if it does not (it is gone, or it is another process), the
// state is reported as [lockfile.Invalid] with an error wrapping
// [ErrUnverified] that names the lock holders, rather than "running".
//
// Check takes the guard file like every action; if the guard file cannot
// be opened for lack of permission (an unprivileged user asking about a
// system daemon) or because its directory is missing, it reads the state
// without it, which is safe because reading does not change anything.
func Check(ctx context.Context, o Options) (Result, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	var g *pidlock.File
	if !a.o.GuardHeld {
		g, err = a.lockGuard(ctx)
	}
	switch {
	case a.o.GuardHeld:
	case err == nil:
		defer g.Release()
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) || errors.Is(err, fs.ErrNotExist):
		a.log.Info("checking without the guard file", "guard_file", a.o.GuardFile, "error", err)
	default:
		return Result{Status: StatusFailed}, err
	}
	info, err := a.inspect()
	res := Result{Before: info, After: info}
	if err != nil {
		return fail(res, err)
	}
	switch info.State {
	case lockfile.NotRunning:
		res.Status = StatusNotRunning
	case lockfile.Stale:
		res.Status = StatusStale
		if info.NamesLive {
			return res, a.namesLive(info)
		}
		if _, pid, _ := pidfile.ParseContent(info.Content, pidfile.PIDMax()); pid != 0 {
			res.Note = endNote(a.o.PIDFile, pid)
		}
	case lockfile.Invalid, lockfile.NotPIDFile:
		return fail(res, a.refuse(info))
	case lockfile.Running:
		if err := a.checkHolder(info); err != nil {
			info.State, info.PID, info.Since, info.Reason = lockfile.Invalid, 0, time.Time{}, err
			res.Before, res.After = info, info
			return fail(res, err)
		}
		res.Status = StatusOK
	default:
		res.Status = StatusOK
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
		errNotHolder, a.o.PIDFile, holders, what, hint)
}

// describe names procs for a message, saying which look like controllers
// (which includes holding the guard file this action holds, if any).
func (a *action) describe(procs []procfs.Process) string {
	if a.guard == nil {
		return describeHolders(procs, 0, 0)
	}
	return describeHolders(procs, a.guard.Dev(), a.guard.Ino())
}

// endNote says why the daemon pid of a stale PID file ended, if it left a
// record of it ([exitrec]).
func endNote(pidFile string, pid int) string {
	r, err := exitrec.Read(pidFile)
	if err != nil || r.PID != pid {
		return ""
	}
	return fmt.Sprintf("pid %d exited with status %d at %s: %s", r.PID, r.Status, r.Time.Format(time.RFC3339), printable(r.Error))
}

// printable replaces control characters (a terminal's escape sequences)
// in what a file said, which may have been written by anyone.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}
