//go:build unix

package lockfile

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/procfs"
)

// Errors reported by this package and by daemonkit's launchers and
// controllers when they open a PID file. Test for them with [errors.Is].
var (
	// ErrLocked: another process holds the lock. For a PID file this means
	// the daemon is running (or starting); the error is a [*LockedError].
	ErrLocked = errors.New("locked by another process")
	// ErrNotRegular: the path names a directory, FIFO, device or socket,
	// or is a symbolic link (which is never followed).
	ErrNotRegular = pidfile.ErrNotRegular
	// ErrHardLink: the file has more than one name (hard link). Writing it
	// as root would change a file someone else linked there, possibly one
	// they may not write themselves, so it is refused.
	ErrHardLink = pidfile.ErrHardLink
	// ErrNotPIDFile: the file holds something other than a PID file's
	// content (nothing, "(starting)\n" or "<pid>\n"), so it is not ours to
	// truncate or write: daemonkit's launchers and controllers refuse it and
	// leave it untouched, naming the file and what it holds. [Inspect]
	// reports such a file as [NotPIDFile].
	ErrNotPIDFile = errors.New("not a pid file")
)

// LockedError is returned when a PID file is locked by someone else. It says
// what the file held, so that the message can name the running daemon.
type LockedError struct {
	Path    string
	State   State // Starting, Running, Stopping or Invalid
	PID     int   // for Running
	Content []byte
}

// Error says that the daemon is already running, with its PID if the
// file names one.
func (e *LockedError) Error() string {
	switch e.State {
	case Running:
		return fmt.Sprintf("already running (pid %d)", e.PID)
	case Starting:
		return "already running (starting)"
	case Stopping:
		return "already running (stopping)"
	}
	return fmt.Sprintf("already running (pid file %s is locked, content %q)", e.Path, e.Content)
}

// Unwrap returns [ErrLocked].
func (e *LockedError) Unwrap() error { return ErrLocked }

// GuardPath returns the guard file of a PID file by libucw's rule
// (ucw-daemon-control): a name ending in ".pid" has that suffix replaced by
// ".lock" (X.pid → X.lock, and so DIR/.pid → DIR/.lock); any other name
// gets ".lock" appended (libucw's tool refuses such names without an
// explicit guard file).
func GuardPath(pidPath string) string {
	if base, ok := strings.CutSuffix(pidPath, ".pid"); ok {
		return base + ".lock"
	}
	return pidPath + ".lock"
}

// Inspect reads the state of the PID file at path as a controller sees it:
// it opens the file read-only (never creating or following a link), tries a
// shared lock without waiting, and reads the content. A missing file is
// [NotRunning] with a nil error. An unlocked file naming a PID is [Stale];
// if that process exists (kill(pid, 0), a zombie counting as dead),
// [Info.NamesLive] is set: the file was not written under the locking
// protocol, and its process must never be called dead or signalled. An
// unlocked file with other content is [NotPIDFile]. An error is returned
// only when the file cannot be examined (e.g. it is a directory or a
// symlink: [ErrNotRegular]).
func Inspect(path string) (Info, error) {
	info := Info{Path: path}
	f, st, err := pidfile.Open(path, unix.O_RDONLY, false, true, 0)
	if errors.Is(err, os.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, err
	}
	defer f.Close()
	info.Dev, info.Ino = uint64(st.Dev), uint64(st.Ino)
	info.Mode = os.FileMode(st.Mode & 0o777)
	locked := false
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); {
	case errors.Is(err, unix.EWOULDBLOCK):
		locked = true
	case err != nil:
		return info, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	b, err := pidfile.ReadContent(f)
	if err != nil {
		return info, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if !locked {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	info.Content = b
	classify(&info, locked)
	if info.State == Running || info.State == Starting {
		info.Since = time.Unix(st.Mtim.Unix())
	}
	return info, nil
}

// classify sets info's state from its content and lock (the table of
// states in docs/protocol.md).
func classify(info *Info, locked bool) {
	c, pid, perr := pidfile.ParseContent(info.Content, pidfile.PIDMax())
	switch {
	case !locked && c == pidfile.ContentEmpty:
		info.State = NotRunning
	case !locked && c == pidfile.ContentInvalid:
		info.State, info.Reason = NotPIDFile, perr
	case !locked:
		info.State = Stale
		if c == pidfile.ContentPID {
			info.NamesLive = processExists(pid)
		}
	case c == pidfile.ContentEmpty:
		info.State = Stopping
	case c == pidfile.ContentStarting:
		info.State = Starting
	case c == pidfile.ContentPID:
		info.State, info.PID = Running, pid
	default:
		info.State, info.Reason = Invalid, perr
	}
}

// processExists reports whether pid names a process that has not exited:
// kill(pid, 0) finds it (EPERM: it exists, we may not signal it), and
// /proc does not show it as a zombie. Where that cannot be told, it
// exists: a live process is never called dead.
func processExists(pid int) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	st, err := procfs.ReadStat(pid)
	return !errors.Is(err, procfs.ErrGone) && !st.Gone()
}
