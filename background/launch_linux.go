//go:build linux

package background

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/ident"
	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/internal/sdnotify"
)

// Launch starts opts.Command as a daemon (see the package documentation)
// and returns its PID once it is ready. The PID file then holds that PID and
// stays locked by the command. If the PID file is already locked, Launch
// returns the [*lockfile.LockedError] and starts nothing.
func Launch(ctx context.Context, opts Options) (int, error) {
	if err := opts.validate(); err != nil {
		return 0, err
	}
	o := opts.withDefaults()
	path, err := lookCommand(o.Command)
	if err != nil {
		return 0, err
	}
	id, env, err := identity(o)
	if err != nil {
		return 0, err
	}
	if err := launch.CheckDir("working directory", o.Dir); err != nil {
		return 0, err
	}
	if o.Respawn != nil {
		return launchSupervised(ctx, o, path, id, env)
	}

	pf, err := launch.Lock(o.PIDFile)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	l := &job{o: o, pf: pf}
	defer l.closeAll()
	return l.run(ctx, path, id, env)
}

// job holds the resources of one Launch call.
type job struct {
	o       Options
	pf      *pidlock.File
	closers []io.Closer
	p       *launch.Proc
	pidfd   int
	status  string
	notify  *notifySocket // for ReadyNotify
	readyR  *os.File      // for ReadyFD, and the write end the command gets
	readyW  *os.File
	watch   *watcher // nil when none runs
	// For a supervisor's start (see supervisor_linux.go): no PID file, no
	// watcher, the output already open, and onStart told the PID.
	supervised bool
	out        *os.File
	onStart    func(pid int)
}

func (l *job) closeAll() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i].Close()
	}
	l.closers = nil
}

// lookCommand resolves name like a shell: with a slash, relative to our
// working directory; otherwise through $PATH.
func lookCommand(name string) (string, error) {
	if strings.Contains(name, "/") {
		abs, err := filepath.Abs(name)
		if err != nil {
			return "", fmt.Errorf("command %s: %w", name, err)
		}
		return abs, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("command %s: %w (give a path or fix $PATH)", name, err)
	}
	return p, nil
}

// dropped reports whether k is a variable of the caller's that is never
// passed on: they speak of the caller's supervisor, not the command's.
func dropped(k string) bool {
	switch k {
	case "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC":
		return true
	}
	return false
}

// identity resolves User and Group into credentials (see internal/ident,
// whose rules the framework's launcher shares) and builds the environment
// (see [launch.Environ]).
func identity(o Options) (ident.Identity, []string, error) {
	env := make([]string, 0, len(os.Environ())+len(o.Env)+4)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !dropped(k) {
			env = append(env, kv)
		}
	}
	id, err := ident.Resolve(o.User, o.Group)
	if err != nil {
		return id, nil, fmt.Errorf("run %s: %w", o.Command, err)
	}
	return id, launch.Environ(env, id, o.Env...), nil
}

// run starts the command and waits until it is ready or has failed; on
// failure the PID file is cleared.
func (l *job) run(ctx context.Context, path string, id ident.Identity, env []string) (int, error) {
	spec, err := l.spec(path, id, env)
	if err != nil {
		return 0, launch.Clear(l.pf, err)
	}
	pid, err := launch.Run(ctx, spec, l.o.Command, l)
	return pid, l.named(err)
}

// named names the command in an error that is not already a [*Error].
func (l *job) named(err error) error {
	var f *Error
	if err != nil && !errors.As(err, &f) {
		err = fmt.Errorf("start %s: %w", l.o.Command, err)
	}
	return err
}

