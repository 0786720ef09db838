// Package lockfile reads the state of daemons that follow libucw's (6.2
// and later) PID file locking protocol, and names their files, for tools
// that watch or report on daemons. daemonkit's launchers and controllers
// (packages framework and control, and daemonctl) lock and write these
// files; this package never writes one.
//
// A PID file is opened with O_NOFOLLOW|O_CLOEXEC, must be a regular file
// with a single link ([ErrNotRegular], [ErrHardLink]), and is locked with
// flock(2). The daemon holds an exclusive lock for its whole life; its
// content is "(starting)\n" while it initialises, "<pid>\n" once it is
// ready, and empty after a clean stop (see docs/protocol.md). [Inspect]
// reads the state as a controller sees it: it takes a shared lock on a
// fresh open without blocking, and never creates or writes the file.
//
// A guard file ([GuardPath]) serialises controllers: every control action
// holds it exclusively, so actions on one daemon never interleave. A
// launcher that finds the PID file locked reports a [*LockedError]
// ([ErrLocked]); one that finds a file which is not a PID file refuses it
// ([ErrNotPIDFile]).
package lockfile
