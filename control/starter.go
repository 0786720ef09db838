//go:build unix

package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlguard"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// Starter starts a daemon and returns once it is running (its PID file
// locked and naming it) or has failed. [Start] and [Restart] call it with
// the guard file locked.
//
// An error that wraps [lockfile.ErrLocked], or an [*ExitError] with exit
// status 100, means the daemon was already running.
type Starter interface {
	Start(ctx context.Context) error
}

// StarterFunc adapts a function to [Starter], e.g. to start a daemon in
// process.
type StarterFunc func(ctx context.Context) error

// Start calls f(ctx).
func (f StarterFunc) Start(ctx context.Context) error { return f(ctx) }

// defaultMessageLimit is how many bytes of a command's standard error
// [Command] keeps for [ExitError.Message].
const defaultMessageLimit = 4096

// defaultWaitDelay is how long a [CommandStarter] waits for the pipes it
// copies output through to close after the command exited (a daemon that
// kept one open must not block the start), and after killing the command
// when its context ended.
const defaultWaitDelay = time.Second

// CommandStarter is a [Starter] that runs a command (the daemon's launcher,
// which exits once the daemon is ready) and waits for it to exit. Its
// standard streams are passed through; the tail of its standard error is
// kept for the error message.
type CommandStarter struct {
	// Path is the program to run; without a slash it is looked up in PATH.
	Path string
	// Args holds the command line, including the program name as Args[0].
	Args []string
	// Env is the environment; nil means the current one.
	Env []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Stdin, Stdout and Stderr are connected to the command; nil means
	// /dev/null. An *os.File is passed as it is.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// MessageLimit is how many bytes at the end of the command's standard
	// error are kept for [ExitError.Message] (standard error then goes
	// through a pipe, copied to Stderr). Zero keeps nothing.
	MessageLimit int
	// WaitDelay bounds how long to wait for output pipes (used for writers
	// that are not an *os.File, and for standard error when MessageLimit >
	// 0) to be closed after the command exited: a daemon it left behind may
	// keep them open. Zero means one second.
	WaitDelay time.Duration
}

// Command returns a [CommandStarter] running name with args, with the
// caller's standard input, output and error, keeping the last
// 4 KiB of standard error for error messages.
func Command(name string, args ...string) *CommandStarter {
	return &CommandStarter{
		Path:         name,
		Args:         append([]string{name}, args...),
		Stdin:        os.Stdin,
		Stdout:       os.Stdout,
		Stderr:       os.Stderr,
		MessageLimit: defaultMessageLimit,
	}
}

// Start runs the command and waits for it to exit.
//
// The command stays in our process group and session, so that it can
// read from our terminal (e.g. a passphrase) and call setsid(2) (a daemon
// detaching itself, as libucw's daemon_run does: a process-group leader
// may not). Nothing of ours is passed to it but its standard streams: no
// lock, in particular not the guard file that [Start] holds while it runs
// (whose device and inode it names in the DAEMONKIT_CONTROLLER variable).
//
// If ctx ends first, the command's process tree gets SIGTERM (the command
// and its descendants, found through their parent links in /proc and held
// through pidfds: see [terminator]), which a daemon's launcher takes as the
// order to abort its start (a daemonkit launcher kills the daemon it
// started and leaves the PID file not running), and SIGKILL if some of it
// is still there WaitDelay later. When ctx has a deadline, SIGTERM is sent
// early enough (WaitDelay, or a quarter of the remaining time if that is
// less, before it; SIGKILL half-way) for Start to return by the
// deadline. Where /proc or
// pidfds are missing, only the command itself is signalled. A command that
// exits with a non-zero status or is killed by a signal yields an
// [*ExitError].
func (c *CommandStarter) Start(ctx context.Context) error { return c.start(ctx, nil) }

// guardedStarter is a [Starter] that is told which guard file the action
// holds while it runs (nil: none of its own), to mark it in the command's
// environment.
type guardedStarter interface {
	start(ctx context.Context, guard *pidlock.File) error
}

// start runs the command; guard is the guard file held for it, if any.
func (c *CommandStarter) start(ctx context.Context, guard *pidlock.File) error {
	if c.Path == "" {
		return fmt.Errorf("start command: %w", errNoStarter)
	}
	args := c.Args
	if len(args) == 0 {
		args = []string{c.Path}
	}
	grace := c.WaitDelay
	if grace <= 0 {
		grace = defaultWaitDelay
	}
	cmd := exec.Command(c.Path, args[1:]...)
	cmd.Args = args
	cmd.Env = c.Env
	if kv, ok := ctlguard.Entry(guard); ok {
		// Tell a controller among the command's processes that the
		// guard we hold is held for it (no descriptor is passed).
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], kv)
	}
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	cmd.Stdout = c.Stdout
	cmd.Stderr = c.Stderr
	cmd.WaitDelay = grace // for output pipes a left-behind child keeps open
	var pidfd *int
	cmd.SysProcAttr, pidfd = treeAttr()
	var tail *tailWriter
	if c.MessageLimit > 0 {
		tail = &tailWriter{limit: c.MessageLimit, pass: c.Stderr}
		cmd.Stderr = tail
	}
	// Stop early enough that the tree can be killed by the deadline:
	// SIGTERM early before it, SIGKILL half-way, and the search for the
	// tree's members done by the deadline.
	termCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		early := min(grace, time.Until(dl)/4)
		var cancel context.CancelFunc
		termCtx, cancel = context.WithDeadline(ctx, dl.Add(-early))
		defer cancel()
		grace = early / 2
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run %s: %w", c.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", c.Path, err)
	}
	t := &terminator{proc: cmd.Process, tree: newTree(cmd.Process.Pid, pidfd), exited: make(chan struct{})}
	t.watch(termCtx, grace)
	err := cmd.Wait()
	t.finish()
	if err == nil && !t.terminated() || errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() && !t.terminated() {
		return nil
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) || err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return c.exitError(args, cmd.ProcessState, tail, t, termCtx)
	}
	return fmt.Errorf("run %s: %w", c.Path, err)
}