// spec says how to start the command: the launch.Spec, with the output
// file, notify socket or ready pipe the readiness needs (closed by
// closeAll).
func (l *job) spec(path string, id ident.Identity, env []string) (launch.Spec, error) {
	o := l.o
	limits, err := o.limits() // checked by validate
	if err != nil {
		return launch.Spec{}, err
	}
	caps, err := o.caps()
	if err != nil {
		return launch.Spec{}, err
	}
	spec := launch.Spec{Path: path, Args: append([]string{o.Command}, o.Args...), Dir: o.Dir,
		Identity: id, Umask: int(o.Umask), PIDFile: l.pf, TailLines: o.TailLines, Limits: limits, AmbientCaps: caps,
		Supervised: l.supervised, Output: l.out}
	if o.Output != "" && l.out == nil {
		uid, gid := -1, -1
		if id.Cred != nil {
			uid, gid = int(id.Cred.Uid), int(id.Cred.Gid)
		}
		out, err := launch.OpenOutput("output file", o.Output, uid, gid)
		if err != nil {
			return spec, err
		}
		l.closers = append(l.closers, out)
		spec.Output = out
	}
	switch o.Readiness {
	case ReadyNotify:
		ns, err := newNotifySocket()
		if err != nil {
			return spec, err
		}
		l.notify = ns
		l.closers = append(l.closers, ns)
		env = launch.MergeEnv(env, "NOTIFY_SOCKET="+ns.addr)
	case ReadyFD:
		r, w, err := os.Pipe()
		if err != nil {
			return spec, fmt.Errorf("ready pipe: %w", err)
		}
		l.readyR, l.readyW = r, w
		l.closers = append(l.closers, r, w)
		spec.Files = make([]*os.File, o.ReadyFD-launch.PIDFileFD)
		spec.Files[len(spec.Files)-1] = w
	}
	spec.Env = env
	return spec, nil
}

// Wait is the readiness strategy of daemonctl start --background (see
// [launch.Readiness]): it starts the watcher, then waits as
// Options.Readiness says.
func (l *job) Wait(ctx context.Context, p *launch.Proc) (int, error) {
	l.p, l.pidfd = p, p.Pidfd()
	l.o.Logger.Debug("started", "command", l.o.Command, "pid", p.PID(), "pid_file", l.o.PIDFile, "readiness", l.o.Readiness.String())
	if l.readyW != nil {
		l.readyW.Close() // ours must go so that EOF can be seen
	}
	if l.onStart != nil {
		l.onStart(p.PID())
	}
	if !l.supervised {
		l.startWatcher(l.pidfd) // a supervisor watches its program itself
	}
	return l.wait(ctx, l.notify, l.readyR)
}

// Written checks that the daemon is still alive once its PID is written,
// and ends the watcher: ready means alive when the PID is written; a
// command (or MAINPID) that is already gone is reported, never "started".
// One that dies a moment later died after it was ready; its PID file then
// shows it as stale.
func (l *job) Written(_ *launch.Proc, pid int) error {
	if err := l.checkAlive(pid); err != nil {
		return err
	}
	l.stopWatcher(true)
	l.o.Logger.Debug("ready", "pid", pid, "pid_file", l.o.PIDFile)
	return nil
}

// Failed adds the last STATUS= to f and ends the watcher.
func (l *job) Failed(f *launch.Failure) {
	f.Status = l.status
	l.stopWatcher(false)
}

// wait runs the readiness strategy and returns the PID to write: the
// command's, or the MAINPID= it named.
func (l *job) wait(ctx context.Context, notify *notifySocket, readyR *os.File) (int, error) {
	mainPID := l.p.PID()
	var err error
	switch l.o.Readiness {
	case ReadyExec:
		err = l.waitSettled(ctx)
	case ReadyNotify:
		mainPID, err = l.waitNotify(ctx, notify)
	case ReadyFD:
		err = l.waitReadyFD(ctx, readyR)
	}
	return mainPID, err
}

