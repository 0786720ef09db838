package control

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/lockfile"
)

// Status is the outcome of a control action. Its values are libucw's status
// codes, and they are the exit statuses of daemonctl and of a daemonkit
// service's control verbs: exit with int(status).
type Status int

// The status codes of libucw's daemon control protocol.
const (
	StatusOK          Status = 0   // done (or, for Check, running)
	StatusAlreadyDone Status = 100 // nothing to do: already running (Start), not running (Stop)
	StatusNotRunning  Status = 101 // not running (Check, Signal)
	StatusFailed      Status = 102 // failed; the action's error says why
	StatusStale       Status = 103 // stale PID file: the daemon died without cleaning up
)

// String returns the status name: ok, already-done, not-running, failed
// or stale.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusAlreadyDone:
		return "already-done"
	case StatusNotRunning:
		return "not-running"
	case StatusFailed:
		return "failed"
	case StatusStale:
		return "stale"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Errors wrapped by the errors of this package: the causes a caller may
// want to tell apart. Test for them with [errors.Is]; every other failure
// is told by [Result.Status] ([StatusFailed]) and the error's message.
// Errors about invalid PID file content also wrap
// [lockfile.ErrInvalidPID]; errors caused by the context's end wrap
// [ErrTimeout] or [ErrInterrupted], and the context's error.
var (
	// ErrTimeout: the action's deadline passed before the action could
	// finish (the error also wraps [context.DeadlineExceeded]).
	ErrTimeout = errors.New("timed out")
	// ErrInterrupted: the action's context was canceled (e.g. daemonctl
	// got Ctrl-C) before the action could finish (the error also wraps
	// [context.Canceled]).
	ErrInterrupted = errors.New("interrupted")
	// ErrStillRunning: Stop signalled the daemon but it was still running,
	// or its process is gone but its PID file is still locked (typically
	// by a process that inherited the locked descriptor), when the context
	// ended.
	ErrStillRunning = errors.New("still running")
	// ErrStale: the PID file is stale, the daemon died without cleaning up
	// ([Stop] reports it with status [StatusStale] and keeps the file).
	ErrStale = errors.New("stale pid file: the daemon died")
	// ErrUnverified: nothing was sent because the process named by the PID
	// file could not be shown to hold its lock: /proc could not tell
	// (another PID namespace, no descriptor left to read it); the process
	// does not hold the lock (it may have the file open, as `tail -f`
	// does); the file is unlocked but names a live process, which was not
	// started under the locking protocol (e.g. by start-stop-daemon) and is
	// never called dead, signalled, or has its PID file emptied; or the
	// file kept changing between reading it and signalling.
	ErrUnverified = errors.New("cannot verify the lock holder, so nothing was sent")
	// ErrBadSignal: [ParseSignal] could not make sense of its input.
	ErrBadSignal = errors.New("invalid signal")
)

// Causes that callers need not tell apart, each with its own message.
// Those of them that mean "nothing was sent" match [ErrUnverified], the
// one that means "the lock outlived the daemon" [ErrStillRunning].
var (
	// errLockHeld: the daemon's process is gone but its PID file is still
	// locked, typically by a process that inherited the locked descriptor.
	errLockHeld = &causeError{"pid file still locked after the daemon exited", ErrStillRunning}
	// errUnlockedLive: the PID file is unlocked but names a live process.
	errUnlockedLive = &causeError{"not started under the locking protocol", ErrUnverified}
	// errChanged: the PID file kept changing between reading it and
	// signalling, so no signal was sent.
	errChanged = &causeError{"pid file changed while signalling", ErrUnverified}
	// errNotHolder: the PID file is locked and names a process that does
	// not hold its lock, so it is not the daemon; nothing was sent.
	errNotHolder = &causeError{"process named by the pid file does not hold it", ErrUnverified}
	// errUnsafe: the PID file is world-writable, so its content cannot be
	// trusted to name the daemon. It is logged as a warning: actions still
	// proceed, since only a process shown to hold the file's lock is ever
	// signalled.
	errUnsafe = errors.New("unsafe pid file")
	// errInvalid: the PID file is locked but its content is not a state the
	// protocol knows (see [lockfile.Invalid]).
	errInvalid = errors.New("invalid pid file")
	// errNotStarted: the start command succeeded but the daemon is not
	// running afterwards.
	errNotStarted = errors.New("daemon not running after start")
	// errNoStarter: Start or Restart was called without a [Starter].
	errNoStarter = errors.New("no start command")
)

// causeError is a sentinel with its own message that also matches the
// broader exported sentinel kind with [errors.Is].
type causeError struct {
	msg  string
	kind error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.kind }

// Options say which daemon an action applies to and how it behaves.
type Options struct {
	// PIDFile is the daemon's PID file. Required.
	PIDFile string
	// GuardFile is the guard file locked during every action. Empty means
	// [lockfile.GuardPath](PIDFile).
	GuardFile string
	// Signal is the signal to send: for [Stop] 0 means SIGTERM, for
	// [Signal] 0 means SIGHUP. Not used by the other actions (Restart stops
	// with it).
	Signal syscall.Signal
	// KillAfter makes [Stop] (and [Restart]) send SIGKILL, through the same
	// pidfd, if the daemon has not exited this long after the first signal.
	// Zero means never.
	KillAfter time.Duration
	// AnswerTimeout bounds how long [Reload] waits for a framework daemon
	// to answer on its control channel before concluding that it is not
	// one ([ErrNoVerdict]); the verdict itself is waited for until the
	// context ends. Zero means 5 s.
	AnswerTimeout time.Duration
	// GuardHeld says the caller already holds the guard file (it is the
	// start command of a controller that holds it, as a daemonkit
	// service's start verb finds out by itself); the action then does not
	// lock it again.
	GuardHeld bool
	// Logger receives a record of each step at debug level, and of unusual
	// events (escalation, fallbacks) at info or warn level. Nil discards.
	Logger *slog.Logger

	// noPidfd makes the action use kill(2) as where pidfds are missing
	// (set by tests through export_test.go).
	noPidfd bool
}

// Result is the outcome of an action.
type Result struct {
	Status Status
	// Note says what the state alone does not: for a PID file that
	// [Check] finds starting or stopping, which processes hold its lock
	// (and whether they look like controllers), since a lock that stays
	// can be held by a process that is not the daemon at all; for a stale
	// one, why its framework daemon ended (exit status, error and time),
	// if it recorded it. Empty if there is nothing to add.
	Note string
	// Before is the state observed under the guard lock before acting.
	Before lockfile.Info
	// After is the state at the end of the action (for Check, the same as
	// Before). It is the zero Info if the action failed before reading it.
	After lockfile.Info
}
