// Package background daemonizes a program that stays in the foreground, the
// way start-stop-daemon's --background does, but without its races: it is
// what `daemonctl start --background` runs.
//
// [Launch] locks the PID file itself (see [pidlock.Acquire]), writes
// "(starting)\n" into it, and starts the command in a new session with the
// configured user, groups, working directory, umask, environment and output.
// The command inherits the locked PID file as file descriptor 3 (not
// close-on-exec), so the lock lives exactly as long as the command and the
// children that inherit that descriptor. When the command is ready,
// [Launch] writes its PID into the PID file and returns; if the command exits,
// reports a failure or is not ready in time, [Launch] kills it, clears the PID
// file and returns an [*Error] that carries its exit status and the tail of
// its output.
//
// Readiness is one of:
//   - [ReadyExec] (default): the exec succeeded and the command got past
//     its start: all its threads wait for something, or it has used 100 ms
//     of CPU. A program that exits at once (a bad option, a missing
//     config) is thus reported with its exit status, not as started.
//   - [ReadyNotify]: the command sent READY=1 to the private NOTIFY_SOCKET
//     that [Launch] created for it (sd_notify(3)); only datagrams whose
//     sender is the command or one of its descendants count. The socket
//     is in Linux's abstract namespace ("@daemonctl-notify-" and a random
//     name): no file, so nothing is left behind even if the caller is
//     killed, and permission does not matter when the command runs as
//     another user. Datagrams from other processes are ignored and
//     logged once per sender. It is closed when Launch returns. STATUS= is logged, ERRNO= is a failure,
//     EXTEND_TIMEOUT_USEC= pushes the deadline out, and MAINPID= (if it
//     names the command or a descendant) is the PID written.
//   - [ReadyFD]: the command wrote a newline to descriptor [Options.ReadyFD]
//     (the s6 convention).
//
// In every mode, ready also means alive: the PID is written, then the
// command (or the MAINPID= it named) is checked to be still running, and
// one that is already gone is reported as having exited, its PID file
// cleared. A command that dies a moment later died after it was ready:
// its PID file then shows it as stale.
//
// Every path [Launch] opens for the caller is opened without blocking and
// must be what it should be: the output file with O_NONBLOCK (a FIFO
// without a reader would block the open forever) and then refused unless
// it is a regular file; the PID file likewise (see [pidlock.Acquire]).
// The ready timeout and the context bound the whole wait.
//
// If the caller dies before the start completed, a watcher process (the
// caller's own binary, started again: this package's init recognises it)
// kills the command and empties the PID file, so that a start whose
// controller was killed leaves nothing behind; see watchEnv in
// watch_linux.go for the design.
//
// With [Options.Respawn], Launch starts a supervisor instead (its own
// binary again, recognised by this package's init): the supervisor holds
// the PID file, which names it, starts the command as above (without the
// PID file), and starts it again when it exits, with a growing delay and a
// limit; see [Respawn], [AskSupervisor] and docs/supervision.md.
//
// [Starter] adapts [Launch] to the control package's Starter interface, so
// that control.Start runs it under the guard lock.
//
// Launch marks every descriptor of the calling process above 2 close-on-exec
// (Go already does so for all it opens), so that descriptors the caller
// inherited do not leak into the daemon.
//
// The caller stays the parent of the command. A short-lived caller such as
// daemonctl simply exits, and init (or a subreaper) adopts the daemon; a
// long-lived caller should reap the returned PID when it exits.
package background

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/daemonkit/daemonkit/internal/launch"
)

// Readiness says when a started command counts as ready.
type Readiness int

// The readiness protocols.
const (
	ReadyExec   Readiness = iota // the exec succeeded
	ReadyNotify                  // READY=1 on NOTIFY_SOCKET
	ReadyFD                      // a newline written to Options.ReadyFD
)

// String returns "exec", "notify" or "fd".
func (r Readiness) String() string {
	switch r {
	case ReadyExec:
		return "exec"
	case ReadyNotify:
		return "notify"
	case ReadyFD:
		return "fd"
	}
	return fmt.Sprintf("Readiness(%d)", int(r))
}

// defaultReadyTimeout is the ready timeout when [Options.ReadyTimeout] is zero.
const defaultReadyTimeout = 60 * time.Second

