// Package procfs reads what daemonkit needs to know about other processes
// from Linux's /proc: a process's parent, state and process group
// (/proc/PID/stat), and which processes have a given file open
// (/proc/PID/fd). On other systems every function returns [ErrUnsupported].
package procfs

import (
	"errors"
	"fmt"
	"strconv"
)

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

// ErrForeignProc reports that /proc belongs to another PID namespace than
// the calling process (e.g. in `unshare --pid --fork` without
// --mount-proc): a PID read there may name another process than the same
// number does for kill(2) or pidfd_open(2).
var ErrForeignProc = errors.New("/proc belongs to another PID namespace")

// Process describes a process for messages: who it is and what it runs.
type Process struct {
	PID  int
	UID  int    // real user ID, -1 if unknown
	Comm string // command name, "" if unknown
}

// String says "pid N (comm, uid U)" for messages.
func (p Process) String() string {
	s := "pid " + strconv.Itoa(p.PID)
	switch {
	case p.Comm != "" && p.UID >= 0:
		s += fmt.Sprintf(" (%s, uid %d)", p.Comm, p.UID)
	case p.Comm != "":
		s += " (" + p.Comm + ")"
	}
	return s
}

// FDInfo is what /proc/PID/fdinfo/N says of a descriptor.
type FDInfo struct {
	Flags uint64 // the open flags (O_*)
	Pos   uint64 // the file position
}
