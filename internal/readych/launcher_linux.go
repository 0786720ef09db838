package readych

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
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// Channel is the launcher's end of the ready channel to a daemon stage: the
// framework's [launch.Readiness]. It sends HELLO, waits for READY or ERROR,
// and answers ACK once the PID is written; on failure it adds the daemon's
// own message and the Go runtime's crash output to the report.
type Channel struct {
	conn     *net.UnixConn
	theirs   []*os.File // the daemon's ends: the channel and the crash pipe
	hello    HelloData
	msg      string
	crash    bytes.Buffer
	crashEOF chan struct{}
}

// Open makes the ready channel for a daemon stage whose locked PID file is
// pf and whose named files are names; upgrade says it is the next
// generation of the daemon that holds pf. It returns the descriptors the
// daemon inherits at [ChannelFD] and [CrashFD] (the named files follow
// them) and the environment entry that marks the daemon stage.
func Open(pf *pidlock.File, logFile string, names []string, upgrade bool) (*Channel, []*os.File, string, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ready channel: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ready-channel"), os.NewFile(uintptr(fds[1]), "ready-channel")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, "", fmt.Errorf("ready channel: %w", err)
	}
	crashR, crashW, err := os.Pipe()
	if err != nil {
		fc.Close()
		theirs.Close()
		return nil, nil, "", fmt.Errorf("crash pipe: %w", err)
	}
	token := make([]byte, 16)
	rand.Read(token)
	c := &Channel{conn: fc.(*net.UnixConn), theirs: []*os.File{theirs, crashW}, crashEOF: make(chan struct{}),
		hello: HelloData{Token: hex.EncodeToString(token), PIDFile: pf.Path(), Dev: pf.Dev(), Ino: pf.Ino(),
			Files: names, LogFile: logFile, Upgrade: upgrade}}
	// HELLO waits in the daemon's receive queue until it reads it: it is
	// there even if this launcher dies right after the start.
	b, _ := json.Marshal(c.hello)
	if _, err := c.conn.Write(Message{Kind: Hello, Payload: b}.Encode()); err != nil {
		c.Close()
		crashR.Close()
		return nil, nil, "", fmt.Errorf("ready channel: sending hello: %w", err)
	}
	go func() {
		io.Copy(&limitedWriter{&c.crash, MaxMessage}, crashR)
		crashR.Close()
		close(c.crashEOF)
	}()
	return c, c.theirs, EnvVar + "=" + MarkerPrefix + c.hello.Token, nil
}

// closeTheirs closes our copies of the daemon's ends, so that its exit is
// seen as end-of-file.
func (c *Channel) closeTheirs() {
	for _, f := range c.theirs {
		f.Close()
	}
}

// Close releases the channel: after a start that failed before Wait, or
// that ended without Written.
func (c *Channel) Close() {
	c.closeTheirs()
	c.conn.Close()
}

// Wait waits for READY (the PID to write is p's), an ERROR, the daemon's
// exit, or the end of ctx.
func (c *Channel) Wait(ctx context.Context, p *launch.Proc) (int, error) {
	c.closeTheirs()
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	why := c.read(ctx)
	if why != nil && (c.msg != "" || errors.Is(why, launch.ErrExited)) {
		// It is exiting on its own: let it, for its exit status.
		p.ExitedWithin(5 * time.Second)
	}
	return p.PID(), why
}

// read reads the channel until READY (nil) or a failure.
func (c *Channel) read(ctx context.Context) error {
	buf := make([]byte, MaxMessage+1)
	for {
		n, err := c.conn.Read(buf)
		if err != nil && ctx.Err() != nil {
			return launch.Reason("did not become ready: "+context.Cause(ctx).Error(), launch.ErrNotReady)
		}
		if err != nil || n == 0 { // EOF: it closed the channel or exited
			if c.msg != "" {
				return launch.Reason("failed to start", launch.ErrReportedFailure)
			}
			return launch.ErrExited
		}
		m, err := ParseMessage(buf[:n])
		switch {
		case err != nil:
			return fmt.Errorf("sent a malformed message: %w", err)
		case m.Kind == Ready:
			return nil
		case m.Kind == Error:
			c.msg = string(m.Payload)
		default:
			return fmt.Errorf("sent an unexpected %s: %w", m.Kind, ErrBadMessage)
		}
	}
}

// Written answers ACK: the PID is written, the daemon is on its own. If
// the ACK cannot be sent, the daemon writes its own PID.
func (c *Channel) Written(*launch.Proc, int) error {
	c.conn.Write(Message{Kind: Ack}.Encode())
	c.conn.Close()
	return nil
}

// Failed adds the daemon's own message and its crash output to f.
func (c *Channel) Failed(f *launch.Failure) {
	f.Message = c.msg
	select {
	case <-c.crashEOF: // the daemon is gone, so this comes at once
	case <-time.After(time.Second):
	}
	f.Crash = c.crash.String()
	c.conn.Close()
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