// pollFDs waits until one of fds is readable, the pidfd says the child
// exited, the deadline passes or ctx is done. It returns the index in fds of
// a readable descriptor, or -1 when the child exited.
func (l *job) pollFDs(ctx context.Context, deadline time.Time, fds ...int) (int, error) {
	// A pipe that becomes readable when ctx is done, so that one poll(2)
	// waits for everything without a goroutine per source.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	stop := context.AfterFunc(ctx, func() { unix.Write(p[1], []byte{0}) })
	defer stop()

	pfds := []unix.PollFd{{Fd: int32(l.pidfd), Events: unix.POLLIN}, {Fd: int32(p[0]), Events: unix.POLLIN}}
	for _, fd := range fds {
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, ErrNotReady
		}
		ms := int(min(wait.Milliseconds()+1, 1<<30))
		n, err := unix.Poll(pfds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("poll: %w", err)
		}
		if n == 0 {
			continue
		}
		if pfds[1].Revents != 0 {
			return 0, fmt.Errorf("%w (%w)", ErrNotReady, context.Cause(ctx))
		}
		for i := range fds {
			if pfds[2+i].Revents != 0 {
				return i, nil
			}
		}
		if pfds[0].Revents != 0 {
			return -1, nil
		}
	}
}

// waitReadyFD waits for a newline on the ready pipe.
func (l *job) waitReadyFD(ctx context.Context, r *os.File) error {
	deadline := time.Now().Add(l.o.ReadyTimeout)
	buf := make([]byte, 512)
	for {
		i, err := l.pollFDs(ctx, deadline, int(r.Fd()))
		if err != nil {
			return err
		}
		if i < 0 {
			return ErrExited
		}
		n, err := unix.Read(int(r.Fd()), buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading ready fd: %w", err)
		}
		if n == 0 {
			// EOF: the command (or all that had the pipe) closed it
			// without a newline. If the command is exiting, say so.
			if l.exitedWithin(200 * time.Millisecond) {
				return ErrExited
			}
			return fmt.Errorf("%w: closed ready fd %d without writing a newline", ErrReportedFailure, l.o.ReadyFD)
		}
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			return nil
		}
	}
}

// exitedWithin reports whether the command exits within d.
func (l *job) exitedWithin(d time.Duration) bool { return l.p.ExitedWithin(d) }

// waitNotify waits for READY=1 from the command's process tree and returns
// the daemon's PID (MAINPID= if it names the command or a descendant).
func (l *job) waitNotify(ctx context.Context, ns *notifySocket) (int, error) {
	pid := l.p.PID()
	mainPID := pid
	deadline := time.Now().Add(l.o.ReadyTimeout)
	for {
		i, err := l.pollFDs(ctx, deadline, ns.fd)
		if err != nil {
			return 0, err
		}
		if i < 0 {
			return 0, ErrExited
		}
		for {
			msg, sender, err := ns.recv()
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				l.o.Logger.Warn("notify socket: "+err.Error(), "pid_file", l.o.PIDFile)
				continue
			}
			if sender != pid && !isDescendant(sender, pid) {
				l.warnForeign(ns, sender)
				continue
			}
			n, err := sdnotify.Parse(msg)
			if err != nil {
				l.o.Logger.Warn("ignoring notification: "+err.Error(), "sender", sender, "pid_file", l.o.PIDFile)
				continue
			}
			if n.Status != "" {
				l.status = n.Status
				l.o.Logger.Info("status: "+n.Status, "pid", pid, "pid_file", l.o.PIDFile)
			}
			if n.MainPID != 0 {
				if n.MainPID == pid || isDescendant(n.MainPID, pid) {
					mainPID = n.MainPID
				} else {
					l.o.Logger.Warn("ignoring MAINPID outside the daemon's tree", "mainpid", n.MainPID, "pid", pid)
				}
			}
			if n.HasErrno {
				return 0, fmt.Errorf("%w: ERRNO=%d (%v)", ErrReportedFailure, n.Errno, syscall.Errno(n.Errno))
			}
			if n.HasExtendTimeout {
				if d := time.Now().Add(n.ExtendTimeout); d.After(deadline) {
					deadline = d
				}
			}
			if n.Ready {
				return mainPID, nil
			}
		}
	}
}

