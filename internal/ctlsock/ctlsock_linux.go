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

// requestTimeout bounds how long [Answer] waits for the request once
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
// process are closed unread. If ctx ends first, the error wraps
// [ErrNoAnswer].
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
		if peer, err := peerOf(c); err != nil || peer.PID != l.pid {
			c.Close() // not the daemon we verified
			continue
		}
		return &Conn{c: c, pid: l.pid}, nil
	}
}

// Call sends req and returns the daemon's reply, then closes c. If ctx
// ends first, the error wraps ctx's cause: the daemon finishes the action
// all the same.
func (c *Conn) Call(ctx context.Context, req Request) (Reply, error) {
	defer c.c.Close()
	defer context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })()
	return exchange(ctx, c.c, c.pid, req)
}

// Call is [Listener.Accept] then [Conn.Call], both bounded by ctx.
func (l *Listener) Call(ctx context.Context, req Request) (Reply, error) {
	c, err := l.Accept(ctx)
	if err != nil {
		return Reply{}, err
	}
	return c.Call(ctx, req)
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
// included.
func (c *Caller) Serve(ctx context.Context, h func(ctx context.Context, r Request) Reply) error {
	defer c.c.Close()
	defer context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	stopRead := context.AfterFunc(rctx, func() { c.c.SetReadDeadline(time.Now()) })
	buf := make([]byte, MaxMessage+1)
	n, err := c.c.Read(buf)
	stopRead()
	cancel()
	if err != nil {
		return fmt.Errorf("control channel %s: reading the request: %w", c.name, err)
	}
	c.c.SetReadDeadline(time.Time{})
	req, err := ParseRequest(buf[:n])
	if err != nil {
		return send(c.c, Failed(err))
	}
	req.Peer = c.peer
	return send(c.c, h(ctx, req))
}

// Close drops the connection unanswered.
func (c *Caller) Close() error { return c.c.Close() }

// Answer is [Dial] then [Caller.Serve].
func Answer(ctx context.Context, key Key, h func(ctx context.Context, r Request) Reply) error {
	c, err := Dial(key)
	if err != nil {
		return err
	}
	return c.Serve(ctx, h)
}

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
		return Reply{}, fmt.Errorf("pid %d: sending %q: %w", pid, req.Op, orCtx(ctx, err))
	}
	buf := make([]byte, MaxMessage+1)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		if ctx.Err() != nil {
			return Reply{}, fmt.Errorf("pid %d: waiting for the reply to %q: %w", pid, req.Op, context.Cause(ctx))
		}
		return Reply{}, fmt.Errorf("pid %d: %q: %w", pid, req.Op, ErrNoReply)
	}
	r, err := ParseReply(buf[:n])
	if err != nil {
		return Reply{}, fmt.Errorf("pid %d: reply to %q: %w", pid, req.Op, err)
	}
	return r, nil
}

func orCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
