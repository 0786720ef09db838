//go:build linux

package background

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// settleTicks is the CPU time, in clock ticks of /proc (USER_HZ, 100 per
// second), after which a command that never waited for anything counts as
// started all the same: 100 ms of CPU is past "exits at once".
const settleTicks = 10

// waitSettled is the readiness wait of [ReadyExec]. That the exec
// succeeded says little: a program that fails at once (a bad option, a
// missing config file) is still running its startup code when the exec
// returns. So the command counts as ready once it has got past that: once
// every one of its threads waits for something (sleeping in a system
// call, or stopped), or it has used settleTicks of CPU time; a command that
// exits first is reported with its exit status. Both conditions follow the
// command's own progress, not the clock, so a loaded machine does not
// change the verdict. The wait is bounded by the ready timeout and ctx.
func (l *job) waitSettled(ctx context.Context) error {
	deadline := time.Now().Add(l.o.ReadyTimeout)
	pid := l.p.PID()
	for wait := time.Millisecond; ; wait = min(2*wait, 16*time.Millisecond) {
		if l.exitedWithin(wait) {
			return ErrExited
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ErrNotReady, context.Cause(ctx))
		}
		if time.Now().After(deadline) {
			return ErrNotReady
		}
		ok, err := settled(pid)
		if err != nil {
			// /proc cannot tell: fall back to "the exec succeeded".
			l.o.Logger.Debug("cannot tell whether the command has settled: "+err.Error(), "pid", pid)
			return nil
		}
		if ok {
			return nil
		}
	}
}

// settled reports whether no thread of pid is running or in disk wait
// (states R and D), or its threads have used settleTicks of CPU time.
func settled(pid int) (bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	busy, ticks := false, 0
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue // the thread ended
		}
		if err != nil {
			return false, err
		}
		state, t, err := taskStat(b)
		if err != nil {
			return false, fmt.Errorf("%s/%s/stat: %w", dir, e.Name(), err)
		}
		busy = busy || state == 'R' || state == 'D'
		ticks += t
	}
	return !busy || ticks >= settleTicks, nil
}

// taskStat returns the state and the CPU time (utime+stime, in clock
// ticks) from a /proc/PID/task/TID/stat line: "tid (comm) S ...", where
// comm may hold anything but ends at the last ')'.
func taskStat(b []byte) (byte, int, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("cannot parse: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 || len(f[0]) != 1 {
		return 0, 0, errors.New("cannot parse: too few fields")
	}
	utime, err1 := strconv.Atoi(string(f[11]))
	stime, err2 := strconv.Atoi(string(f[12]))
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("cannot parse the CPU times: %w", err)
	}
	return f[0][0], utime + stime, nil
}

// checkAlive reports, as an error wrapping [ErrExited], a daemon that is
// already gone when its PID has been written: the command itself (through
// its pidfd, reliable as it is our unreaped child) or the MAINPID= it
// named, which it may have handed over to before exiting.
func (l *job) checkAlive(mainPID int) error {
	const gone = "had exited by the time its PID was written"
	if mainPID == l.p.PID() {
		if l.exitedWithin(0) {
			return fmt.Errorf("%w (it %s)", ErrExited, gone)
		}
		return nil
	}
	fd, err := unix.PidfdOpen(mainPID, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%w (MAINPID %d %s)", ErrExited, mainPID, gone)
	}
	if err != nil {
		return fmt.Errorf("pidfd_open(%d) of MAINPID: %w", mainPID, err)
	}
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n > 0 {
			return fmt.Errorf("%w (MAINPID %d %s)", ErrExited, mainPID, gone)
		}
		return nil
	}
}
