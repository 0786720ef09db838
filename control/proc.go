//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/procfs"
)

// errGone reports that the process no longer exists.
var errGone = errors.New("no such process")

// errNoWait reports that a process handle cannot wait for a non-child.
var errNoWait = errors.New("cannot wait for this process")

// process is a handle used to signal a daemon and wait for it to exit.
type process interface {
	// signal sends sig; errGone if the process has exited.
	signal(sig syscall.Signal) error
	// wait waits until the process exits (true), d passes if d > 0
	// (false, nil) or ctx is done (false, ctx's error). It returns errNoWait
	// if the handle cannot wait.
	wait(ctx context.Context, d time.Duration) (bool, error)
	// how names the mechanism, for messages: "pidfd" or "kill(2)".
	how() string
	// pid returns the process ID the handle was opened for.
	pid() int
	close()
}

// checkPID refuses PIDs that must never be signalled.
func checkPID(pid int) error {
	if pid <= 1 || pid == os.Getpid() {
		return fmt.Errorf("refusing to signal pid %d (never 0, 1, negative or our own pid %d)", pid, os.Getpid())
	}
	return nil
}

// killProcess signals with kill(2). It is used where pidfds are missing;
// the caller re-checks the PID file right before each signal, which narrows
// but cannot close the PID reuse window.
type killProcess struct{ id int }

// newKillProcess returns a kill(2) handle for pid, or errGone if there is
// no such process.
func newKillProcess(pid int) (process, error) {
	if err := checkPID(pid); err != nil {
		return nil, err
	}
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return nil, errGone
	}
	return &killProcess{id: pid}, nil
}

func (p *killProcess) signal(sig syscall.Signal) error {
	if err := checkPID(p.id); err != nil {
		return err
	}
	err := unix.Kill(p.id, sig)
	if errors.Is(err, unix.ESRCH) {
		return errGone
	}
	if err != nil {
		return signalError(p.id, sig, err)
	}
	return nil
}

func (p *killProcess) wait(context.Context, time.Duration) (bool, error) { return false, errNoWait }
func (p *killProcess) how() string                                       { return "kill(2)" }
func (p *killProcess) pid() int                                          { return p.id }
func (p *killProcess) close()                                            {}

func signalError(pid int, sig syscall.Signal, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("send %s to pid %d: %w (run as the daemon's user or as root)", SignalName(sig), pid, err)
	}
	return fmt.Errorf("send %s to pid %d: %w", SignalName(sig), pid, err)
}

// confirmGone reports whether the process behind p has really exited, once
// /proc said it does not exist: the handle must say so too (a pidfd fails
// with ESRCH once its process has exited), or /proc must show a zombie.
// A process that exists while /proc does not show it (a /proc mounted with
// hidepid) is not gone.
func confirmGone(p process, pid int) bool {
	if err := p.signal(0); errors.Is(err, errGone) {
		return true
	}
	st, err := procfs.ReadStat(pid)
	return err == nil && st.Gone()
}

// describeHolders names the processes in procs for a message ("pid 12
// (daemonctl, uid 0), a controller"), saying for each whether it looks like
// a controller: daemonctl, libucw's ucw-daemon-control (whose command name
// the kernel cuts to 15 bytes), or a process that holds the guard file
// guardDev/guardIno too (a service running its own control verb).
func describeHolders(procs []procfs.Process, guardDev, guardIno uint64) string {
	if len(procs) == 0 {
		return "no process that this user may look at"
	}
	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = p.String()
		if looksLikeController(p, guardDev, guardIno) {
			names[i] += ", a controller"
		} else {
			names[i] += ", not a controller"
		}
	}
	return strings.Join(names, "; ")
}

func looksLikeController(p procfs.Process, guardDev, guardIno uint64) bool {
	if p.Comm == "daemonctl" || strings.HasPrefix(p.Comm, "ucw-daemon-cont") {
		return true
	}
	if guardIno == 0 {
		return false
	}
	held, err := holdsLock(p.PID, guardDev, guardIno)
	return err == nil && held
}

// fdHint says what to do about an error caused by running out of file
// descriptors, or nothing.
func fdHint(err error) string {
	if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
		return "; raise the descriptor limit (ulimit -n) and try again"
	}
	return ""
}
