package reap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run starts the service as s says and serves as its first stage until it
// exits: each signal of [Forwarded] is passed on to the service, and on
// each SIGCHLD every exited child is reaped, the service and orphans
// alike. It returns once the service itself has been reaped, with its
// real exit status; the orphans still running then are left to the next
// reaper up (as PID 1, the kernel kills them when this process exits).
//
// Run must be the only code of the process that waits for children: it
// reaps whatever child exits. The service is started with a parent-death
// signal of SIGTERM, so that it stops if this process is killed; it also
// gets SIGTERM, once, when ctx is done.
func Run(ctx context.Context, s Spec) (Status, error) {
	if s.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return Status{}, fmt.Errorf("becoming a child subreaper (prctl PR_SET_CHILD_SUBREAPER): %w", err)
		}
	}
	// Registered before the service exists, so that no signal meant for it
	// and no SIGCHLD is lost. One buffered SIGCHLD is enough: each one
	// reaps until nothing more has exited.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	defer signal.Stop(chld)
	fwd := make(chan os.Signal, 32)
	signal.Notify(fwd, Forwarded()...)
	defer signal.Stop(fwd)

	// The parent-death signal fires when the thread that forked ends: keep
	// this goroutine on it until the service is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	files := s.Files
	if files == nil {
		files = []uintptr{0, 1, 2}
	}
	pid, err := syscall.ForkExec(s.Path, s.Args, &syscall.ProcAttr{
		Env: s.Env, Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	})
	if err != nil {
		return Status{}, fmt.Errorf("starting the service stage %s: %w", s.Path, err)
	}
	st := Status{PID: pid}
	done := ctx.Done()
	for {
		select {
		case <-done:
			done = nil
			unix.Kill(pid, unix.SIGTERM) // as below: still our child
		case sig := <-fwd:
			// The service is our child and not yet reaped (reapAll
			// returns as soon as it is): its PID cannot name another
			// process. An error means it is a zombie already.
			unix.Kill(pid, sig.(syscall.Signal))
		case <-chld:
			if reapAll(&st) {
				return st, nil
			}
		}
	}
}

// reapAll reaps every child that has exited, and reports whether the
// service was one of them (its status is then in st).
func reapAll(st *Status) (serviceDone bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD, or nothing more has exited
			return serviceDone
		}
		if pid != st.PID {
			st.Reaped++
			continue
		}
		serviceDone = true
		switch {
		case ws.Exited():
			st.Code = ws.ExitStatus()
		case ws.Signaled():
			st.Signal = ws.Signal()
			st.Code = 128 + int(st.Signal)
		}
	}
}
