package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/reap"
	"github.com/daemonkit/daemonkit/reexec"
)

// reaperEnv marks the service stage started by a reaping first stage; its
// value is the first stage's PID, which must be the service stage's parent.
const reaperEnv = "DAEMONKIT_REAPER"

// ServiceExitError is what [Daemon.Run] returns in the reaping first stage
// (see [Config.Reaper]) when the service stage did not exit 0. The first
// stage should exit with Code, as [Main] does: the service's own exit
// status, or 128+n if signal n killed it. The service stage has reported
// its own failure already.
type ServiceExitError struct {
	PID    int            // the service stage's process ID
	Code   int            // the exit status to pass on
	Signal syscall.Signal // the signal that killed the service stage, or 0
}

func (e *ServiceExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("the service (pid %d) was killed by %s", e.PID, signalName(e.Signal))
	}
	return fmt.Sprintf("the service (pid %d) exited with status %d", e.PID, e.Code)
}

// ExitCode returns the exit status the first stage passes on.
func (e *ServiceExitError) ExitCode() int { return e.Code }

// runReaped runs the foreground: either as the reaping first stage, which
// starts the service as its second stage, or as the service itself (the
// second stage, or a foreground that needs no reaper).
func (d *Daemon) runReaped(ctx context.Context, body Body) error {
	if v, ok := os.LookupEnv(reaperEnv); ok {
		if err := d.adoptReaper(v); err != nil {
			return err
		}
		return d.runForeground(ctx, body)
	}
	if d.cfg.Reaper || (runtime.GOOS == "linux" && os.Getpid() == 1) {
		return d.runReaper(ctx)
	}
	return d.runForeground(ctx, body)
}

// errReaperDetached says that a detaching start cannot reap.
func errReaperDetached() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("--reaper (Config.Reaper): reaping orphaned processes needs Linux: %w", errors.ErrUnsupported)
	}
	return errors.New("--reaper (Config.Reaper) works in the foreground only: use the run verb or --foreground " +
		"(a detached daemon's orphans go to init, or to the nearest child subreaper)")
}

// runReaper is the first stage: it re-executes this program as the service
// stage, marked with reaperEnv, and reaps orphans and forwards signals
// until the service stage exits (see package internal/reap). It holds no
// PID file and runs no hook: the service stage does all that, as a
// foreground service. It returns nil if the service stage exited 0, else a
// [*ServiceExitError] with its status.
func (d *Daemon) runReaper(ctx context.Context) error {
	args := os.Args
	if d.flags.Parsed() && len(args) > 0 {
		// Main's verb (start or restart in the foreground, or run) is run
		// in the service stage: restart's stop is done already.
		args = d.stageArgs(args, "run")
	}
	me := strconv.Itoa(os.Getpid())
	st, err := reap.Run(ctx, reap.Spec{
		Path:      "/proc/self/exe",
		Args:      args,
		Env:       launch.MergeEnv(os.Environ(), reaperEnv+"="+me),
		Files:     append([]uintptr{0, 1, 2}, activationFDs(me)...),
		Subreaper: os.Getpid() != 1,
	})
	if err != nil {
		return fmt.Errorf("--reaper: %w", err)
	}
	d.reaping = true
	if st.Code == 0 {
		return nil
	}
	return &ServiceExitError{PID: st.PID, Code: st.Code, Signal: st.Signal}
}

// activationFDs returns the descriptors systemd passed to this process
// (LISTEN_PID is pid, LISTEN_FDS says how many from 3 on), for the service
// stage to inherit at the same numbers.
func activationFDs(pid string) []uintptr {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if os.Getenv("LISTEN_PID") != pid || err != nil || n <= 0 {
		return nil
	}
	var fds []uintptr
	for fd := 3; fd < 3+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			break // not open: the variables lie; pass on what is there
		}
		fds = append(fds, uintptr(fd))
	}
	return fds
}

// adoptReaper is the service stage's first step: it checks that marker
// names its parent (the first stage), removes the marker, and takes over
// what systemd addressed to the first stage by PID (LISTEN_PID,
// WATCHDOG_PID), since the service stage is the one that uses them.
func (d *Daemon) adoptReaper(marker string) error {
	os.Unsetenv(reaperEnv)
	ppid := strconv.Itoa(os.Getppid())
	if marker != ppid {
		return fmt.Errorf("%s is set to %q, but the parent of this process is pid %s: it was not started by a daemonkit reaper; "+
			"%s is internal to daemonkit: unset it and run the program again", reaperEnv, marker, ppid, reaperEnv)
	}
	for _, k := range []string{"LISTEN_PID", "WATCHDOG_PID"} {
		if os.Getenv(k) == ppid {
			os.Setenv(k, strconv.Itoa(os.Getpid()))
		}
	}
	d.reaper = os.Getppid()
	reexec.SetComm()
	return nil
}

// mainPID is the PID the service manager should watch (MAINPID=): the
// reaping first stage's under a reaper, else this process's.
func (d *Daemon) mainPID() int {
	if d.reaper != 0 {
		return d.reaper
	}
	return os.Getpid()
}
