package reexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/fdutil"
	"github.com/daemonkit/daemonkit/lockfile"
)

// The descriptors of the daemon stage.
const (
	ChannelFD   = 3 // the ready channel
	PIDFileFD   = 4 // the locked PID file
	CrashFD     = 5 // the crash pipe
	FirstFileFD = 6 // the first named file
)

// EnvVar marks the daemon stage: "daemon:" and a random token.
const EnvVar = "DAEMONKIT_STAGE"

const markerPrefix = "daemon:"

// ErrNoLauncher: the marker is set, but this process was not started by a
// daemonkit launcher (no valid ready channel, or a token mismatch).
var ErrNoLauncher = errors.New("not started by a daemonkit launcher")

// Marked reports whether the environment carries the daemon-stage marker.
// Only [Adopt] decides whether it is genuine.
func Marked() bool {
	_, ok := os.LookupEnv(EnvVar)
	return ok
}

// NamedFile is a file or socket handed to the daemon stage by name.
type NamedFile struct {
	Name string
	File *os.File
}

// Spec says how to start the daemon stage.
type Spec struct {
	Path       string              // binary; default /proc/self/exe
	Args       []string            // argv including argv[0]; default os.Args
	Env        []string            // environment; default os.Environ(); the marker is replaced
	Dir        string              // working directory; default "/"
	Credential *syscall.Credential // user, group and groups; nil keeps ours
	Output     *os.File            // stdout and stderr; nil is /dev/null; readable for the failure report
	LogFile    string              // Output's absolute path, told to the daemon for reopening it
	PIDFile    *lockfile.File      // locked by the launcher; required
	Files      []NamedFile         // handed over by name
	Umask      int                 // applied by the daemon before its hooks
}

// Child is a daemon stage started by [Spawn], seen from the launcher.
type Child struct {
	cmd      *exec.Cmd
	conn     *net.UnixConn
	zombie   chan struct{} // closed when the daemon stage exited (not yet reaped)
	release  chan struct{} // closed to let it be reaped
	mu       sync.Mutex    // guards released and done
	released bool          // release is closed: the daemon may be reaped any time
	done     bool          // WaitReady failed, Ack or Abort was called
	exited   chan struct{} // closed when cmd.Wait returned (reaped)
	waitErr  error
	crash    bytes.Buffer
	crashEOF chan struct{}
	output   *os.File
	outStart int64
}

// Spawn starts the daemon stage: a new session, the descriptors described
// in the package documentation, and a HELLO on the ready channel. Every
// other descriptor of the calling process is marked close-on-exec first,
// so that nothing the launcher inherited reaches the daemon.
func Spawn(spec Spec) (*Child, error) {
	if spec.PIDFile == nil {
		return nil, errors.New("reexec: Spec.PIDFile is required")
	}
	tokenBytes := make([]byte, 16)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ready channel: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ready-channel"), os.NewFile(uintptr(fds[1]), "ready-channel")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("ready channel: %w", err)
	}
	conn := fc.(*net.UnixConn)
	crashR, crashW, err := os.Pipe()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("crash pipe: %w", err)
	}
	defer crashW.Close()

	hello := HelloData{
		Token:   token,
		PIDFile: spec.PIDFile.Path(),
		Dev:     spec.PIDFile.Dev(),
		Ino:     spec.PIDFile.Ino(),
		Umask:   spec.Umask,
		LogFile: spec.LogFile,
	}
	extra := []*os.File{theirs, spec.PIDFile.File(), crashW}
	for _, f := range spec.Files {
		hello.Files = append(hello.Files, f.Name)
		extra = append(extra, f.File)
	}

	path, args, env, dir := spec.Path, spec.Args, spec.Env, spec.Dir
	if path == "" {
		path = "/proc/self/exe"
	}
	if args == nil {
		args = os.Args
	}
	if env == nil {
		env = os.Environ()
	}
	if dir == "" {
		dir = "/"
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        append(withoutMarker(env), EnvVar+"="+markerPrefix+token),
		Dir:        dir,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: spec.Credential,
		},
	}
	c := &Child{cmd: cmd, conn: conn, zombie: make(chan struct{}), release: make(chan struct{}),
		exited: make(chan struct{}), crashEOF: make(chan struct{}), output: spec.Output}
	if spec.Output != nil {
		cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
		if off, err := spec.Output.Seek(0, io.SeekEnd); err == nil {
			c.outStart = off
		}
	}
	fdutil.CloseOnExecFrom(3) // pass on nothing we inherited by accident
	if err := cmd.Start(); err != nil {
		conn.Close()
		crashR.Close()
		return nil, fmt.Errorf("starting daemon stage %s: %w", path, err)
	}
	go func() {
		// Notice the exit without reaping: while the zombie holds its PID,
		// the daemon's process group ID cannot be reused, so a failed
		// start can still kill what the daemon left in its group.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		close(c.zombie)
		<-c.release
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		io.Copy(&limitedWriter{&c.crash, MaxMessage}, crashR)
		crashR.Close()
		close(c.crashEOF)
	}()
	b, _ := json.Marshal(hello)
	if _, err := conn.Write(Message{Kind: Hello, Payload: b}.Encode()); err != nil {
		c.Abort()
		return nil, fmt.Errorf("ready channel: sending hello to pid %d: %w", cmd.Process.Pid, err)
	}
	return c, nil
}

