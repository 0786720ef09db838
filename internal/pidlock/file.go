//go:build unix

// Package pidlock opens, locks and writes PID files and guard files the way
// the locking protocol defines it (see docs/protocol.md), for daemonkit's
// launchers, daemons and controllers. Tools that only read a daemon's state
// use the public lockfile package, which this package builds on.
package pidlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Errors reported by this package besides those of [lockfile]. Test for
// them with [errors.Is].
var (
	// ErrReplaced: the file was unlinked or replaced while we locked it,
	// too many times in a row.
	ErrReplaced = errors.New("file keeps being replaced while locking")
	// ErrBusy: only shared locks are held on the file (a controller reading
	// it), but for longer than a reader should take.
	ErrBusy = errors.New("held with a shared lock by another process")
	// ErrMismatch: an inherited descriptor is not the file it was said to be.
	ErrMismatch = errors.New("descriptor does not match the expected file")
	// ErrGuardWrite: something tried to write a guard file, which is
	// never written (libucw never writes it either).
	ErrGuardWrite = errors.New("a guard file is never written")
)

// NotPIDFileError reports a file that holds something other than PID file
// content. Nothing was written to it.
type NotPIDFileError struct {
	Path    string
	Content []byte // what it starts with, at most 33 bytes
}

// Error says which file it is, what it holds, and that it was left alone.
func (e *NotPIDFileError) Error() string {
	c := e.Content
	more := ""
	if len(c) > pidfile.MaxContent {
		c, more = c[:pidfile.MaxContent], "..."
	}
	return fmt.Sprintf("%s is not a PID file (it holds %q%s): refusing to touch it; give the path of the daemon's PID file, or remove this file if it is a broken PID file", e.Path, c, more)
}

// Unwrap returns [lockfile.ErrNotPIDFile].
func (e *NotPIDFileError) Unwrap() error { return lockfile.ErrNotPIDFile }

// File is an open, locked PID or guard file. Its descriptor is close-on-exec.
// Closing it releases the lock (unless the open file description was
// inherited by another process, which then keeps it).
type File struct {
	f        *os.File
	path     string
	dev, ino uint64
	guard    bool // a guard file: never written
}

// Path returns the path the file was opened by.
func (f *File) Path() string { return f.path }

// File returns the underlying *os.File, for passing it to a child process.
func (f *File) File() *os.File { return f.f }

// Dev returns the device number of the file.
func (f *File) Dev() uint64 { return f.dev }

// Ino returns the inode number of the file.
func (f *File) Ino() uint64 { return f.ino }

// Close closes the descriptor, which releases the lock if no other process
// shares the open file description. Use [File.Release] to give the lock up
// whatever copies of the descriptor exist.
func (f *File) Close() error { return f.f.Close() }

// Release unlocks the file on its open file description, then closes it.
// Closing alone would leave the lock held by any copy of the descriptor: a
// child that another goroutine of this process forks at that moment holds
// one until its exec closes it, so the file would look locked for an
// instant after its owner let it go (a start right after a stop would then
// report "already running"). Release on a nil *File does nothing, so that
// a lock that may not have been taken can be released unconditionally.
func (f *File) Release() error {
	if f == nil {
		return nil
	}
	uerr := unix.Flock(int(f.f.Fd()), unix.LOCK_UN)
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("release %s: %w", f.path, err)
	}
	if uerr != nil {
		return fmt.Errorf("unlock %s: %w", f.path, uerr)
	}
	return nil
}

// samePath reports whether path still names the inode dev/ino.
func samePath(path string, dev, ino uint64) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

const maxReplaced = 100

// Acquire opens the PID file path (creating it with mode 0644 if missing),
// takes an exclusive lock without waiting, and checks that the path still
// names the locked inode. If another process holds the lock it returns a
// [*lockfile.LockedError] (errors.Is [lockfile.ErrLocked]) describing what the file says.
// Once locked, the content must be a PID file's (nothing, "(starting)\n"
// or "<pid>\n"), else the lock is released and a [*NotPIDFileError]
// (errors.Is [lockfile.ErrNotPIDFile]) returned: whoever locks a file is about to
// write it, and a file holding anything else is not ours. The content is
// left as it was.
func Acquire(path string) (*File, error) {
	return acquire(context.Background(), path, lockPID)
}

// AcquireWait is [Acquire] that waits for the lock until ctx is done. The
// wait blocks in flock(2) without polling; if ctx ends first, AcquireWait
// returns ctx's error at once, and a goroutine stays blocked until the
// lock can be taken, then releases it and ends.
func AcquireWait(ctx context.Context, path string) (*File, error) {
	return acquire(ctx, path, lockPIDWait)
}

// AcquireGuard locks the guard file path exclusively, waiting until ctx is
// done (as [AcquireWait]). A missing guard file is created with mode 0600
// (less the umask): only controllers, which run as the daemon's user or as
// root, need to lock it, and a file that others may open is a file that
// others may lock, blocking every control action. (An existing guard file
// keeps its mode.) Its content is not looked at, and the returned File
// refuses to be written ([ErrGuardWrite]).
func AcquireGuard(ctx context.Context, path string) (*File, error) {
	return acquire(ctx, path, lockGuard)
}

