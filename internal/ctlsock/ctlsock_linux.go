package ctlsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// requestTimeout bounds how long [Caller.Serve] waits for the request once
// connected: a controller that bound the name sends it at once.
const requestTimeout = 5 * time.Second

// Peer is the process at the other end of a connection, as the kernel
// recorded it (SO_PEERCRED).
type Peer struct{ PID, UID int }

// Listener is a controller's end of the channel to one daemon.
type Listener struct {
	ln   *net.UnixListener
	pid  int
	name string
}

// Listen binds the name under which the daemon pid, holding the PID file
// key, will look for a controller. The caller must hold the guard file and
// must have verified that pid holds the PID file's lock. An error that
// wraps [ErrNameTaken] names the process that bound it first.
func Listen(key Key, pid int) (*Listener, error) {
	name := Name(key, pid)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: name, Net: "unixpacket"})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("control channel %s: %w%s", name, ErrNameTaken, squatter(name))
	}
	if err != nil {
		return nil, fmt.Errorf("control channel %s: %w", name, err)
	}
	return &Listener{ln: ln, pid: pid, name: name}, nil
}

// squatter says who holds name, as far as the kernel tells.
func squatter(name string) string {
	c, err := net.DialTimeout("unixpacket", name, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	p, err := peerOf(c.(*net.UnixConn))
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (by pid %d, uid %d)", p.PID, p.UID)
}

// Close unbinds the name; a daemon that connects later finds nobody.
func (l *Listener) Close() error { return l.ln.Close() }

// Conn is a controller's connection to the daemon, for one request.
type Conn struct {
	c   *net.UnixConn
	pid int
}

// Accept waits for the daemon to connect. Connections from any other
// process are closed unread. Once the daemon's is accepted, the name is
// unbound: a listener serves one request, and further connections (the
// daemon dials on every SIGCHLD it gets) are refused at once rather than
// left waiting. If ctx ends first, the error wraps [ErrNoAnswer].
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	defer context.AfterFunc(ctx, func() { l.ln.SetDeadline(time.Now()) })()
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("pid %d: %w (%w)", l.pid, ErrNoAnswer, context.Cause(ctx))
			}
			return nil, fmt.Errorf("pid %d: control channel %s: %w", l.pid, l.name, err)
		}
		if conn := l.take(c); conn != nil {
			return conn, nil
		}
	}
}

// take returns c as the daemon's connection, unbinding the name, or closes
// it (nil) if another process made it.
func (l *Listener) take(c *net.UnixConn) *Conn {
	if peer, err := peerOf(c); err != nil || peer.PID != l.pid {
		c.Close() // not the daemon we verified
		return nil
	}
	l.ln.Close()
	return &Conn{c: c, pid: l.pid}
}

// AcceptQueued takes a connection the daemon made that is still waiting
// in the queue, without waiting for one: after the daemon exited, what it
// connected before it died. It returns an error wrapping [ErrNoAnswer] if
// there is none.
func (l *Listener) AcceptQueued() (*Conn, error) {
	rc, err := l.ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	for {
		var nfd int
		var aerr error
		if err := rc.Control(func(fd uintptr) { nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC) }); err != nil {
			return nil, err
		}
		if aerr != nil { // EAGAIN: the queue is empty (the socket is non-blocking)
			return nil, fmt.Errorf("pid %d: %w (%v)", l.pid, ErrNoAnswer, aerr)
		}
		f := os.NewFile(uintptr(nfd), l.name)
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		if conn := l.take(nc.(*net.UnixConn)); conn != nil {
			return conn, nil
		}
	}
}

// cancelGrace bounds how long [Conn.Call] waits, once its context has
// ended, for the verdict that the daemon gives after the cancellation.
const cancelGrace = 5 * time.Second

// Call sends req and returns the daemon's reply, then closes c. If ctx
// ends first, Call asks the daemon to cancel (one more datagram; an
// upgrade is then abandoned unless it has already taken over) and waits a
// little more for the verdict the daemon then gives: it returns that
// reply with an error wrapping [ErrLate] and ctx's cause, or, if none
// comes, only the error.
func (c *Conn) Call(ctx context.Context, req Request) (Reply, error) {
	defer c.c.Close()
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })
	rep, err := exchange(ctx, c.c, c.pid, req)
	stop()
	if err == nil || ctx.Err() == nil {
		return rep, err
	}
	c.c.SetDeadline(time.Now().Add(cancelGrace))
	if _, werr := c.c.Write([]byte(`{"op":"cancel"}`)); werr != nil {
		return Reply{}, err
	}
	late, lerr := read(c.c)
	if lerr != nil {
		return Reply{}, err
	}
	return late, fmt.Errorf("pid %d: %w on %q, given after the time limit (%w)", c.pid, ErrLate, req.Op, context.Cause(ctx))
}