func withoutMarker(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvVar+"=") {
			out = append(out, kv)
		}
	}
	return out
}

type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// PID returns the daemon's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Failure is why a daemon stage did not become ready.
type Failure struct {
	PID     int
	Reason  string // "failed to start", "exited before it was ready", "did not become ready: …", "sent a malformed message", …
	Message string // the daemon's own error message, if it sent one
	Exit    string // "exit status 3", "signal: killed", … if it exited
	Crash   string // the Go runtime's fatal output (unrecovered panic), if any
	Output  string // the last lines the daemon wrote to its log file, if any
	Err     error  // the underlying cause, for errors.Is
}

// Error says why the daemon stage did not become ready: its PID, the
// reason, its own message, its exit status, and what it left behind
// (runtime crash output, the last lines of its log).
func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "daemon (pid %d) %s", f.PID, f.Reason)
	if f.Message != "" {
		fmt.Fprintf(&b, ": %s", f.Message)
	}
	if f.Exit != "" {
		fmt.Fprintf(&b, " (%s)", f.Exit)
	}
	if f.Crash != "" {
		fmt.Fprintf(&b, "\n%s", strings.TrimRight(f.Crash, "\n"))
	}
	if f.Output != "" {
		fmt.Fprintf(&b, "\nlast lines of its output:\n%s", strings.TrimRight(f.Output, "\n"))
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (f *Failure) Unwrap() error { return f.Err }

// WaitReady waits until the daemon reports READY (nil), reports an error,
// exits, or ctx is done. On any failure the daemon has been killed and
// reaped, and a [*Failure] says why.
func (c *Child) WaitReady(ctx context.Context) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done {
		return fmt.Errorf("reexec: WaitReady for pid %d after the launch was acknowledged or aborted", c.PID())
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	f := &Failure{PID: c.PID()}
	buf := make([]byte, MaxMessage+1)
	kill := false
read:
	for {
		n, err := c.conn.Read(buf)
		if err != nil && ctx.Err() != nil {
			f.Err, kill = context.Cause(ctx), true
			f.Reason = "did not become ready: " + f.Err.Error()
			break
		}
		if err != nil || n == 0 { // EOF: it closed the channel or exited
			if f.Message != "" {
				f.Reason = "failed to start"
			} else {
				f.Reason, f.Err = "exited before it was ready", io.ErrUnexpectedEOF
			}
			break
		}
		m, err := ParseMessage(buf[:n])
		switch {
		case err != nil:
			f.Reason, f.Err, kill = "sent a malformed message", err, true
			break read
		case m.Kind == Ready:
			return nil
		case m.Kind == Error:
			f.Message = string(m.Payload)
			f.Err = errors.New(f.Message)
		default:
			f.Reason, f.Err, kill = "sent an unexpected "+string(m.Kind), ErrBadMessage, true
			break read
		}
	}
	if kill {
		c.kill()
	}
	c.finish(f)
	return f
}

// finish makes sure the child is gone and fills in what it left behind.
func (c *Child) finish(f *Failure) {
	c.finishOnce()
	select {
	case <-c.zombie:
	case <-time.After(5 * time.Second):
		c.kill()
		<-c.zombie
	}
	c.reap()
	if c.waitErr != nil {
		f.Exit = c.waitErr.Error()
	} else {
		f.Exit = "exit status 0"
	}
	select {
	case <-c.crashEOF: // the child is gone, so this comes at once
	case <-time.After(time.Second):
	}
	f.Crash = c.crash.String()
	f.Output = c.outputTail(10)
	c.conn.Close()
}

// outputTail returns at most nlines last lines the daemon wrote to its
// output file since it was spawned.
func (c *Child) outputTail(nlines int) string {
	if c.output == nil {
		return ""
	}
	st, err := c.output.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= c.outStart {
		return ""
	}
	from := max(c.outStart, st.Size()-4096)
	b := make([]byte, st.Size()-from)
	n, _ := c.output.ReadAt(b, from)
	lines := strings.Split(strings.TrimRight(string(b[:n]), "\n"), "\n")
	if from > c.outStart && len(lines) > 1 {
		lines = lines[1:] // partial first line
	}
	return strings.Join(lines[max(0, len(lines)-nlines):], "\n")
}

// Ack tells the daemon that its PID has been written, and closes the channel.
//
// After Ack the daemon is on its own: a goroutine of ours reaps it when it
// exits (if this process lives that long), and Abort does nothing.
func (c *Child) Ack() error {
	if !c.finishOnce() {
		return fmt.Errorf("reexec: Ack for pid %d after the launch was acknowledged or aborted", c.PID())
	}
	defer c.conn.Close()
	c.releaseReap() // a ready daemon is reaped as usual
	if _, err := c.conn.Write(Message{Kind: Ack}.Encode()); err != nil {
		return fmt.Errorf("ready channel: acknowledging pid %d: %w", c.PID(), err)
	}
	return nil
}

// Abort kills the daemon stage and its process group and waits for it. It
// does nothing after [Child.Ack], after a failed [Child.WaitReady] (which
// already did this) or a second time.
func (c *Child) Abort() {
	if !c.finishOnce() {
		return
	}
	c.kill()
	<-c.zombie
	c.reap()
	c.conn.Close()
}

// finishOnce marks the launch as settled; it reports false if it already was.
func (c *Child) finishOnce() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.done = true
	return true
}

