package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/fdutil"
	"github.com/daemonkit/daemonkit/internal/ident"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// umaskMu serialises the umask switch around fork among concurrent starts:
// Go cannot set a umask in the child alone, so [Start] sets the process's
// around the fork and restores it at once.
var umaskMu sync.Mutex

// Spec says how to start a daemon.
type Spec struct {
	Path     string         // the binary, absolute
	Args     []string       // argv, argv[0] included
	Env      []string       // see [Environ]
	Dir      string         // working directory, entered after switching user
	Identity ident.Identity // user, group and groups; zero keeps ours
	Umask    int            // file mode creation mask
	Output   *os.File       // stdout and stderr; nil is /dev/null
	PIDFile  *pidlock.File  // locked by the caller; required
	// Upgrade says the PID file names a daemon that keeps running if this
	// start fails (the next generation of a running daemon): [Run] then
	// leaves the file as it is instead of clearing it.
	Upgrade bool
	Files   []*os.File // descriptors 4, 5, …; nil leaves a number unused
	// TailLines is how many lines of Output a [*Failure] quotes: 0 means
	// 10, negative none.
	TailLines int
	// Limits are applied in the daemon, after the switch to Identity,
	// just before its program runs (so raising a hard limit needs the
	// privilege in the new identity).
	Limits Limits
	// AmbientCaps are capabilities the daemon keeps, as ambient ones,
	// across the switch to Identity and its exec (see [ParseCap]).
	AmbientCaps []uintptr
	// Supervised starts a program for a supervisor that holds the PID
	// file's lock itself (see [RunSupervised]): PIDFile may be nil and is
	// never inherited, descriptor [PIDFileFD] stays closed, and the
	// program is killed when the thread that started it ends.
	Supervised bool
}

// Proc is a started daemon that is not yet ready. It is our unreaped child
// until [Proc.Fail] or [Proc.Detach], so its PID and process group ID
// cannot be reused. A Proc is not safe for concurrent use.
type Proc struct {
	cmd     *exec.Cmd
	pidfd   int
	output  *os.File
	outFrom int64
	tail    int
}

// Start starts a daemon as s says: see the package documentation.
func Start(s Spec) (*Proc, error) {
	if s.PIDFile == nil && !s.Supervised {
		return nil, errors.New("launch: Spec.PIDFile is required")
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	p := &Proc{output: s.Output, pidfd: -1, tail: s.TailLines}
	if p.tail == 0 {
		p.tail = 10
	}
	out := devnull
	if s.Output != nil {
		out = s.Output
		if st, err := s.Output.Stat(); err == nil {
			p.outFrom = st.Size()
		}
	}
	path, env, err := shimmed(s)
	if err != nil {
		return nil, err
	}
	p.cmd = &exec.Cmd{
		Path: path, Args: s.Args, Env: env, Dir: s.Dir,
		Stdin: devnull, Stdout: out, Stderr: out,
		ExtraFiles:  s.extraFiles(),
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Credential: s.Identity.Cred, AmbientCaps: s.AmbientCaps, Pdeathsig: s.pdeathsig()},
	}
	fdutil.CloseOnExecFrom(3) // pass on nothing we inherited by accident
	umaskMu.Lock()
	old := unix.Umask(s.Umask)
	err = p.cmd.Start()
	unix.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, startError(s, err)
	}
	if p.pidfd, err = unix.PidfdOpen(p.cmd.Process.Pid, 0); err != nil {
		f := p.Fail("daemon", fmt.Errorf("pidfd_open(%d): %w", p.cmd.Process.Pid, err))
		return nil, f
	}
	return p, nil
}

// PID returns the daemon's process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Pidfd returns a pidfd of the daemon, valid until [Proc.Fail] or
// [Proc.Detach]; it is readable once the daemon has exited.
func (p *Proc) Pidfd() int { return p.pidfd }

// ExitedWithin reports whether the daemon exits within d (0: has it
// exited?), without reaping it.
func (p *Proc) ExitedWithin(d time.Duration) bool {
	pfd := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		ms := 0
		if d < 0 {
			ms = -1
		} else if left := time.Until(deadline); left > 0 {
			ms = int(left.Milliseconds()) + 1
		}
		n, err := unix.Poll(pfd, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// Fail ends a start that failed: the one kill-group-and-reap path. It sends
// SIGKILL to the daemon's process group and the daemon (the group ID is
// the daemon's PID, which cannot be reused while it is our unreaped
// child), waits until it has exited, kills what it left in its group once
// more, reaps it, and returns the [*Failure] for why, with its exit status
// and the tail of its output.
func (p *Proc) Fail(command string, why error) *Failure {
	pid := p.cmd.Process.Pid
	f := &Failure{Command: command, PID: pid, Err: why}
	f.Killed = !p.ExitedWithin(0)
	unix.Kill(-pid, unix.SIGKILL)
	unix.Kill(pid, unix.SIGKILL)
	if p.pidfd >= 0 {
		p.ExitedWithin(-1)
	}
	unix.Kill(-pid, unix.SIGKILL) // the zombie still holds the group ID
	p.cmd.Wait()
	f.ProcessState = p.cmd.ProcessState
	p.closePidfd()
	f.Output = Tail(p.output, p.outFrom, p.tail)
	return f
}

// Detach gives up the daemon once it is ready: nothing more is done to it
// but, if the caller lives on, [Proc.Wait] to reap it. A caller that does
// not call Wait hands the daemon to init when it exits.
func (p *Proc) Detach() { p.closePidfd() }

// Wait reaps the daemon after [Proc.Detach], once it exits.
func (p *Proc) Wait() (*os.ProcessState, error) {
	err := p.cmd.Wait()
	return p.cmd.ProcessState, err
}

func (p *Proc) closePidfd() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}
