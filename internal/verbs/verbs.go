// Package verbs is the command-line layer shared by daemonctl and a
// daemonkit service's own control verbs (framework's Main): the same
// message for the same outcome, the same streams, the same default time
// limits and the same exit statuses.
//
// Streams: every message, report or error, goes to standard error, one
// line "PROG: PIDFILE: message"; standard output carries only what was
// asked for as data (status --json, --help, --version), so that a script
// can parse it while the messages still reach the terminal.
//
// Exit statuses: a [control.Status] value (0, 100, 101, 102, 103, libucw's)
// or [ExitUsage].
package verbs

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/lockfile"
)

// ExitUsage is the exit status of a usage error, and of a service's start
// whose daemon failed to start (its launcher's own failure). The other
// exit statuses are [control.Status] values.
const ExitUsage = 1

// Default time limits of a whole action (guard wait included) when no
// --timeout is given: [DefaultTimeout].
const (
	minTimeout = 60 * time.Second
	slack      = 30 * time.Second // waiting for the guard held by another action
)

// DefaultTimeout is the time limit of verb when no --timeout is given: at
// least a minute, more if the daemon's own ready or stop timeout (zero when
// unknown, as for daemonctl) needs it; a restart gets a stop's and a
// start's.
func DefaultTimeout(verb string, ready, stop time.Duration) time.Duration {
	switch verb {
	case "start", "upgrade":
		return max(minTimeout, ready+slack)
	case "stop":
		return max(minTimeout, 2*stop+slack) // the body's return, then the OnStop hooks
	case "restart":
		return DefaultTimeout("start", ready, stop) + DefaultTimeout("stop", ready, stop)
	}
	return minTimeout
}

// UsageError is a mistake in the command line: exit status [ExitUsage].
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a [*UsageError].
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Usage prints a usage error and one line pointing to --help, and returns
// [ExitUsage].
func Usage(w io.Writer, prog string, err error) int {
	fmt.Fprintf(w, "%s: %v\nRun '%s --help' for usage.\n", prog, err, prog)
	return ExitUsage
}

// CheckDuration returns a usage error if d, given as flag name, is
// negative, or zero when zero is not allowed.
func CheckDuration(name string, d time.Duration, zeroOK bool) error {
	if d < 0 || d == 0 && !zeroOK {
		want := "must be positive"
		if zeroOK {
			want = "must not be negative"
		}
		return Usagef("--%s %v: %s", name, d, want)
	}
	return nil
}

// Version is the program's version from its build information: the main
// module's version, else its VCS revision (with "+dirty" for a modified
// tree), else "(devel)".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev + dirty
}

// Reporter prints the outcome of actions on one PID file and records the
// exit status.
type Reporter struct {
	Prog    string    // the program's name: daemonctl, or the service's
	PIDFile string    // named in every message
	W       io.Writer // standard error
	Quiet   bool      // print nothing but failures
	Code    int       // the exit status decided by the last report
}

// Say records st as the exit status and prints a message unless Quiet.
func (r *Reporter) Say(st control.Status, format string, args ...any) {
	r.Code = int(st)
	if !r.Quiet {
		r.print(format, args...)
	}
}

// Fail records a failure ([control.StatusFailed] unless st says otherwise)
// and prints it, even when Quiet.
func (r *Reporter) Fail(st control.Status, format string, args ...any) {
	if st == control.StatusOK {
		st = control.StatusFailed
	}
	r.Code = int(st)
	r.print(format, args...)
}

func (r *Reporter) print(format string, args ...any) {
	fmt.Fprintf(r.W, "%s: %s: %s\n", r.Prog, r.PIDFile, fmt.Sprintf(format, args...))
}

// Started reports a start or restart.
func (r *Reporter) Started(res control.Result, err error, restart bool) {
	after := res.After
	switch {
	case err != nil:
		verb := "start"
		if restart {
			verb = "restart"
		}
		r.Fail(res.Status, "%s failed: %v", verb, err)
	case res.Status == control.StatusAlreadyDone:
		r.Say(res.Status, "%s", alreadyRunning(res))
	case restart && res.Before.PID != 0:
		r.Say(res.Status, "restarted (pid %d, was pid %d)", after.PID, res.Before.PID)
	case res.Status == control.StatusStale:
		r.Say(res.Status, "started (pid %d); the PID file was stale: the previous daemon had died", after.PID)
	default:
		r.Say(res.Status, "started (pid %d)", after.PID)
	}
}

