package ctlguard

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfd"
)

// pinned holds a process found on the parent chain: a pidfd, which
// always refers to the process that had the PID when it was opened, or -1
// where pidfds are missing (a pin that proves nothing).
type pinned struct{ fd int }

// openPin pins pid. Where pidfd_open is not available (ENOSYS before
// Linux 5.3, EPERM from some seccomp filters) the pin proves nothing, so
// that the walk stops at the next step.
func openPin(pid int) (*pinned, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		return &pinned{fd: fd}, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return &pinned{fd: -1}, nil
	}
	return nil, err
}

// alive reports whether the pinned process is not shown to have exited.
func (p *pinned) alive() bool {
	if p.fd < 0 {
		return false
	}
	exited, _, err := pidfd.Wait(p.fd, time.Now(), -1)
	return err != nil || !exited
}

func (p *pinned) close() {
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
}