// lockKind says what acquire locks and how.
type lockKind int

const (
	lockPID     lockKind = iota // a PID file, without waiting
	lockPIDWait                 // a PID file, waiting for the lock
	lockGuard                   // a guard file, waiting for the lock
)

func acquire(ctx context.Context, path string, kind lockKind) (*File, error) {
	wait := kind != lockPID
	perm := uint32(0o644)
	if kind == lockGuard {
		perm = 0o600
	}
	for range maxReplaced {
		// A file locked with AcquireWait (a guard file, or a PID file a
		// controller waits on) is never handed to a child process as a
		// descriptor to use, so O_NONBLOCK need not be cleared on it.
		f, st, err := pidfile.Open(path, unix.O_RDWR, true, wait, perm)
		if err != nil && kind == lockGuard && (errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES)) {
			// A guard file is only locked, never written, and flock(2)
			// needs no write access: an existing guard on a read-only
			// file system, or one we may only read, still serialises.
			if rf, rst, rerr := pidfile.Open(path, unix.O_RDONLY, false, wait, perm); rerr == nil {
				f, st, err = rf, rst, nil
			}
		}
		if err != nil {
			return nil, err
		}
		dev, ino := uint64(st.Dev), uint64(st.Ino)
		err = lockExclusiveNB(ctx, int(f.Fd()))
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			f.Close()
			return nil, fmt.Errorf("waiting for lock on %s (held shared by a reader): %w", path, err)
		}
		if errors.Is(err, errSharedOnly) && !wait {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w for over %v (a reader such as `flock -s` holds it); find it with `fuser %s` and retry", path, ErrBusy, sharedWait, path)
		}
		if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, errSharedOnly) {
			if !wait {
				le := lockedError(f, path)
				f.Close()
				return nil, le
			}
			err = waitLock(ctx, f, unix.LOCK_EX)
			if err != nil {
				return nil, fmt.Errorf("waiting for lock on %s: %w", path, err)
			}
		} else if err != nil {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		if !samePath(path, dev, ino) {
			f.Close() // unlinked or replaced while we waited: try the new one
			continue
		}
		lf := &File{f: f, path: path, dev: dev, ino: ino, guard: kind == lockGuard}
		if !lf.guard {
			if err := lf.checkContent(); err != nil {
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
				return nil, err
			}
		}
		return lf, nil
	}
	return nil, &os.PathError{Op: "lock", Path: path, Err: ErrReplaced}
}

// errSharedOnly: lockExclusiveNB gave up while only shared locks were held.
var errSharedOnly = errors.New("only shared locks held")

// sharedWait bounds how long lockExclusiveNB waits while only shared
// locks are held: a controller's Inspect holds one for microseconds, a
// monitoring loop (`flock -s` in a shell) for a few milliseconds at a time.
const sharedWait = time.Second

// sharedPoll is how long lockExclusiveNB polls before it waits in flock(2):
// polling leaves an exclusive holder that arrives meanwhile distinguishable,
// but readers that follow each other closely leave gaps that only a waiter
// queued in the kernel reliably gets into.
const sharedPoll = 20 * time.Millisecond

// lockExclusiveNB takes an exclusive lock without waiting for an exclusive
// holder. A file held only with shared locks (a controller reading the state
// right now, possibly without the guard file) is not a running daemon, so it
// waits for the readers, at most sharedWait, before giving up with
// errSharedOnly, or ctx's error once ctx is done. An exclusive holder gives
// EWOULDBLOCK at once.
func lockExclusiveNB(ctx context.Context, fd int) error {
	start := time.Now()
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		// Is there an exclusive holder? Then this is a live daemon.
		if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != nil {
			return unix.EWOULDBLOCK
		}
		unix.Flock(fd, unix.LOCK_UN)
		if time.Since(start) > sharedPoll {
			return waitReaders(ctx, fd, sharedWait-time.Since(start))
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return err
		}
	}
}

// waitReaders waits in flock(2) for an exclusive lock on fd's open file
// description, at most d, through a duplicate of fd so that an abandoned
// wait never touches fd itself. If the wait is abandoned (d passed, or
// ctx is done) and the lock is granted later, the duplicate is simply
// closed: the lock then lives exactly as long as the description, which
// the caller closes when it gives up (and if the caller waits on the same
// description instead, the lock is what it wanted). Nothing ever unlocks.
func waitReaders(ctx context.Context, fd int, d time.Duration) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer unix.Close(dup)
		var err error = unix.EINTR
		for errors.Is(err, unix.EINTR) {
			err = unix.Flock(dup, unix.LOCK_EX)
		}
		done <- err
	}()
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errSharedOnly
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitLock blocks in flock on f until it is locked or ctx is done. On error
// f is closed; on ctx done, f is handed to the waiting goroutine, which
// closes it once flock returns.
func waitLock(ctx context.Context, f *os.File, how int) error {
	if ctx.Done() == nil {
		err := unix.Flock(int(f.Fd()), how)
		if err != nil {
			f.Close()
		}
		return err
	}
	done := make(chan error, 1)
	fd := int(f.Fd())
	go func() { done <- unix.Flock(fd, how) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		go func() { <-done; f.Close() }()
		return ctx.Err()
	}
}

