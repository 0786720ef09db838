//go:build linux

// Package pidfd waits on pidfds: the one wait on a pidfd that daemonkit's
// controllers use.
package pidfd

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Wait polls the pidfd fd until its process has exited (exited),
// until deadline has passed (neither; the zero time means no deadline, a
// past one looks once without waiting), or until cancel, an eventfd (-1:
// none), is readable (cancelled). It is the one wait on a pidfd in
// daemonkit: nothing sleeps, no goroutine is left behind.
func Wait(fd int, deadline time.Time, cancel int) (exited, cancelled bool, err error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if cancel >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(cancel), Events: unix.POLLIN})
	}
	for {
		timeout := -1
		if !deadline.IsZero() {
			timeout = int(max(0, (time.Until(deadline)+time.Millisecond-1)/time.Millisecond))
		}
		for i := range fds {
			fds[i].Revents = 0
		}
		n, err := unix.Poll(fds, timeout)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return false, false, os.NewSyscallError("poll", err)
		case n > 0 && fds[0].Revents != 0:
			return true, false, nil
		case n > 0:
			return false, true, nil
		case timeout == 0:
			return false, false, nil
		}
	}
}