// Defaults used for other zero [Options] fields.
const (
	defaultDir       = "/"
	defaultUmask     = 0o022
	defaultTailLines = 10
)

// Options configures [Launch]. Only PIDFile and Command are required.
type Options struct {
	// PIDFile is the path of the PID file. It is created (mode 0644) if
	// missing and locked by [Launch]; the command inherits the lock.
	PIDFile string
	// Command is the program to run: a path, or a name looked up in $PATH.
	// A relative path is taken relative to the caller's working directory,
	// not Dir.
	Command string
	// Args are the arguments after the command name.
	Args []string
	// User runs the command as this user (a name or a number): real,
	// effective and saved user IDs, with the user's supplementary groups,
	// and HOME, USER and LOGNAME set from the user database. A number no
	// user database knows is accepted (uid and gid of that number, HOME
	// "/"). Empty: keep the caller's identity. Only root may switch; a
	// caller that is not root may name its own uid and gid, which changes
	// nothing. The framework's --user and --group follow the same rules.
	User string
	// Group runs the command with this group (a name or a number) as real,
	// effective and saved group ID. Empty: the user's primary group when
	// User is set, else the caller's group. With both, the supplementary
	// groups are those of initgroups(3): the user's memberships in the
	// group database, and Group instead of the user's primary group.
	Group string
	// Dir is the working directory, entered after switching user.
	// Default "/".
	Dir string
	// Umask is the command's file mode creation mask. Default
	// 022 unless UmaskSet is true (so that 0 can be asked
	// for). Go cannot set a umask in the child alone: [Launch] sets the
	// process's umask around the fork and restores it at once, under a
	// lock, so files created concurrently by other goroutines of the
	// caller may briefly get this umask. daemonctl does nothing else at
	// that moment.
	Umask    os.FileMode
	UmaskSet bool
	// Output is a file that receives the command's stdout and stderr,
	// opened by [Launch] (as the caller) under the rules of the
	// framework's --log-file: appending, without following a symbolic
	// link and without blocking; it must be a regular file with no other
	// hard link (a FIFO, device, socket or directory is refused); a
	// missing file is created with mode 0640 and handed to User and Group.
	// Empty: /dev/null. Its last TailLines lines written during this
	// start are quoted in the error when the command fails.
	Output string
	// Env lists KEY=VALUE pairs added to (or replacing in) the caller's
	// environment. NOTIFY_SOCKET, LISTEN_* and WATCHDOG_* of the caller are
	// never passed on: they were meant for the caller.
	Env []string
	// Readiness says when the command is ready. Default [ReadyExec].
	Readiness Readiness
	// ReadyFD is the descriptor number of the write end of the readiness
	// pipe for [ReadyFD]: at least 4 (3 is the PID file) and at most
	// 255.
	ReadyFD int
	// ReadyTimeout bounds the wait for readiness. Default
	// [defaultReadyTimeout] (60 s). EXTEND_TIMEOUT_USEC= pushes it out.
	// The context given to [Launch] bounds it too.
	ReadyTimeout time.Duration
	// TailLines is how many lines of Output an [*Error] quotes. Default
	// 10; negative: none.
	TailLines int
	// Logger receives STATUS= messages and progress at Info/Debug level.
	// Default: a logger that discards.
	Logger *slog.Logger
	// Rlimits are resource limits, NAME=SOFT[:HARD] (see
	// setrlimit(2); a value is a number or "unlimited"; without HARD the
	// hard limit is SOFT): nofile, nproc, core, memlock, as, stack, cpu,
	// fsize, data, rss, locks, msgqueue, nice, rtprio, sigpending. Nice,
	// if not nil, is the command's nice value (-20 to 19). NoNewPrivs sets
	// the no_new_privs bit (prctl(2)): nothing the command runs gains
	// privileges through setuid bits or file capabilities. All are applied
	// in the command's own process, after the switch to User and Group,
	// just before its program runs: raising a hard limit or lowering the
	// nice value needs that privilege as User. Linux only.
	Rlimits    []string
	Nice       *int
	NoNewPrivs bool
	// AmbientCaps are capabilities (names of capabilities(7), with or
	// without CAP_) the command keeps as ambient capabilities across the
	// switch to User and its exec, so that, for example, a command run as
	// an unprivileged User can bind a port below 1024 (NET_BIND_SERVICE).
	// The caller must hold them. Linux only.
	AmbientCaps []string
	// Respawn, if not nil, has the command supervised and started again
	// when it exits: see [Respawn]. The PID file then names the
	// supervisor, and the command does not inherit it.
	Respawn *Respawn
}

