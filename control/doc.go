// Package control implements the daemon control protocol of libucw (6.2 and
// later) on PID files and guard files managed by package [lockfile]:
// [Check], [Start], [Stop], [Signal] and [Restart].
//
// Every action first takes an exclusive lock on the guard file (by default
// [lockfile.GuardPath] of the PID file), waiting at most until its context
// is done, and holds it until the action ends, so that actions on one daemon
// never interleave (unless [Options.GuardHeld] says the caller holds it
// already; and [Check], which changes nothing, reads without it when the
// guard file cannot be opened for lack of permission). The state of the
// daemon is read with [lockfile.Inspect].
//
// Stop and Signal open a pidfd for the PID named in the PID file, check that
// the process has the PID file open (a daemon holds its lock through it) and
// that the PID file is still locked, is the same file and still names that
// PID, and only then send the signal through the pidfd; Stop waits for the
// process to exit by polling the pidfd (no sleeping), then takes the PID file
// lock and empties the file if it still names that PID. This closes the PID-reuse window that libucw's
// protocol description admits. Where pidfds are missing (kernels before 5.3,
// seccomp filters, non-Linux systems) kill(2) is used after the same
// re-check, and Stop waits on the PID file lock instead.
//
// No action ever signals PID 0, 1, a negative PID or the caller's own PID.
// The status codes ([Status]) are libucw's and are used by daemonctl as its
// exit status. See docs/protocol.md for the full sequence of each action.
package control
