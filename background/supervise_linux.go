//go:build linux

package background

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/fdutil"
	"github.com/daemonkit/daemonkit/internal/ident"
	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// With Options.Respawn, Launch does not start the command itself: it
// starts a supervisor, its own binary again (/proc/self/exe), recognised
// by this package's init through superviseEnv ("DEV:INO" of the PID
// file), in a session of its own, with stdin on /dev/null, stdout and
// stderr on the output file (or /dev/null), the working directory /, and
//
//	fd 3: the locked PID file (the same open file description as ours),
//	fd 4: one end of a socket pair whose other end only Launch has.
//
// Over the socket, Launch sends the supervisor a supConfig; the supervisor
// starts the command with the same launch core (internal/launch) and the
// same readiness strategies as an unsupervised start, and reports
// {"started":PID}, then {"ready":PID} or {"failed":…}. On ready, Launch
// writes the supervisor's PID into the PID file, checks that the
// supervisor is alive and sends {"ack":true}; only then does the
// supervisor supervise. If the socket closes before the acknowledgement
// (Launch was killed, or gave up), the supervisor kills the command,
// empties the PID file and exits: a start whose controller died leaves
// nothing behind. See supervisor_linux.go for the supervisor itself and
// docs/supervision.md for the design.
const superviseEnv = "DAEMONKIT_BACKGROUND_SUPERVISE"

// The supervisor's inherited descriptors.
const (
	supPIDFileFD = 3
	supChanFD    = 4
)

// supEndGrace is how long Launch waits for a supervisor it gave up on to
// exit by itself before it kills it.
const supEndGrace = 5 * time.Second

// supConfig is what Launch tells the supervisor: the options (without the
// logger), and what Launch resolved from them, so that the supervisor
// starts exactly what an unsupervised start would.
type supConfig struct {
	Options  Options        `json:"options"`
	Path     string         `json:"path"`
	Identity ident.Identity `json:"identity"`
	Env      []string       `json:"env"`
}

// supReport is one message of the supervisor to Launch.
type supReport struct {
	Started int         `json:"started,omitempty"`
	Ready   int         `json:"ready,omitempty"`
	Failed  *supFailure `json:"failed,omitempty"`
}

// supAck is Launch's acknowledgement of a ready report.
type supAck struct {
	Ack bool `json:"ack"`
}

// supFailure is a failed first start as the supervisor saw it: the
// [*Error] in parts, and its text.
type supFailure struct {
	Text    string   `json:"text"`
	Command string   `json:"command"`
	PID     int      `json:"pid"`
	Err     string   `json:"err"`
	Kind    string   `json:"kind"` // exited, not-ready, reported, or empty
	Killed  bool     `json:"killed,omitempty"`
	Status  string   `json:"status,omitempty"`
	Output  []string `json:"output,omitempty"`
}

// failureOf describes err, the supervisor's failed first start.
func failureOf(err error) *supFailure {
	sf := &supFailure{Text: err.Error(), Err: err.Error()}
	var f *Error
	if errors.As(err, &f) {
		sf.Command, sf.PID, sf.Killed, sf.Status, sf.Output = f.Command, f.PID, f.Killed, f.Status, f.Output
		sf.Err = f.Err.Error()
	}
	switch {
	case errors.Is(err, ErrExited):
		sf.Kind = "exited"
	case errors.Is(err, ErrNotReady):
		sf.Kind = "not-ready"
	case errors.Is(err, ErrReportedFailure):
		sf.Kind = "reported"
	}
	return sf
}

// supervisedError is a failed start reported by the supervisor. It prints
// exactly what the supervisor's [*Error] printed, and unwraps to an
// [*Error] with the same parts (without the ProcessState, which stayed in
// the supervisor: its exit status is in the text).
type supervisedError struct {
	text string
	f    *Error
}

func (e *supervisedError) Error() string { return e.text }
func (e *supervisedError) Unwrap() error { return e.f }

