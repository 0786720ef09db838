// Package lockfile opens, locks, reads and writes daemon PID files and guard
// files the way libucw (6.2 and later) does, so that daemons and controllers
// of either side interoperate.
//
// A PID file is opened with O_NOFOLLOW|O_CLOEXEC, must be a regular file
// with a single link (a hard link could make a root process write someone
// else's file: [ErrHardLink]), and is locked with flock(2). After locking, the open file and the path must name
// the same inode; a file that was unlinked or replaced under us is never
// trusted. The daemon holds an exclusive lock for its whole life; its content
// is "(starting)\n" while it initialises, "<pid>\n" once it is ready, and
// empty after a clean stop. Controllers read the state with [Inspect], which
// takes a shared lock on a fresh open without blocking.
//
// A guard file ([GuardPath]) serialises controllers: every control action
// holds it exclusively, so actions on one daemon never interleave.
package lockfile
