package launch

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Errors a [*Failure] wraps; test with [errors.Is].
var (
	// ErrExited: the process exited before it was ready.
	ErrExited = errors.New("exited before it was ready")
	// ErrNotReady: the process was not ready within the ready timeout, or
	// before the context ended (the error then wraps the context's too).
	ErrNotReady = errors.New("not ready in time")
	// ErrReportedFailure: the process reported a failure (an error on the
	// ready channel, ERRNO= on the notify socket, or it closed the ready
	// fd without writing a newline).
	ErrReportedFailure = errors.New("reported failure")
)

// Failure reports a process that did not become ready. By the time it is
// returned the process has been killed and reaped, like the process an
// [os/exec.ExitError] describes.
type Failure struct {
	// Command names the process: "daemon" or the command as given.
	Command string
	PID     int
	// Err says why: it wraps [ErrExited], [ErrNotReady] or
	// [ErrReportedFailure] with more detail, or says what else failed.
	Err error
	// ProcessState is how the process ended, if known. Killed reports
	// that it was still running and was killed by the launcher.
	*os.ProcessState
	Killed bool
	// Message is the daemon's own error message, if it sent one; Status
	// the last STATUS= it sent, if any.
	Message, Status string
	// Crash is the Go runtime's fatal output (an unrecovered panic) of a
	// framework daemon, if any.
	Crash string
	// Output holds the last lines of its output file written during this
	// start.
	Output []string
}

// Error says what failed: the command, its PID, why, its own message, its
// exit status or signal (unless the launcher killed it), and what it left
// behind. Output lines repeating its message are not quoted again.
func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (pid %d) %v", f.Command, f.PID, f.Err)
	if f.Message != "" {
		fmt.Fprintf(&b, ": %s", f.Message)
	}
	if ps := f.ProcessState; ps != nil && !f.Killed {
		fmt.Fprintf(&b, " (%s)", ps)
		if ps.Success() && errors.Is(f.Err, ErrExited) {
			b.WriteString("; a program that puts itself in the background must be started as it is, not daemonized again")
		}
	}
	if f.Status != "" {
		fmt.Fprintf(&b, "; last status: %q", f.Status)
	}
	if f.Crash != "" {
		fmt.Fprintf(&b, "\n%s", strings.TrimRight(f.Crash, "\n"))
	}
	var lines []string
	for _, l := range f.Output {
		if f.Message == "" || !strings.Contains(l, f.Message) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		b.WriteString("\nlast lines of its output:")
		for _, l := range lines {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// Unwrap returns Err.
func (f *Failure) Unwrap() error { return f.Err }

// Reason is an error with its own text that wraps a sentinel, such as
// "failed to start" wrapping [ErrReportedFailure].
func Reason(text string, sentinel error) error { return &reason{text, sentinel} }

type reason struct {
	text string
	err  error
}

func (r *reason) Error() string { return r.text }
func (r *reason) Unwrap() error { return r.err }
