// Package launch is daemonkit's one launch core: everything that starting a
// daemon involves, implemented once and shared by the framework's launcher
// (which re-executes its own binary as the daemon stage) and by
// `daemonctl start --background` (package background):
//
//   - the output file, opened by [OpenOutput] under one set of rules, and
//     the tail of what the daemon wrote to it ([Tail]);
//   - the working directory, checked by [CheckDir];
//   - the identity: credentials and HOME, USER and LOGNAME from the target
//     user's passwd entry ([Environ]);
//   - the start itself ([Start]): a new session, the credentials, the
//     working directory, the umask, stdin on /dev/null, stdout and stderr on
//     the output file, the locked PID file at [PIDFileFD] and the caller's
//     own descriptors after it, every other descriptor close-on-exec;
//   - the one way a failed start is ended ([Proc.Fail]): the process group
//     and the process are killed, the process is reaped, and a [*Failure]
//     shaped like [os/exec.ExitError] says why, with the daemon's own
//     message, its crash output and the tail of its output.
//
// Readiness is the caller's strategy, run between [Start] and
// [Proc.Detach]: the framework's ready channel, exec-settled, sd_notify or
// a ready descriptor.
package launch