// warnForeign logs a datagram from outside the command's tree, once per
// sender (a flood from one sender is one line).
func (l *job) warnForeign(ns *notifySocket, sender int) {
	first, last := ns.firstFrom(sender)
	if !first {
		return
	}
	msg := "ignoring notifications from a process outside the daemon's tree (logged once per sender)"
	if last {
		msg = fmt.Sprintf("ignoring notifications from a process outside the daemon's tree; %d senders were logged, further ones are not", maxWarnedSenders)
	}
	l.o.Logger.Warn(msg, "sender", sender, "pid", l.p.PID(), "pid_file", l.o.PIDFile)
}

// isDescendant reports whether pid is a descendant of ancestor.
func isDescendant(pid, ancestor int) bool { return procfs.IsDescendant(pid, ancestor) }

// notifySocket is a private sd_notify socket in Linux's abstract socket
// namespace: it has no file, so nothing is left behind however the caller
// ends (even by SIGKILL), and nothing can be planted in a shared directory.
// Abstract sockets have no permissions, and their names are listed in
// /proc/net/unix: the name is random (128 bits) only so that two launches
// never collide; what keeps others out is that only datagrams whose
// kernel-checked sender (SCM_CREDENTIALS) is the command or one of its
// descendants count.
type notifySocket struct {
	addr string // "@daemonctl-notify-<hex>", the NOTIFY_SOCKET value
	fd   int
	// warned holds the foreign senders already logged, at most
	// maxWarnedSenders of them.
	warned map[int]bool
	full   bool // the warning that further senders go unlogged was given
}

// maxWarnedSenders bounds the memory spent on remembering which foreign
// senders were already logged.
const maxWarnedSenders = 64

// newNotifySocket binds a datagram socket under a random abstract name that
// receives the sender's credentials.
func newNotifySocket() (*notifySocket, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("notify socket: random name: %w", err)
	}
	ns := &notifySocket{addr: "@daemonctl-notify-" + hex.EncodeToString(rnd[:]), fd: -1, warned: map[int]bool{}}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	ns.fd = fd
	// Go binds a name starting with '@' in the abstract namespace.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: ns.addr}); err != nil {
		ns.Close()
		return nil, fmt.Errorf("notify socket %s: bind: %w", ns.addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		ns.Close()
		return nil, fmt.Errorf("notify socket %s: SO_PASSCRED: %w", ns.addr, err)
	}
	return ns, nil
}

// firstFrom reports whether sender was not warned about before, and
// remembers it while there is room. Once maxWarnedSenders are remembered,
// the next new sender is reported once more with last set (for a warning
// saying that further senders go unlogged), and none after that.
func (ns *notifySocket) firstFrom(sender int) (first, last bool) {
	switch {
	case ns.warned[sender] || ns.full:
		return false, false
	case len(ns.warned) < maxWarnedSenders:
		ns.warned[sender] = true
		return true, false
	}
	ns.full = true
	return true, true
}

// recv reads one datagram without blocking and returns it with the PID of
// its sender (0 if the kernel attached no credentials).
func (ns *notifySocket) recv() ([]byte, int, error) {
	buf := make([]byte, sdnotify.MaxSize+1)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)*4)
	n, oobn, flags, _, err := unix.Recvmsg(ns.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, 0, err
	}
	if flags&unix.MSG_TRUNC != 0 {
		return nil, 0, fmt.Errorf("datagram longer than %d bytes", sdnotify.MaxSize)
	}
	sender := 0
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_CREDENTIALS {
			if uc, err := unix.ParseUnixCredentials(&m); err == nil {
				sender = int(uc.Pid)
			}
		}
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			// Passed descriptors (FDSTORE=) are not kept: close them.
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	return buf[:n], sender, nil
}

// Close closes the socket, which frees its name.
func (ns *notifySocket) Close() error {
	if ns.fd >= 0 {
		unix.Close(ns.fd)
		ns.fd = -1
	}
	return nil
}
