// Package reexec is the daemon stage's side of daemonkit's re-exec
// daemonization: what a program started by the framework's launcher calls
// to take over what the launcher handed it.
//
// Go cannot fork without exec, so a daemon is started as a second run of the
// same binary. The launcher marks that run with the environment variable
// [EnvVar], which carries a random per-launch token, and hands it exactly
// these descriptors:
//
//	3  the locked PID file (at the same number as for every daemon
//	   daemonkit starts, daemonctl start --background included)
//	4  the ready channel, a SOCK_SEQPACKET socket to the launcher
//	5  the crash pipe: the Go runtime's fatal-error output until READY
//	6… files and listeners handed over by name
//
// The daemon stage calls [Adopt], which trusts the marker only if the ready
// channel delivers a HELLO carrying the same token and the PID file
// descriptor is the file the launcher locked (same device and inode). Adopt
// removes the marker from the environment and makes every inherited
// descriptor close-on-exec, so programs the daemon starts inherit none of
// them.
//
// The channel carries, in order: HELLO (launcher → daemon); then either
// READY (daemon → launcher, [Stage.Ready]), after which the launcher writes
// the daemon's PID into the PID file and answers ACK, or ERROR with the
// daemon's message ([Stage.Fail]). If the launcher is gone before ACK,
// [Stage.Ready] says so and the daemon writes its own PID.
//
// The API is the same on every platform; where the daemon stage cannot
// run, [Adopt] returns [ErrUnsupported].
package reexec
