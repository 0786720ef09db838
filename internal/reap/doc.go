// Package reap is the first stage of a service that must reap orphans: a
// minimal process that starts the service as its child, passes the
// service the signals an init or a supervisor sends, reaps every process
// the kernel hands it, and ends with the service's exit status.
//
// It reaps with wait4(-1) whenever SIGCHLD arrives. That takes only its
// own children: the service, and the orphans reparented to it because it
// is PID 1 of a PID namespace or a child subreaper. The service's own
// children stay the service's, so its [os/exec.Cmd.Wait] gets their real
// exit statuses.
//
// Only Linux has child subreapers; elsewhere [Run] fails with an error
// wrapping [errors.ErrUnsupported].
package reap

import (
	"os"
	"strconv"
	"syscall"
)

// Forwarded returns the signals the first stage passes on to the service:
// those an init, a container runtime, a supervisor or a terminal sends to
// stop, reload, dump or resize it.
func Forwarded() []os.Signal {
	return []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}
}

// Spec says how to start the service.
type Spec struct {
	Path string   // the binary (e.g. /proc/self/exe)
	Args []string // argv, argv[0] included
	Env  []string
	// Files are the descriptors the service gets as 0, 1, 2, 3, …: the
	// service's stdin, stdout and stderr, then any it must inherit (the
	// sockets systemd passed).
	Files []uintptr
	// Subreaper makes this process a child subreaper
	// (PR_SET_CHILD_SUBREAPER) before the service starts, so that the
	// service's orphans come to it and not to init. PID 1 needs none.
	Subreaper bool
}

// Status is how the service ended.
type Status struct {
	PID    int            // the service's process ID
	Code   int            // its exit status, or 128+n when killed by signal n
	Signal syscall.Signal // the signal that killed it, or 0
	Reaped int            // how many other processes (orphans) were reaped
}

// String describes s as a shell would: "exit status 3", "signal: killed".
func (s Status) String() string {
	if s.Signal != 0 {
		return "signal: " + s.Signal.String()
	}
	return "exit status " + strconv.Itoa(s.Code)
}