// error returns the error Launch reports for sf.
func (sf *supFailure) error() error {
	sentinel := map[string]error{"exited": ErrExited, "not-ready": ErrNotReady, "reported": ErrReportedFailure}[sf.Kind]
	if sf.Command == "" {
		if sentinel != nil {
			return launch.Reason(sf.Text, sentinel)
		}
		return errors.New(sf.Text)
	}
	why := errors.New(sf.Err)
	if sentinel != nil {
		why = launch.Reason(sf.Err, sentinel)
	}
	f := &Error{Command: sf.Command, PID: sf.PID, Err: why, Killed: sf.Killed, Status: sf.Status, Output: sf.Output}
	return &supervisedError{text: sf.Text, f: f}
}

// launchSupervised is Launch with Options.Respawn: it starts the
// supervisor and returns its PID once the command is ready.
func launchSupervised(ctx context.Context, o Options, path string, id ident.Identity, env []string) (int, error) {
	pf, err := launch.Lock(o.PIDFile)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	s := &supStart{o: o, pf: pf}
	defer s.closeAll()
	o.Logger = nil
	pid, err := s.run(ctx, supConfig{Options: o, Path: path, Identity: id, Env: env})
	if err != nil {
		return 0, launch.Clear(pf, err)
	}
	return pid, nil
}

// supStart is Launch's side of starting a supervisor.
type supStart struct {
	o       Options
	pf      *pidlock.File
	closers []io.Closer
	out     *os.File // the output file, if any
	outFrom int64
	cmd     *exec.Cmd
	pidfd   int // of the supervisor
	program int // the command's PID, once reported
}

func (s *supStart) closeAll() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i].Close()
	}
	s.closers = nil
}

// run starts the supervisor and talks to it until the command is ready or
// the start failed.
func (s *supStart) run(ctx context.Context, cfg supConfig) (int, error) {
	mine, err := s.startSupervisor(cfg)
	if err != nil {
		return 0, fmt.Errorf("start %s: supervisor: %w", s.o.Command, err)
	}
	defer context.AfterFunc(ctx, func() { mine.SetDeadline(time.Now()) })()
	if err := json.NewEncoder(mine).Encode(cfg); err != nil {
		return 0, s.lost(ctx, mine, err)
	}
	dec := json.NewDecoder(mine)
	for {
		var m supReport
		if err := dec.Decode(&m); err != nil {
			return 0, s.lost(ctx, mine, err)
		}
		switch {
		case m.Started != 0:
			s.program = m.Started
			s.o.Logger.Debug("started", "command", s.o.Command, "pid", m.Started, "supervisor", s.cmd.Process.Pid, "pid_file", s.o.PIDFile)
		case m.Failed != nil:
			s.end(false)
			return 0, m.Failed.error()
		case m.Ready != 0:
			return s.ready(ctx, mine)
		}
	}
}

// startSupervisor starts the supervisor and returns our end of its socket.
func (s *supStart) startSupervisor(cfg supConfig) (*os.File, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	out := devnull
	if s.o.Output != "" {
		uid, gid := -1, -1
		if c := cfg.Identity.Cred; c != nil {
			uid, gid = int(c.Uid), int(c.Gid)
		}
		if s.out, err = launch.OpenOutput("output file", s.o.Output, uid, gid); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.out)
		if st, err := s.out.Stat(); err == nil {
			s.outFrom = st.Size()
		}
		out = s.out
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// Ours non-blocking, so that deadlines (and ctx) bound every wait on it.
	unix.SetNonblock(fds[0], true)
	mine, theirs := os.NewFile(uintptr(fds[0]), "supervisor channel"), os.NewFile(uintptr(fds[1]), "supervisor channel")
	s.closers = append(s.closers, mine)
	defer theirs.Close()
	s.cmd = &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{supervisorArgv0, s.o.PIDFile, s.o.Command},
		Env:         []string{fmt.Sprintf("%s=%d:%d", superviseEnv, s.pf.Dev(), s.pf.Ino())},
		Dir:         "/",
		Stdin:       devnull,
		Stdout:      out,
		Stderr:      out,
		ExtraFiles:  []*os.File{s.pf.File(), theirs},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	fdutil.CloseOnExecFrom(3) // pass on nothing we inherited by accident
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	// Our unreaped child: its PID cannot be reused.
	if s.pidfd, err = unix.PidfdOpen(s.cmd.Process.Pid, 0); err != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		return nil, fmt.Errorf("pidfd_open(%d): %w", s.cmd.Process.Pid, err)
	}
	s.closers = append(s.closers, closerFunc(func() error { return unix.Close(s.pidfd) }))
	return mine, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ready completes the start: the PID file names the supervisor, which is
