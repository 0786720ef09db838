// Package reexec starts the daemon stage of a program by re-executing its own
// binary, and carries the ready channel between the two processes.
//
// Go cannot fork without exec, so a daemon is started as a second run of the
// same binary. The launcher calls [Spawn]; the child is marked by the
// environment variable [EnvVar], which carries a random per-launch token, and
// inherits exactly these descriptors:
//
//	3  the ready channel, a SOCK_SEQPACKET socket to the launcher
//	4  the locked PID file
//	5  the crash pipe: the Go runtime's fatal-error output until READY
//	6… files and listeners handed over by name ([NamedFile])
//
// The child calls [Adopt], which trusts the marker only if the ready channel
// delivers a HELLO carrying the same token and the PID file descriptor is the
// file the launcher locked (same device and inode). Adopt removes the marker
// from the environment and makes every inherited descriptor close-on-exec,
// so programs the daemon starts inherit none of them.
//
// The channel carries, in order: HELLO (launcher → daemon); then either
// READY (daemon → launcher), after which the launcher writes the daemon's PID
// into the PID file and answers ACK, or ERROR with the daemon's message.
// If the launcher is gone before ACK, [Stage.Ready] says so and the daemon
// writes its own PID.
package reexec