// alreadyRunning describes the daemon a start found running.
func alreadyRunning(res control.Result) string {
	info := res.Before
	if !info.State.Alive() {
		info = res.After
	}
	switch info.State {
	case lockfile.Running:
		return fmt.Sprintf("already running (pid %d)", info.PID)
	case lockfile.Starting, lockfile.Stopping:
		return "already running (" + info.State.String() + ")"
	}
	return "already running: the PID file was locked by another process just now (a start without the guard file?)"
}

// Stopped reports a stop.
func (r *Reporter) Stopped(res control.Result, err error) {
	switch {
	case res.Status == control.StatusStale && err != nil:
		r.Say(res.Status, "not running: %v", err) // the daemon died; the file is kept
	case errors.Is(err, control.ErrFailedVerdict):
		r.Fail(res.Status, "stopped (pid %d), but not cleanly: %v", res.Before.PID, err)
	case err != nil:
		r.Fail(res.Status, "stop failed: %v", err)
	case res.Status == control.StatusAlreadyDone:
		r.Say(res.Status, "not running")
	case res.Before.PID != 0:
		r.Say(res.Status, "stopped (pid %d)", res.Before.PID)
	default:
		r.Say(res.Status, "stopped")
	}
}

// Signalled reports a signal sent with o; done names it ("reloaded") for
// reload.
func (r *Reporter) Signalled(res control.Result, err error, sig string, done string) {
	switch {
	case err != nil:
		r.Fail(res.Status, "signal %s failed: %v", sig, err)
	case res.Status == control.StatusNotRunning:
		r.Say(res.Status, "not running")
	case done != "":
		r.Say(res.Status, "%s: sent %s (pid %d)", done, sig, res.After.PID)
	default:
		r.Say(res.Status, "sent %s (pid %d)", sig, res.After.PID)
	}
}

// Reloaded reports a reload that waited for the daemon's verdict
// ([control.Reload]).
func (r *Reporter) Reloaded(res control.Result, err error) {
	switch {
	case errors.Is(err, control.ErrFailedVerdict):
		r.Fail(res.Status, "reload failed; the daemon keeps running as before: %v", err)
	case err != nil:
		r.Fail(res.Status, "reload failed: %v", err)
	case res.Status == control.StatusNotRunning:
		r.Say(res.Status, "not running")
	default:
		r.Say(res.Status, "reloaded (pid %d)", res.After.PID)
	}
}

// Upgraded reports an upgrade ([control.Upgrade]).
func (r *Reporter) Upgraded(res control.Result, err error) {
	switch {
	case errors.Is(err, control.ErrFailedVerdict):
		r.Fail(res.Status, "%v", err)
	case err != nil:
		r.Fail(res.Status, "upgrade failed: %v", err)
	case res.Status == control.StatusNotRunning:
		r.Say(res.Status, "not running")
	default:
		r.Say(res.Status, "upgraded: pid %d took over from pid %d, which drains and exits", res.After.PID, res.Before.PID)
	}
}

// Status reports a check: as one JSON object on stdout if asJSON (see
// [WriteStatusJSON]), and the error, if any, as a message.
func (r *Reporter) Status(stdout io.Writer, res control.Result, err error, guardFile string, asJSON bool) {
	r.Code = int(res.Status)
	if asJSON {
		if jerr := WriteStatusJSON(stdout, r.PIDFile, guardFile, res, err, time.Now()); jerr != nil {
			r.Fail(control.StatusFailed, "writing status: %v", jerr)
			return
		}
	}
	if err != nil {
		r.Fail(res.Status, "%v", err)
		return
	}
	if asJSON {
		return
	}
	info := res.After
	switch info.State {
	case lockfile.Running:
		r.Say(res.Status, "running (pid %d, since %s)", info.PID, info.Since.Format(time.RFC3339))
	case lockfile.Stale:
		if res.Note != "" {
			r.Say(res.Status, "stale PID file: the daemon died: %s", res.Note)
			return
		}
		r.Say(res.Status, "stale PID file: the daemon died%s", describeStale(info))
	case lockfile.Starting, lockfile.Stopping:
		if res.Note == "" {
			r.Say(res.Status, "%s", info.State)
			return
		}
		r.Say(res.Status, "%s (%s)", info.State, res.Note)
	default:
		r.Say(res.Status, "%s", strings.ReplaceAll(info.State.String(), "-", " "))
	}
}

// stalePID returns the PID a stale PID file names, or 0.
func stalePID(info lockfile.Info) int {
	if c, pid, _ := pidfile.ParseContent(info.Content, pidfile.PIDMax()); c == pidfile.ContentPID {
		return pid
	}
	return 0
}

func describeStale(info lockfile.Info) string {
	if pid := stalePID(info); pid != 0 {
		return fmt.Sprintf(" (pid %d is gone)", pid)
	}
	return fmt.Sprintf(" (content %q)", info.Content)
}

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}
