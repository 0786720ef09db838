//go:build linux

package control

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfd"
	"github.com/daemonkit/daemonkit/internal/procfs"
)

// openProcess returns a handle for pid: a pidfd, or where pidfd_open is not
// available (ENOSYS before Linux 5.3, EPERM from some seccomp filters) a
// kill(2) handle. It returns errGone if pid does not exist.
func openProcess(pid int) (process, error) {
	if err := checkPID(pid); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.EINVAL) { // PIDFD_NONBLOCK needs Linux 5.10
		fd, err = unix.PidfdOpen(pid, 0)
	}
	switch {
	case err == nil:
		return &pidfdProcess{id: pid, fd: fd}, nil
	case errors.Is(err, unix.ESRCH):
		return nil, errGone
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return newKillProcess(pid)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT): // a thread, not a thread-group leader
		return nil, fmt.Errorf("pid %d is not a process (a thread ID?): pidfd_open: %w", pid, err)
	}
	return nil, os.NewSyscallError("pidfd_open", err)
}

// pidfdProcess signals and waits through a pidfd, which always refers to
// the process that had the PID when it was opened, even after it exits.
type pidfdProcess struct {
	id int
	fd int
}

func (p *pidfdProcess) how() string { return "pidfd" }
func (p *pidfdProcess) close()      { unix.Close(p.fd) }
func (p *pidfdProcess) pid() int    { return p.id }

func (p *pidfdProcess) signal(sig syscall.Signal) error {
	err := unix.PidfdSendSignal(p.fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return errGone
	}
	if err != nil {
		return signalError(p.id, sig, err)
	}
	return nil
}

// wait polls the pidfd (readable once the process has exited) together with
// an eventfd that a [context.AfterFunc] writes to when ctx is done, so no
// goroutine outlives the call and nothing sleeps.
func (p *pidfdProcess) wait(ctx context.Context, d time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		if p.exited() {
			return true, nil
		}
		return false, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return false, os.NewSyscallError("eventfd", err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(efd, one[:])
	})
	defer func() {
		if !stop() {
			<-fired // the write may be running: efd must outlive it
		}
		unix.Close(efd)
	}()
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	exited, cancelled, err := pidfd.Wait(p.fd, deadline, efd)
	if cancelled {
		return false, ctx.Err()
	}
	return exited, err
}

// exited reports, without blocking, whether the process has exited.
func (p *pidfdProcess) exited() bool {
	exited, _, err := pidfd.Wait(p.fd, time.Now(), -1)
	return err == nil && exited
}

// holdsLock reports whether process pid holds the exclusive flock(2) lock
// of the PID file dev/ino: whether one of its descriptors refers to the
// open file description that owns the lock (procfs.HoldsLock). A process
// that merely has the file open (`tail -f`, a monitoring agent) does not
// hold it, and neither does one holding only a shared lock.
//
// /proc is trusted only once it shows this process's own PID namespace: in
// `unshare --pid --fork` without a new /proc, /proc/N is another process
// than the one pidfd_open(N) and kill(N) reach, and the check would prove
// nothing about the process to be signalled. That is refused with an
// error wrapping procfs.ErrForeignProc, never guessed.
//
// It returns errGone only when /proc says that pid does not exist or is a
// zombie (ENOENT, ESRCH); any other failure (EMFILE, EACCES, ...) is an
// error: we cannot tell, which is never taken for "gone".
func holdsLock(pid int, dev, ino uint64) (bool, error) {
	if err := procfs.SameNamespace(); err != nil {
		return false, err
	}
	ok, err := procfs.HoldsLock(pid, dev, ino)
	if errors.Is(err, procfs.ErrGone) {
		return false, errGone
	}
	return ok, err
}

// lockHolders returns the processes other than this one that hold the
// exclusive lock of the file dev/ino, as far as /proc lets us look.
func lockHolders(dev, ino uint64) ([]procfs.Process, error) {
	if err := procfs.SameNamespace(); err != nil {
		return nil, err
	}
	all, err := procfs.LockHolders(dev, ino)
	return slices.DeleteFunc(all, func(p procfs.Process) bool { return p.PID == os.Getpid() }), err
}