// checked to be alive, then told to go on.
func (s *supStart) ready(ctx context.Context, mine *os.File) (int, error) {
	pid := s.cmd.Process.Pid
	err := s.pf.WritePID(pid)
	if err == nil && s.exitedWithin(0) {
		err = fmt.Errorf("%w: its supervisor (pid %d) had exited by the time its PID was written", ErrExited, pid)
	}
	if err == nil {
		err = json.NewEncoder(mine).Encode(supAck{Ack: true})
	}
	if err != nil {
		return 0, s.lost(ctx, mine, err)
	}
	mine.Close() // the supervisor sees the acknowledgement, then EOF
	s.cmd.Process.Release()
	s.o.Logger.Debug("ready", "pid", pid, "command_pid", s.program, "pid_file", s.o.PIDFile)
	return pid, nil
}

// lost ends a start whose conversation with the supervisor broke off: ctx
// ended (the supervisor is told by the socket closing, and kills the
// command), or the supervisor died. It waits for the supervisor to exit
// (killing it if it does not), and reports the start as failed.
func (s *supStart) lost(ctx context.Context, mine *os.File, cause error) error {
	mine.Close()
	state := s.end(true)
	pid := s.program
	if pid == 0 {
		pid = s.cmd.Process.Pid
	}
	f := &Error{Command: s.o.Command, PID: pid, Killed: true, Output: launch.Tail(s.out, s.outFrom, s.o.TailLines)}
	switch {
	case ctx.Err() != nil:
		f.Err = fmt.Errorf("%w (%w)", ErrNotReady, context.Cause(ctx))
	case state != nil && !errors.Is(cause, io.EOF) && !errors.Is(cause, io.ErrUnexpectedEOF):
		f.Err = fmt.Errorf("%w: its supervisor (pid %d) ended (%v): %v", ErrExited, s.cmd.Process.Pid, state, cause)
	case state != nil:
		f.Err = fmt.Errorf("%w: its supervisor (pid %d) ended (%v)", ErrExited, s.cmd.Process.Pid, state)
	default:
		f.Err = fmt.Errorf("supervisor (pid %d): %w", s.cmd.Process.Pid, cause)
	}
	return f
}

// end waits for the supervisor to exit, at most supEndGrace (if soon, at
// once), kills it if it has not, reaps it, and returns how it ended.
func (s *supStart) end(soon bool) *os.ProcessState {
	grace := supEndGrace
	if !soon {
		grace = 2 * supEndGrace
	}
	if !s.exitedWithin(grace) {
		unix.PidfdSendSignal(s.pidfd, unix.SIGKILL, nil, 0)
	}
	s.cmd.Wait()
	return s.cmd.ProcessState
}

// exitedWithin reports whether the supervisor exits within d.
func (s *supStart) exitedWithin(d time.Duration) bool {
	pfd := []unix.PollFd{{Fd: int32(s.pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		ms := int(max(time.Until(deadline).Milliseconds()+1, 0))
		n, err := unix.Poll(pfd, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}