// reap ends whatever the exited daemon stage left in its process group (a
// PostDetach hook's worker, say), then reaps it.
func (c *Child) reap() {
	c.killGroup()
	c.releaseReap()
	<-c.exited
}

// releaseReap lets the wait goroutine reap the daemon stage. From then on
// its PID (and group ID) may be reused, so nothing is signalled any more.
func (c *Child) releaseReap() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.released = true
		close(c.release)
	}
}

// kill sends SIGKILL to the daemon stage and to its process group (it is
// a session and group leader, so the group's ID is its PID, which cannot be
// reused while the group has members or the leader is unreaped).
func (c *Child) kill() {
	c.killGroup()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.cmd.Process.Kill()
	}
}

// killGroup sends SIGKILL to the daemon's process group, as long as the
// daemon stage is not released for reaping: until then its PID, and so the
// group ID, cannot have been reused.
func (c *Child) killGroup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pid := c.cmd.Process.Pid; pid > 1 && !c.released {
		unix.Kill(-pid, unix.SIGKILL)
	}
}

// Stage is the daemon stage's side of the launch: what it inherited.
type Stage struct {
	PIDFile *lockfile.File
	Files   map[string]*os.File
	LogFile string // the log file's absolute path, if the launcher gave one
	ch      channel
	crash   *os.File
}

// channel is the daemon's end of the ready channel, used with blocking
// syscalls.
type channel int

// write sends one message; MSG_NOSIGNAL turns a vanished launcher into
// EPIPE instead of SIGPIPE.
func (c channel) write(m Message) error {
	return unix.Sendto(int(c), m.Encode(), unix.MSG_NOSIGNAL, nil)
}

