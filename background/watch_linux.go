//go:build linux

package background

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
)

// A start whose controller dies must either complete or leave nothing
// behind. Once the command runs, it holds the PID file's lock (fd 3); if
// the caller of [Launch] were killed (SIGKILL, the OOM killer) while
// waiting for readiness, the command would go on holding the lock with the
// file at "(starting)" forever, and nothing would end it.
//
// The parent-death signal cannot help: it would also kill the command when
// the caller exits normally after the start (it survives exec and only the
// command itself could clear it), and in Go it fires when the parent
// thread, not the process, ends. So [Launch] starts a watcher: its own
// binary again (/proc/self/exe), recognised by this package's init through
// watchEnv, in a session of its own and ignoring SIGINT, SIGTERM and SIGHUP,
// holding
//
//	fd 3: the read end of a pipe whose write end only the caller has,
//	fd 4: a pidfd of the command,
//	fd 5: the PID file (the same open file description as the command's).
//
// When the start completes, the caller writes one byte and the watcher
// exits; when the command has ended, it exits too (the caller reports it).
// If the pipe reaches end-of-file first, the caller died before the start
// completed: the watcher kills the command through its pidfd (its process
// group with it where the kernel supports PIDFD_SIGNAL_PROCESS_GROUP),
// waits for it, and empties the PID file, which is then not running once
// the lock goes with the watcher. A pidfd never names another process, so
// no signal reaches a stranger. What remains: the moment between the
// command's start and the watcher's, and a command whose descendants left
// its process group keeping fd 3 (`daemonctl stop` ends such a holder).
const watchEnv = "DAEMONKIT_BACKGROUND_WATCH"

// The watcher's descriptors.
const (
	watchPipeFD  = 3
	watchPidfdFD = 4
	watchFileFD  = 5
)

// pidfdSignalProcessGroup is PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9).
const pidfdSignalProcessGroup = 1 << 2

func init() {
	if v, ok := os.LookupEnv(watchEnv); ok {
		os.Exit(watchMain(v))
	}
}

// watcher is the caller's end of a started watcher.
type watcher struct {
	cmd *exec.Cmd
	w   *os.File
}

// startWatcher starts the watcher of the command whose pidfd is given. A
// watcher that cannot be started is logged and done without.
func (l *job) startWatcher(pidfd int) {
	r, w, err := os.Pipe()
	if err != nil {
		l.o.Logger.Warn("cannot watch the start: pipe: "+err.Error(), "pid_file", l.o.PIDFile)
		return
	}
	defer r.Close()
	dup, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		w.Close()
		l.o.Logger.Warn("cannot watch the start: dup pidfd: "+err.Error(), "pid_file", l.o.PIDFile)
		return
	}
	pf := os.NewFile(uintptr(dup), "pidfd")
	defer pf.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"daemonkit-background-watch"},
		Env:         []string{fmt.Sprintf("%s=%d:%d:%d", watchEnv, l.p.PID(), l.pf.Dev(), l.pf.Ino())},
		Dir:         "/",
		ExtraFiles:  []*os.File{r, pf, l.pf.File()},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		l.o.Logger.Warn("cannot watch the start (if this process is killed before the command is ready, the command stays): "+err.Error(), "pid_file", l.o.PIDFile)
		return
	}
	l.watch = &watcher{cmd: cmd, w: w}
}

// stopWatcher tells the watcher that the start is over (ready: it
// completed; otherwise the command has been reaped already), and reaps it,
// waiting at most a few seconds before killing it.
func (l *job) stopWatcher(ready bool) {
	wt := l.watch
	if wt == nil {
		return
	}
	l.watch = nil
	if ready {
		wt.w.Write([]byte{1})
	}
	wt.w.Close()
	if fd, err := unix.PidfdOpen(wt.cmd.Process.Pid, 0); err == nil {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds())+1)
			if err == nil && n > 0 || err != nil && !errors.Is(err, unix.EINTR) {
				break
			}
		}
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) // no-op once it exited
		unix.Close(fd)
	}
	wt.cmd.Wait()
}