// Caller is a daemon's connection to a controller that waits for it.
type Caller struct {
	c    *net.UnixConn
	peer Peer
	name string
}

// Dial connects to the controller waiting for this process on the PID
// file key. It returns an error wrapping [ErrNoCaller] if nobody waits,
// and one wrapping [ErrRefused] if the listener's user is neither root nor
// this process's effective user. Dialing costs a system call or two, so a
// daemon can do it right when it gets a signal, before anything else
// happens: if it then dies, the controller learns it from the closed
// connection.
func Dial(key Key) (*Caller, error) {
	name := Name(key, os.Getpid())
	nc, err := net.Dial("unixpacket", name)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w on %s", ErrNoCaller, name)
		}
		return nil, fmt.Errorf("control channel %s: %w", name, err)
	}
	c := nc.(*net.UnixConn)
	peer, err := peerOf(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control channel %s: %w", name, err)
	}
	if euid := os.Geteuid(); peer.UID != 0 && peer.UID != euid {
		c.Close()
		return nil, fmt.Errorf("%w: %s is bound by pid %d, uid %d (root and uid %d may control it)", ErrRefused, name, peer.PID, peer.UID, euid)
	}
	return &Caller{c: c, peer: peer, name: name}, nil
}

// Serve reads the controller's request and sends h's reply (h gets the
// controller as r.Peer), then closes c. ctx bounds the whole exchange, h
// included; the context h gets also ends, with cause [ErrCallerGone], when
// the controller asks to cancel or goes away.
func (c *Caller) Serve(ctx context.Context, h func(ctx context.Context, r Request) Reply) error {
	defer c.c.Close()
	defer context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })()
	req, err := c.request(ctx)
	if errors.Is(err, ErrBadMessage) {
		return send(c.c, Failed(err))
	}
	if err != nil {
		return err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan struct{})
	go func() { // a cancel request, or the controller's end, cancels hctx
		defer close(watched)
		c.c.Read(make([]byte, 64))
		cancel(ErrCallerGone)
	}()
	err = send(c.c, h(hctx, req))
	c.c.Close() // ends the watcher's read
	<-watched
	return err
}

// request reads the controller's request, which it sends at once.
func (c *Caller) request(ctx context.Context) (Request, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	stop := context.AfterFunc(rctx, func() { c.c.SetReadDeadline(time.Now()) })
	buf := make([]byte, MaxMessage+1)
	n, err := c.c.Read(buf)
	stop()
	if err != nil {
		return Request{}, fmt.Errorf("control channel %s: reading the request: %w", c.name, err)
	}
	c.c.SetReadDeadline(time.Time{})
	req, err := ParseRequest(buf[:n])
	req.Peer = c.peer
	return req, err
}

// Close drops the connection unanswered.
func (c *Caller) Close() error { return c.c.Close() }

// send writes r as one datagram; a reply too long for one is replaced by
// an error that says so.
func send(c *net.UnixConn, r Reply) error {
	b, err := json.Marshal(r)
	if err == nil && len(b) > MaxMessage {
		b, err = json.Marshal(Reply{Error: fmt.Sprintf("reply of %d bytes is over the %d-byte limit", len(b), MaxMessage)})
	}
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

func peerOf(c *net.UnixConn) (Peer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return Peer{PID: int(cred.Pid), UID: int(cred.Uid)}, nil
}

func exchange(ctx context.Context, c *net.UnixConn, pid int, req Request) (Reply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	if _, err := c.Write(b); err != nil {
		if ctx.Err() == nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			err = ErrNoReply // the daemon connected, then died
		}
		return Reply{}, fmt.Errorf("pid %d: sending %q: %w", pid, req.Op, orCtx(ctx, err))
	}
	r, err := read(c)
	switch {
	case err == nil:
		return r, nil
	case ctx.Err() != nil:
		return Reply{}, fmt.Errorf("pid %d: waiting for the reply to %q: %w", pid, req.Op, context.Cause(ctx))
	case errors.Is(err, ErrNoReply):
		return Reply{}, fmt.Errorf("pid %d: %q: %w", pid, req.Op, err)
	}
	return Reply{}, fmt.Errorf("pid %d: reply to %q: %w", pid, req.Op, err)
}

// read reads one reply.
func read(c *net.UnixConn) (Reply, error) {
	buf := make([]byte, MaxMessage+1)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		return Reply{}, ErrNoReply
	}
	return ParseReply(buf[:n])
}

func orCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
