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

// Errors a [Call] wraps; test with errors.Is.
var (
	// ErrNoChannel: nothing listens on the daemon's name. The daemon is not
	// a framework daemon (or one from before the channel existed), it has
	// just exited, or it runs in another network namespace.
	ErrNoChannel = errors.New("the daemon has no control channel")
	// ErrImpostor: another process than the daemon answers on its name.
	ErrImpostor = errors.New("the control channel is held by another process")
	// ErrNoReply: the daemon closed the connection without answering (it
	// died, or refused the caller).
	ErrNoReply = errors.New("the daemon closed the control channel without a reply")
	// ErrNameTaken: [Listen] found the daemon's name already bound.
	ErrNameTaken = errors.New("control channel name already bound by another process")
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

// Name is the abstract socket name of the daemon pid holding the PID file
// key, as net.UnixAddr spells it (a leading @).
func Name(key Key, pid int) string {
	return fmt.Sprintf("@daemonkit/ctl/%d:%d/%d", key.Dev, key.Ino, pid)
}

// Request asks a daemon to act.
type Request struct {
	// Op is what to do: "status", "reload", "stop" or "upgrade".
	Op string `json:"op"`
	// Peer is who sent the request, filled in by [Listener.Serve].
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
