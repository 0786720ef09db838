// Package procfs reads what daemonkit needs to know about other processes
// from Linux's /proc: a process's parent, state and process group
// (/proc/PID/stat), and which processes have a given file open
// (/proc/PID/fd). On other systems every function returns [ErrUnsupported].
package procfs

import "errors"

// ErrGone reports that the process does not exist or is a zombie (whose
// descriptors are already closed).
var ErrGone = errors.New("no such process")

// ErrUnsupported is returned on systems without a Linux /proc.
var ErrUnsupported = errors.New("procfs: /proc is only read on Linux")

// Stat is the part of /proc/PID/stat that daemonkit uses.
type Stat struct {
	State byte // R, S, D, Z, X, T, ...
	PPID  int  // parent process ID
	PGRP  int  // process group ID
}

// Gone reports whether the process is a zombie or dead: it has exited, its
// descriptors are closed, and only its exit status is left to reap.
func (s Stat) Gone() bool { return s.State == 'Z' || s.State == 'X' }
