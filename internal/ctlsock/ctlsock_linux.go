package ctlsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	maxConns       = 16              // requests served at once; more are dropped
	requestTimeout = 5 * time.Second // for a connected peer to send its request
)

// Peer is the process at the other end of a connection, as the kernel
// recorded it (SO_PEERCRED).
type Peer struct{ PID, UID int }

// Listener is a daemon's end of the channel.
type Listener struct {
	ln   *net.UnixListener
	euid int
}

// Listen binds the channel of this process for the PID file key. The name
// is taken by the kernel only while the process lives; an error that wraps
// [ErrNameTaken] means another process bound it first (controllers will
// refuse that one as an impostor).
func Listen(key Key) (*Listener, error) {
	name := Name(key, os.Getpid())
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: name, Net: "unixpacket"})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("control channel %s: %w", name, ErrNameTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("control channel %s: %w", name, err)
	}
	return &Listener{ln: ln, euid: os.Geteuid()}, nil
}

// Close stops listening; a running [Listener.Serve] returns.
func (l *Listener) Close() error { return l.ln.Close() }

// Serve answers requests with h until ctx ends or l is closed, then waits
// for the requests in progress and returns. h runs in a goroutine per
// connection; r.Peer says who asked. Peers other than root and the daemon's
// own user are refused: h never sees their request.
func (l *Listener) Serve(ctx context.Context, h func(ctx context.Context, r Request) Reply) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer context.AfterFunc(ctx, func() { l.ln.Close() })()
	sem := make(chan struct{}, maxConns)
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !transient(err) {
				return fmt.Errorf("control channel: %w", err)
			}
			pause(ctx, 10*time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close() // busy: the caller sees ErrNoReply
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			l.serveConn(ctx, c, h)
		})
	}
}

// transient: accept failed for want of resources, not because the socket
// is broken.
func transient(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (l *Listener) serveConn(ctx context.Context, c *net.UnixConn, h func(context.Context, Request) Reply) {
	defer c.Close()
	peer, err := peerOf(c)
	if err != nil {
		return
	}
	// The datagram is taken off the queue even from a refused peer: a unix
	// socket closed with unread data resets the connection, and the
	// refusal would be lost.
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	buf := make([]byte, MaxMessage+1)
	n, err := c.Read(buf)
	if err != nil {
		return
	}
	if peer.UID != 0 && peer.UID != l.euid {
		send(c, Reply{Error: fmt.Sprintf("permission denied: uid %d may not control this daemon (root and uid %d may)", peer.UID, l.euid)})
		return
	}
	req, err := ParseRequest(buf[:n])
	if err != nil {
		send(c, Failed(err))
		return
	}
	req.Peer = peer
	send(c, h(ctx, req))
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

// Call sends req to the daemon pid holding the PID file key and returns
// its reply. The caller must have verified that pid holds the PID file's
// lock: Call only makes sure that pid is who answers. It returns when the
// reply comes or ctx ends; ending ctx leaves the daemon to finish the
// action.
func Call(ctx context.Context, key Key, pid int, req Request) (Reply, error) {
	name := Name(key, pid)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", name)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return Reply{}, fmt.Errorf("pid %d: %w (nothing listens on %s)", pid, ErrNoChannel, name)
		}
		return Reply{}, fmt.Errorf("pid %d: control channel %s: %w", pid, name, err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	peer, err := peerOf(c)
	if err != nil {
		return Reply{}, fmt.Errorf("pid %d: control channel %s: %w", pid, name, err)
	}
	if peer.PID != pid {
		return Reply{}, fmt.Errorf("pid %d: %w: pid %d (uid %d) bound %s; not trusted", pid, ErrImpostor, peer.PID, peer.UID, name)
	}
	defer context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })()
	return exchange(ctx, c, pid, req)
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