// caps returns the numbers of o.AmbientCaps.
func (o Options) caps() ([]uintptr, error) {
	var cs []uintptr
	for _, name := range o.AmbientCaps {
		c, err := launch.ParseCap(name)
		if err != nil {
			return nil, fmt.Errorf("background: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// limits returns the resource limits and privileges o asks for.
func (o Options) limits() (launch.Limits, error) {
	l := launch.Limits{NoNewPrivs: o.NoNewPrivs}
	for _, s := range o.Rlimits {
		r, err := launch.ParseRlimit(s)
		if err != nil {
			return l, fmt.Errorf("background: %w", err)
		}
		l.Rlimits = append(l.Rlimits, r)
	}
	if o.Nice != nil {
		if err := launch.ParseNice(*o.Nice); err != nil {
			return l, fmt.Errorf("background: %w", err)
		}
		l.Nice, l.NiceSet = *o.Nice, true
	}
	return l, nil
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = defaultDir
	}
	if !o.UmaskSet {
		o.Umask, o.UmaskSet = defaultUmask, true
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = defaultReadyTimeout
	}
	if o.TailLines == 0 {
		o.TailLines = defaultTailLines
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// validate reports unusable options before anything is touched.
func (o Options) validate() error {
	switch {
	case o.PIDFile == "":
		return errors.New("background: no PID file given")
	case o.Command == "":
		return errors.New("background: no command given")
	case o.Umask&^0o777 != 0:
		return fmt.Errorf("background: umask %#o has bits outside 0777", o.Umask)
	}
	if _, err := o.limits(); err != nil {
		return err
	}
	if _, err := o.caps(); err != nil {
		return err
	}
	switch o.Readiness {
	case ReadyExec, ReadyNotify:
	case ReadyFD:
		if o.ReadyFD <= launch.PIDFileFD || o.ReadyFD > launch.MaxReadyFD {
			return fmt.Errorf("background: ready fd %d: must be between %d and %d (0-2 are stdio, %d is the PID file)",
				o.ReadyFD, launch.PIDFileFD+1, launch.MaxReadyFD, launch.PIDFileFD)
		}
	default:
		return fmt.Errorf("background: unknown readiness %d", o.Readiness)
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("background: environment entry %q is not KEY=VALUE", kv)
		}
	}
	if o.Respawn != nil {
		return o.Respawn.validate()
	}
	return nil
}

// Errors wrapped by [*Error]; test with [errors.Is].
var (
	// ErrExited: the command exited before it was ready.
	ErrExited = launch.ErrExited
	// ErrNotReady: the command was not ready within the ready timeout, or
	// before the context ended (the error then wraps the context's too).
	ErrNotReady = launch.ErrNotReady
	// ErrReportedFailure: the command reported a failure (ERRNO= on the
	// notify socket, or it closed the ready fd without writing a newline).
	ErrReportedFailure = launch.ErrReportedFailure
)

// ErrUnsupported is returned by [Launch] on systems other than Linux: it
// relies on pidfd_open(2), SO_PASSCRED and /proc.
var ErrUnsupported = errors.New("background: daemonizing a foreground program is only supported on Linux")

// Error reports a command that did not become ready, the same failure the
// framework's launcher reports: by the time it is returned the command has
// been killed and reaped, and the PID file cleared. Its fields: Command and
// PID; Err, which wraps [ErrExited], [ErrNotReady] or [ErrReportedFailure]
// with more detail, or says what else failed; the embedded
// *os.ProcessState (how the command ended, if known; Killed if Launch
// killed it), as in [os/exec.ExitError]; Status, the last STATUS= it sent;
// and Output, the last lines of Options.Output written during this start.
type Error = launch.Failure

// Starter starts a command with [Launch]. It satisfies the control
// package's Starter interface.
type Starter struct {
	Options
}

// Start runs [Launch]. If the PID file is locked (the daemon is already
// running or starting) the error is the [*lockfile.LockedError], which
// errors.Is [lockfile.ErrLocked].
func (s Starter) Start(ctx context.Context) error {
	_, err := Launch(ctx, s.Options)
	return err
}
