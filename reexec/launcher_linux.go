package reexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/ident"
	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/readych"
)

// This file is the launcher side of the ready channel: [Spawn] and [Child].

// Child is a daemon stage started by [Spawn], seen from the launcher.
type Child struct {
	proc     *launch.Proc
	conn     *net.UnixConn
	done     bool          // WaitReady failed, Ack or Abort was called
	exited   chan struct{} // closed when an acknowledged daemon was reaped
	state    *os.ProcessState
	crash    bytes.Buffer
	crashEOF chan struct{}
}

// Spawn starts the daemon stage (see [launch.Start] for the session,
// identity, umask, output and descriptors) and sends HELLO on the ready
// channel. Every other descriptor of the calling process is marked
// close-on-exec first, so that nothing the launcher inherited reaches the
// daemon.
func Spawn(spec Spec) (*Child, error) {
	if spec.PIDFile == nil {
		return nil, errors.New("reexec: Spec.PIDFile is required")
	}
	id, err := ident.Resolve(spec.User, spec.Group)
	if err != nil {
		return nil, err
	}
	tokenBytes := make([]byte, 16)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	conn, theirs, err := channelPair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	crashR, crashW, err := os.Pipe()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("crash pipe: %w", err)
	}
	defer crashW.Close()
	hello := readych.HelloData{Token: token, PIDFile: spec.PIDFile.Path(), Dev: spec.PIDFile.Dev(),
		Ino: spec.PIDFile.Ino(), LogFile: spec.LogFile}
	files := []*os.File{theirs, crashW} // readych.ChannelFD, readych.CrashFD
	for _, f := range spec.Files {
		hello.Files = append(hello.Files, f.Name)
		files = append(files, f.File)
	}
	s := launch.Spec{Path: spec.Path, Args: spec.Args, Dir: spec.Dir, Identity: id, Umask: spec.Umask,
		Output: spec.Output, PIDFile: spec.PIDFile, Files: files}
	if s.Path == "" {
		s.Path = "/proc/self/exe"
	}
	if s.Args == nil {
		s.Args = os.Args
	}
	if s.Dir == "" {
		s.Dir = "/"
	}
	env := spec.Env
	if env == nil {
		env = os.Environ()
	}
	s.Env = launch.Environ(withoutMarker(env), id, EnvVar+"="+markerPrefix+token)
	p, err := launch.Start(s)
	if err != nil {
		conn.Close()
		crashR.Close()
		return nil, err
	}
	c := &Child{proc: p, conn: conn, exited: make(chan struct{}), crashEOF: make(chan struct{})}
	go func() {
		io.Copy(&limitedWriter{&c.crash, readych.MaxMessage}, crashR)
		crashR.Close()
		close(c.crashEOF)
	}()
	b, _ := json.Marshal(hello)
	if _, err := conn.Write(readych.Message{Kind: readych.Hello, Payload: b}.Encode()); err != nil {
		c.Abort()
		return nil, fmt.Errorf("ready channel: sending hello to pid %d: %w", p.PID(), err)
	}
	return c, nil
}

// channelPair returns our end of a new ready channel and the daemon's.
func channelPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ready channel: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ready-channel"), os.NewFile(uintptr(fds[1]), "ready-channel")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, fmt.Errorf("ready channel: %w", err)
	}
	return fc.(*net.UnixConn), theirs, nil
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
func (c *Child) PID() int { return c.proc.PID() }

// WaitReady waits until the daemon reports READY (nil), reports an error,
// exits, or ctx is done. On any failure the daemon has been killed and
// reaped, and a failure shaped like [os/exec.ExitError] says why: its
// exit status or signal, its own message, its crash output and the tail
// of its output.
func (c *Child) WaitReady(ctx context.Context) error {
	if c.done {
		return fmt.Errorf("reexec: WaitReady for pid %d after the launch was acknowledged or aborted", c.PID())
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	why, msg := c.read(ctx)
	if why == nil {
		return nil
	}
	c.done = true
	if msg != "" || errors.Is(why, launch.ErrExited) {
		// It is exiting on its own: let it, for its exit status.
		c.proc.ExitedWithin(5 * time.Second)
	}
	f := c.proc.Fail("daemon", why)
	f.Message = msg
	select {
	case <-c.crashEOF: // the daemon is gone, so this comes at once
	case <-time.After(time.Second):
	}
	f.Crash = c.crash.String()
	c.conn.Close()
	return f
}

// read reads the ready channel until READY (nil) or a failure, which it
// returns with the daemon's own message, if it sent one.
func (c *Child) read(ctx context.Context) (why error, msg string) {
	buf := make([]byte, readych.MaxMessage+1)
	for {
		n, err := c.conn.Read(buf)
		if err != nil && ctx.Err() != nil {
			return launch.Reason("did not become ready: "+context.Cause(ctx).Error(), launch.ErrNotReady), msg
		}
		if err != nil || n == 0 { // EOF: it closed the channel or exited
			if msg != "" {
				return launch.Reason("failed to start", launch.ErrReportedFailure), msg
			}
			return launch.ErrExited, ""
		}
		m, err := readych.ParseMessage(buf[:n])
		switch {
		case err != nil:
			return fmt.Errorf("sent a malformed message: %w", err), msg
		case m.Kind == readych.Ready:
			return nil, ""
		case m.Kind == readych.Error:
			msg = string(m.Payload)
		default:
			return fmt.Errorf("sent an unexpected %s: %w", m.Kind, readych.ErrBadMessage), msg
		}
	}
}

// Ack tells the daemon that its PID has been written, and closes the channel.
//
// After Ack the daemon is on its own: a goroutine of ours reaps it when it
// exits (if this process lives that long), and Abort does nothing.
func (c *Child) Ack() error {
	if c.done {
		return fmt.Errorf("reexec: Ack for pid %d after the launch was acknowledged or aborted", c.PID())
	}
	c.done = true
	defer c.conn.Close()
	c.proc.Detach()
	go func() {
		c.state, _ = c.proc.Wait()
		close(c.exited)
	}()
	if _, err := c.conn.Write(readych.Message{Kind: readych.Ack}.Encode()); err != nil {
		return fmt.Errorf("ready channel: acknowledging pid %d: %w", c.PID(), err)
	}
	return nil
}

// Abort kills the daemon stage and its process group and reaps it. It does
// nothing after [Child.Ack], after a failed [Child.WaitReady] (which
// already did this) or a second time.
func (c *Child) Abort() {
	if c.done {
		return
	}
	c.done = true
	c.proc.Fail("daemon", errors.New("aborted"))
	c.conn.Close()
}
