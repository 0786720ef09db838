//go:build unix

package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
type killProcess struct{ pid int }

// newKillProcess returns a kill(2) handle for pid, or errGone if there is
// no such process.
func newKillProcess(pid int) (process, error) {
	if err := checkPID(pid); err != nil {
		return nil, err
	}
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return nil, errGone
	}
	return &killProcess{pid: pid}, nil
}

func (p *killProcess) signal(sig syscall.Signal) error {
	if err := checkPID(p.pid); err != nil {
		return err
	}
	err := unix.Kill(p.pid, sig)
	if errors.Is(err, unix.ESRCH) {
		return errGone
	}
	if err != nil {
		return signalError(p.pid, sig, err)
	}
	return nil
}

func (p *killProcess) wait(context.Context, time.Duration) (bool, error) { return false, errNoWait }
func (p *killProcess) how() string                                       { return "kill(2)" }
func (p *killProcess) close()                                            {}

func signalError(pid int, sig syscall.Signal, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("send %s to pid %d: %w (run as the daemon's user or as root)", SignalName(sig), pid, err)
	}
	return fmt.Errorf("send %s to pid %d: %w", SignalName(sig), pid, err)
}