func lockedError(f *os.File, path string) *lockfile.LockedError {
	b, _ := pidfile.ReadContent(f)
	le := &lockfile.LockedError{Path: path, Content: b, State: lockfile.Invalid}
	switch c, pid, _ := pidfile.ParseContent(b, pidfile.PIDMax()); c {
	case pidfile.ContentEmpty:
		le.State = lockfile.Stopping
	case pidfile.ContentStarting:
		le.State = lockfile.Starting
	case pidfile.ContentPID:
		le.State, le.PID = lockfile.Running, pid
	}
	return le
}

// Adopt takes over an inherited descriptor of a locked file, after checking
// that it is a regular file with device dev and inode ino (so that a daemon
// which may no longer stat the path still knows it holds the right file).
// The descriptor is made close-on-exec.
func Adopt(fd uintptr, path string, dev, ino uint64) (*File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return nil, fmt.Errorf("fd %d for %s: %w: %v", fd, path, ErrMismatch, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return nil, fmt.Errorf("fd %d for %s: %w (got %s dev %d ino %d, want dev %d ino %d)",
			fd, path, ErrMismatch, pidfile.FileType(uint32(st.Mode)), st.Dev, st.Ino, dev, ino)
	}
	unix.CloseOnExec(int(fd))
	return &File{f: os.NewFile(fd, path), path: path, dev: dev, ino: ino}, nil
}

// checkContent returns a [*NotPIDFileError] unless the file holds PID
// file content (nothing, "(starting)\n" or "<pid>\n"), or the error that
// kept it from reading the file.
func (f *File) checkContent() error {
	_, err := f.pidContent()
	return err
}

// pidContent returns the file's content if it is a PID file's.
func (f *File) pidContent() ([]byte, error) {
	b, err := pidfile.ReadContent(f.f)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: f.path, Err: err}
	}
	if c, _, _ := pidfile.ParseContent(b, pidfile.PIDMax()); c == pidfile.ContentInvalid {
		return nil, &NotPIDFileError{Path: f.path, Content: b}
	}
	return b, nil
}

// write replaces the content with s: truncate, then write at offset 0. It
// writes only a PID file, and only one that holds PID file content now
// (we hold its lock, so nobody who follows the protocol changes it
// between the check and the write).
func (f *File) write(s string) error {
	if f.guard {
		return fmt.Errorf("write %s: %w", f.path, ErrGuardWrite)
	}
	cur, err := f.pidContent()
	if err != nil {
		return err
	}
	if string(cur) == s {
		// Rewriting what is there would empty the file for a moment, and
		// a controller reading it then would see "stopping": a daemon
		// whose launcher died after writing its PID writes it again.
		return nil
	}
	if err := f.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate pid file %s: %w", f.path, err)
	}
	if s == "" {
		return nil
	}
	if _, err := f.f.WriteAt([]byte(s), 0); err != nil {
		return fmt.Errorf("write pid file %s: %w", f.path, err)
	}
	return nil
}

// WriteStarting writes "(starting)\n".
func (f *File) WriteStarting() error { return f.write(pidfile.StartingContent) }

// WritePID writes "<pid>\n".
func (f *File) WritePID(pid int) error { return f.write(strconv.Itoa(pid) + "\n") }

// Clear truncates the file to empty: "not running" once the lock is gone.
func (f *File) Clear() error { return f.write("") }

// Read returns the file's content, at most 33 bytes.
func (f *File) Read() ([]byte, error) { return pidfile.ReadContent(f.f) }

// WaitUnlocked waits until no process holds an exclusive lock on the PID
// file at path (the daemon and whatever inherited its descriptor are
// gone), or until ctx is done. It needs only read access: the file is
// opened read-only and never created (a missing file is not locked), so it
// works where the file or its directory may not be written. It blocks in
// flock(2) for a shared lock, without polling, and releases it at once.
func WaitUnlocked(ctx context.Context, path string) error {
	for range maxReplaced {
		f, st, err := pidfile.Open(path, unix.O_RDONLY, false, true, 0)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := waitLock(ctx, f, unix.LOCK_SH); err != nil {
			return fmt.Errorf("waiting for the lock on %s to be released: %w", path, err)
		}
		same := samePath(path, uint64(st.Dev), uint64(st.Ino))
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		if same {
			return nil
		}
	}
	return &os.PathError{Op: "lock", Path: path, Err: ErrReplaced}
}
