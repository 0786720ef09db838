// Package control implements the daemon control protocol of libucw (6.2 and
// later) on PID files and guard files managed by package [lockfile]:
// [Check], [Start], [Stop], [Signal] and [Restart].
//
// Every action first takes an exclusive lock on the guard file (by default
// [lockfile.GuardPath] of the PID file), waiting at most until its context
// is done, and holds it until the action ends, so that actions on one daemon
// never interleave. It does not lock the guard again when [Options.GuardHeld]
// says the caller holds it, or when an ancestor of this process holds it
// for this process: the action then runs as the start command of that
// controller (see docs/protocol.md on the DAEMONKIT_CONTROLLER variable). [Check],
// which changes nothing, reads without the guard when it cannot be opened
// for lack of permission or because its directory is missing. The state of
// the daemon is read with [lockfile.Inspect].
//
// Stop and Signal open a pidfd for the PID named in the PID file, then
// check that the process holds the PID file's lock (one of its descriptors
// refers to the open file description that owns the exclusive flock, as
// /proc/PID/fdinfo shows; having the file open is not enough) and that the
// PID file is still locked, is the same file and still names that PID, and
// only then send the signal through the pidfd. Stop waits for the process
// to exit by polling the pidfd (no sleeping), then waits for the PID file
// lock through a read-only descriptor and empties the file if it still
// names that PID. This closes the PID-reuse window that libucw's protocol
// description admits. Where pidfds are missing (kernels before 5.3,
// seccomp filters, non-Linux systems) kill(2) is used after the same
// re-check, and Stop waits on the PID file lock instead. On Linux, when
// /proc cannot tell (another PID namespace's /proc, no descriptor left),
// nothing is sent; systems without /proc have only the re-check of the
// PID file.
//
// No action ever signals PID 0, 1, a negative PID or the caller's own PID,
// a process that /proc shows does not hold the PID file's lock, or a
// process named by an unlocked file; no action writes or truncates a file that is not a PID
// file. The status codes ([Status]) are libucw's and are used by daemonctl
// as its exit status. See docs/protocol.md for the states and the full
// sequence of each action, and docs/security.md for the threat model.
package control
