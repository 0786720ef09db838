package ctlsock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// MaxMessage bounds a request or a reply.
const MaxMessage = 64 << 10

// Poke is the signal a controller sends to ask a daemon to connect and take
// a request. SIGCHLD is ignored by default, so a program that is not a
// framework daemon, and does not handle it, is unaffected; one that handles
// it must already cope with SIGCHLDs that announce nothing (signals of one
// kind coalesce).
const Poke = syscall.SIGCHLD

// Errors of this package; test with errors.Is.
var (
	// ErrNoAnswer: the daemon did not connect before the controller's
	// context ended. It is not a framework daemon (or one from before the
	// channel existed), it is busy starting or exiting, or it runs in
	// another network namespace.
	ErrNoAnswer = errors.New("the daemon did not answer on the control channel")
	// ErrNoReply: the daemon connected but closed the connection without a
	// reply (it died).
	ErrNoReply = errors.New("the daemon closed the control channel without a reply")
	// ErrNameTaken: [Listen] found the name already bound, by another
	// controller that does not hold the guard file, or by a process
	// squatting on it.
	ErrNameTaken = errors.New("control channel name already bound by another process")
	// ErrNoCaller: [Dial] found nobody waiting (a signal from someone
	// else than a controller).
	ErrNoCaller = errors.New("no controller waits on the control channel")
	// ErrRefused: [Dial] found a listener run by a user that may not
	// control the daemon.
	ErrRefused = errors.New("control channel bound by a user that may not control this daemon")
	// ErrLate: the reply came after the controller's context ended and it
	// asked the daemon to cancel: it is the daemon's final verdict.
	ErrLate = errors.New("late verdict")
	// ErrCallerGone: the controller asked to cancel its request, or went
	// away, while the daemon was acting on it.
	ErrCallerGone = errors.New("the controller cancelled its request or went away")
	// ErrBadMessage: a request or reply that is not one JSON object of at
	// most MaxMessage bytes.
	ErrBadMessage = errors.New("malformed control message")
)

// Key is the identity of a PID file: its device and inode. Naming the
// channel after it, rather than after a path, gives every name of one file
// (symlinked directories, bind mounts) the same channel.
type Key struct{ Dev, Ino uint64 }

// KeyOf returns the key of the file fi describes (from os.Stat or
// (*os.File).Stat).
func KeyOf(fi os.FileInfo) Key {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Key{}
	}
	return Key{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
}

// Name is the abstract socket name a controller binds to talk to the
// daemon pid holding the PID file key, as net.UnixAddr spells it (a
// leading @).
func Name(key Key, pid int) string {
	return fmt.Sprintf("@daemonkit/ctl/%d:%d/%d", key.Dev, key.Ino, pid)
}

// Request asks a daemon to act.
type Request struct {
	// Op is what to do: "status", "reload", "stop" or "upgrade".
	Op string `json:"op"`
	// Peer is who sent the request, filled in by [Caller.Serve].
	Peer Peer `json:"-"`
}

// Reply is the daemon's verdict on a [Request].
type Reply struct {
	// OK says the action succeeded.
	OK bool `json:"ok"`
	// Error is the daemon's own message when it did not.
	Error string `json:"error,omitempty"`
	// PID is the new generation's PID after an upgrade.
	PID int `json:"pid,omitempty"`
	// OldPID is the PID of the generation that answered an upgrade.
	OldPID int `json:"old_pid,omitempty"`
	// Data carries what an op returns beyond its verdict, such as a
	// supervisor's status.
	Data json.RawMessage `json:"data,omitempty"`
}

// Failed returns a Reply that reports err.
func Failed(err error) Reply { return Reply{Error: err.Error()} }

// ParseRequest decodes one request datagram.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if err := decode(b, &r); err != nil {
		return Request{}, err
	}
	if r.Op == "" {
		return Request{}, fmt.Errorf("%w: no op", ErrBadMessage)
	}
	return r, nil
}

// ParseReply decodes one reply datagram.
func ParseReply(b []byte) (Reply, error) {
	var r Reply
	err := decode(b, &r)
	return r, err
}

func decode(b []byte, v any) error {
	if len(b) == 0 || len(b) > MaxMessage {
		return fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return nil
}