// watchMain is the watcher: see watchEnv. It returns the exit status.
func watchMain(v string) int {
	os.Unsetenv(watchEnv)
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	pid, pf, err := watchAdopt(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "daemonkit background watcher: %v\n", err)
		return 2
	}
	pfds := []unix.PollFd{{Fd: watchPidfdFD, Events: unix.POLLIN}, {Fd: watchPipeFD, Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pfds[0].Revents != 0 {
			return 0 // the command ended: its caller reports it
		}
		if pfds[1].Revents != 0 {
			break
		}
	}
	var b [1]byte
	if n, _ := unix.Read(watchPipeFD, b[:]); n == 1 {
		return 0 // the start completed
	}
	// The caller died before the start completed.
	if err := unix.PidfdSendSignal(watchPidfdFD, unix.SIGKILL, nil, pidfdSignalProcessGroup); err != nil {
		unix.PidfdSendSignal(watchPidfdFD, unix.SIGKILL, nil, 0)
	}
	pfds = pfds[:1]
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if n, err := unix.Poll(pfds, 1000); err == nil && n > 0 {
			break
		}
	}
	settleFile(pf, pid)
	return 0
}

// settleFile leaves the PID file of a start whose caller died as it should
// be read: empty (not running) once nothing holds its lock but us, or
// "(starting)" while some other process still does (one that left the
// command's process group keeping its descriptor), so that a stop ends
// it. It writes only while our descriptor still holds the lock (the
// command could have unlocked it, and a new start then owns the file),
// and only over what this start wrote.
func settleFile(pf *pidlock.File, pid int) {
	c, p, err := pidfile.ParseContent(readOrNil(pf), pidfile.PIDMax())
	if err != nil || !(c == pidfile.ContentStarting || c == pidfile.ContentPID && p == pid) {
		return
	}
	self := os.Getpid()
	if held, err := procfs.HoldsLock(self, pf.Dev(), pf.Ino()); err != nil || !held {
		return
	}
	holders, err := procfs.LockHolders(pf.Dev(), pf.Ino())
	others := err != nil || slices.ContainsFunc(holders, func(h procfs.Process) bool { return h.PID != self })
	switch {
	case !others:
		pf.Clear()
	case c == pidfile.ContentPID:
		pf.WriteStarting()
	}
}

func readOrNil(pf *pidlock.File) []byte {
	b, err := pf.Read()
	if err != nil {
		return []byte("unreadable")
	}
	return b
}

// watchAdopt checks the watcher's descriptors against "PID:DEV:INO" and
// returns the command's PID and the PID file.
func watchAdopt(v string) (int, *pidlock.File, error) {
	f := strings.Split(v, ":")
	if len(f) != 3 {
		return 0, nil, fmt.Errorf("%s=%q: want PID:DEV:INO", watchEnv, v)
	}
	pid, err1 := strconv.Atoi(f[0])
	dev, err2 := strconv.ParseUint(f[1], 10, 64)
	ino, err3 := strconv.ParseUint(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, nil, fmt.Errorf("%s=%q: %w", watchEnv, v, err)
	}
	if link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(watchPidfdFD)); link != "anon_inode:[pidfd]" {
		return 0, nil, fmt.Errorf("fd %d is %q, not a pidfd", watchPidfdFD, link)
	}
	info, _ := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(watchPidfdFD))
	if !strings.Contains("\n"+string(info), "\nPid:\t"+strconv.Itoa(pid)+"\n") {
		return 0, nil, fmt.Errorf("fd %d is not a pidfd of pid %d", watchPidfdFD, pid)
	}
	if link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(watchPipeFD)); !strings.HasPrefix(link, "pipe:") {
		return 0, nil, fmt.Errorf("fd %d is %q, not a pipe", watchPipeFD, link)
	}
	pf, err := pidlock.Adopt(watchFileFD, "PID file", dev, ino)
	if err != nil {
		return 0, nil, err
	}
	unix.CloseOnExec(watchPipeFD)
	unix.CloseOnExec(watchPidfdFD)
	return pid, pf, nil
}