// read reads one message, waiting at most d. It returns 0 at EOF.
func (c channel) read(buf []byte, d time.Duration) (int, error) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(int(c), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, err
	}
	for {
		n, err := unix.Read(int(c), buf)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

func (c channel) close() { unix.Close(int(c)) }

// Adopt verifies that this process is a daemon stage started by [Spawn] and
// takes over its descriptors. It must be called only when [Marked] is true.
// On success the marker is gone from the environment, the umask is the
// launcher's choice, all inherited descriptors are close-on-exec, and the Go
// runtime's fatal output also goes to the launcher until [Stage.Ready].
func Adopt() (*Stage, error) {
	marker := os.Getenv(EnvVar)
	os.Unsetenv(EnvVar)
	explain := func(format string, args ...any) error {
		return fmt.Errorf("%s is set, but %s: %w; it is internal to daemonkit, unset it and run the program again",
			EnvVar, fmt.Sprintf(format, args...), ErrNoLauncher)
	}
	token, ok := strings.CutPrefix(marker, markerPrefix)
	if !ok || len(token) != 32 {
		return nil, explain("its value %q is not a launcher token", truncate([]byte(marker), 40))
	}
	st, err := fdType(ChannelFD)
	if err != nil || st != unix.S_IFSOCK {
		return nil, explain("fd %d is not a ready channel", ChannelFD)
	}
	if t, err := unix.GetsockoptInt(ChannelFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_SEQPACKET {
		return nil, explain("fd %d is not a ready channel", ChannelFD)
	}
	unix.CloseOnExec(ChannelFD)
	// The daemon side uses plain blocking syscalls with SO_RCVTIMEO rather
	// than the runtime poller, so that a daemon which does no networking
	// has no descriptors but its own.
	ch := channel(ChannelFD)
	buf := make([]byte, MaxMessage+1)
	n, err := ch.read(buf, 10*time.Second)
	if err != nil || n == 0 {
		ch.close()
		return nil, explain("no hello on the ready channel (%v)", err)
	}
	m, err := ParseMessage(buf[:n])
	if err != nil || m.Kind != Hello {
		ch.close()
		return nil, explain("the ready channel did not start with a hello (%v)", err)
	}
	hello, err := ParseHello(m.Payload)
	if err != nil {
		ch.close()
		return nil, explain("%v", err)
	}
	if subtle.ConstantTimeCompare([]byte(hello.Token), []byte(token)) != 1 {
		ch.close()
		return nil, explain("its token does not match the launcher's")
	}
	setComm()
	s := &Stage{ch: ch, LogFile: hello.LogFile, Files: make(map[string]*os.File, len(hello.Files))}
	unix.Umask(hello.Umask)
	s.PIDFile, err = lockfile.Adopt(PIDFileFD, hello.PIDFile, hello.Dev, hello.Ino)
	if err != nil {
		s.Fail(err.Error())
		return nil, fmt.Errorf("adopting the pid file: %w", err)
	}
	unix.CloseOnExec(CrashFD)
	s.crash = os.NewFile(CrashFD, "crash-pipe")
	debug.SetCrashOutput(s.crash, debug.CrashOptions{})
	for i, name := range hello.Files {
		fd := FirstFileFD + i
		if _, err := fdType(fd); err != nil {
			err = fmt.Errorf("handed-over file %q: fd %d: %w", name, fd, err)
			s.Fail(err.Error())
			return nil, err
		}
		unix.CloseOnExec(fd)
		s.Files[name] = os.NewFile(uintptr(fd), name)
	}
	return s, nil
}

// setComm names the process after argv[0] again: executed as
// /proc/self/exe, it would show as "exe" to ps, top, pgrep and
// start-stop-daemon --name.
func setComm() {
	if len(os.Args) == 0 {
		return
	}
	name := filepath.Base(os.Args[0])
	if len(name) > 15 { // TASK_COMM_LEN - 1
		name = name[:15]
	}
	// Every thread has its own name (ps -L, top -H); threads created later
	// are cloned from these and inherit theirs.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		os.WriteFile("/proc/self/task/"+t.Name()+"/comm", []byte(name), 0)
	}
}

func fdType(fd int) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Mode & unix.S_IFMT, nil
}

// Fail reports a startup failure to the launcher, which prints msg.
func (s *Stage) Fail(msg string) error {
	if len(msg) > MaxMessage-len(Error)-1 {
		msg = msg[:MaxMessage-len(Error)-1]
	}
	return s.ch.write(Message{Kind: Error, Payload: []byte(msg)})
}

// Ready reports READY and waits up to ackTimeout for the launcher's ACK,
// which comes after the launcher wrote our PID. It returns false if no ACK
// came (the launcher died or hung): the caller must then write its own PID.
// Either way the channel is closed and the crash pipe released.
func (s *Stage) Ready(ackTimeout time.Duration) (acked bool) {
	debug.SetCrashOutput(nil, debug.CrashOptions{})
	s.crash.Close()
	defer s.ch.close()
	if err := s.ch.write(Message{Kind: Ready}); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, err := s.ch.read(buf, ackTimeout)
	if err != nil || n == 0 {
		return false
	}
	m, err := ParseMessage(buf[:n])
	return err == nil && m.Kind == Ack
}

// Close releases the channel without reporting anything (the launcher sees
// EOF and reports the exit status).
func (s *Stage) Close() { s.ch.close() }