// exitError describes a command that failed or was told to end.
func (c *CommandStarter) exitError(args []string, ps *os.ProcessState, tail *tailWriter, t *terminator, termCtx context.Context) *ExitError {
	e := &ExitError{Command: strings.Join(args, " "), Code: ps.ExitCode()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
	}
	if tail != nil {
		e.Message = tail.message()
	}
	if t.terminated() {
		e.Err = termCtx.Err()
	}
	return e
}

// terminator ends a start command's process tree when its context ends:
// SIGTERM to the command and its descendants, then SIGKILL to what is left
// of the tree after a grace period.
type terminator struct {
	proc   *os.Process
	tree   *tree         // the command's process tree, nil where it cannot be found
	exited chan struct{} // closed once the command was reaped
	wg     sync.WaitGroup
	mu     sync.Mutex
	sent   bool // SIGTERM was sent
	killAt time.Time
	grace  time.Duration // from SIGTERM to SIGKILL, and for the SIGKILL
}

// watch sends SIGTERM when ctx ends, and SIGKILL grace later, until the
// command exits.
func (t *terminator) watch(ctx context.Context, grace time.Duration) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		select {
		case <-ctx.Done():
		case <-t.exited:
			return
		}
		t.mu.Lock()
		t.sent, t.killAt, t.grace = true, time.Now().Add(grace), grace
		t.mu.Unlock()
		t.signal(syscall.SIGTERM)
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-timer.C:
			t.signal(syscall.SIGKILL)
		case <-t.exited:
		}
	}()
}

// terminated reports whether the command was told to end.
func (t *terminator) terminated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent
}

// signal sends sig to the command's tree, or to the command alone where
// its tree cannot be found. SIGKILL goes to the whole tree as it is now
// (see [tree.kill]); SIGTERM to the tree as it is now, whose members are
// remembered for the SIGKILL.
func (t *terminator) signal(sig syscall.Signal) {
	switch {
	case t.tree == nil:
		t.proc.Signal(sig)
	case sig == syscall.SIGKILL:
		t.tree.kill(t.killBy())
	default:
		t.tree.signal(sig)
	}
}

// finish is called once the command was reaped. If it was told to end,
// the rest of its tree (e.g. a launcher a wrapper script started) gets
// until the grace period is over to exit as well, then SIGKILL. The tree's
// pidfds are closed.
func (t *terminator) finish() {
	close(t.exited)
	t.wg.Wait()
	if t.tree == nil {
		return
	}
	defer t.tree.close()
	if !t.terminated() {
		return
	}
	t.mu.Lock()
	killAt := t.killAt
	t.mu.Unlock()
	t.tree.waitExit(killAt)
	t.tree.kill(t.killBy())
}

// killBy returns when the SIGKILL of the tree must be done: grace after
// it is due (with a deadline, the deadline).
func (t *terminator) killBy() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.killAt.Add(t.grace)
}

// ExitError reports a start command that failed: its exit status or the
// signal that killed it, and the end of its standard error.
type ExitError struct {
	Command string         // the command line
	Code    int            // exit status, or -1 if killed by a signal
	Signal  syscall.Signal // the signal that killed it, or 0
	Message string         // the end of its standard error, trimmed
	Err     error          // the context's error if it was told to stop because the context ended
}

// Error says how the command ended, and what it said.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command %q ", e.Command)
	if e.Signal != 0 {
		fmt.Fprintf(&b, "was killed by %s", SignalName(e.Signal))
		if e.Err != nil {
			fmt.Fprintf(&b, " (%v)", e.Err)
		}
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Code)
		if e.Err != nil {
			fmt.Fprintf(&b, " after it was told to stop (%v)", e.Err)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the context's error, if the command was killed because
// its context ended.
func (e *ExitError) Unwrap() error { return e.Err }

// alreadyRunning reports whether the command said, with exit status 100,
// that the daemon was already running.
func (e *ExitError) alreadyRunning() bool { return e.Signal == 0 && e.Code == int(StatusAlreadyDone) }

// tailWriter copies to pass (ignoring its errors, so that a closed terminal
// does not break the command) and keeps the last limit bytes.
type tailWriter struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	cut   bool
	pass  io.Writer
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if w.pass != nil {
		w.pass.Write(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.limit; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
		w.cut = true
	}
	return len(p), nil
}

// message returns what was kept, trimmed, starting at a line boundary if
// the beginning was cut.
func (w *tailWriter) message() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	if w.cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i+1 < len(b) {
			b = b[i+1:]
		}
		return "..." + string(bytes.TrimSpace(b))
	}
	return string(bytes.TrimSpace(b))
}
