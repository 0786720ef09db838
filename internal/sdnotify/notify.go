// Package sdnotify parses the datagrams a daemon sends to $NOTIFY_SOCKET
// in the sd_notify(3) format, for daemonctl start --background --notify.
package sdnotify

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/daemonkit/daemonkit/internal/pidfile"
)

// MaxSize is the largest notification datagram that is read; longer
// datagrams are truncated by the kernel and then rejected by [Parse].
const MaxSize = 4096

// ErrMalformed reports a notification datagram that is malformed.
var ErrMalformed = errors.New("malformed notification")

// Message is what one sd_notify(3) datagram said. Fields the datagram did not
// carry keep their zero values; the Has* fields tell "absent" from zero.
type Message struct {
	Ready  bool   // READY=1
	Status string // STATUS=text (free-form, for humans)
	// Errno is the ERRNO= value: the daemon reports that it failed.
	Errno    int
	HasErrno bool
	// ExtendTimeout is EXTEND_TIMEOUT_USEC=: the daemon asks for this much
	// more time from now.
	ExtendTimeout    time.Duration
	HasExtendTimeout bool
	// MainPID is MAINPID=: the process that is the daemon, if not the sender.
	MainPID int
}

// Parse parses a notification datagram in the sd_notify(3) format:
// newline-separated KEY=VALUE assignments. It understands READY, STATUS,
// ERRNO, EXTEND_TIMEOUT_USEC and MAINPID and ignores other keys (as systemd
// does). A datagram that is too long, holds a NUL byte, a line without '='
// or an unusable value for a known key is rejected with an error wrapping
// [ErrMalformed] and must then be ignored as a whole: a half-understood
// message must not make a daemon count as ready.
func Parse(b []byte) (Message, error) {
	var n Message
	if len(b) > MaxSize {
		return Message{}, fmt.Errorf("%w: %d bytes is longer than %d", ErrMalformed, len(b), MaxSize)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return Message{}, fmt.Errorf("%w: contains a NUL byte", ErrMalformed)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return Message{}, fmt.Errorf("%w: line %q is not KEY=VALUE", ErrMalformed, line)
		}
		switch key {
		case "READY":
			if value != "1" {
				return Message{}, fmt.Errorf("%w: READY=%q (only READY=1 is defined)", ErrMalformed, value)
			}
			n.Ready = true
		case "STATUS":
			n.Status = value
		case "ERRNO":
			e, err := strconv.ParseUint(value, 10, 31)
			if err != nil || !isDecimal(value) {
				return Message{}, fmt.Errorf("%w: ERRNO=%q is not a non-negative decimal number", ErrMalformed, value)
			}
			n.Errno, n.HasErrno = int(e), true
		case "EXTEND_TIMEOUT_USEC":
			us, err := strconv.ParseUint(value, 10, 64)
			if err != nil || !isDecimal(value) {
				return Message{}, fmt.Errorf("%w: EXTEND_TIMEOUT_USEC=%q is not a decimal number", ErrMalformed, value)
			}
			const maxUS = uint64(1<<63-1) / uint64(time.Microsecond)
			n.ExtendTimeout, n.HasExtendTimeout = time.Duration(min(us, maxUS))*time.Microsecond, true
		case "MAINPID":
			pid, err := pidfile.ParsePID([]byte(value), 0)
			if err != nil {
				return Message{}, fmt.Errorf("%w: MAINPID=%q: %w", ErrMalformed, value, err)
			}
			n.MainPID = pid
		}
	}
	return n, nil
}

// isDecimal reports whether s is a non-empty string of ASCII digits
// (strconv accepts a leading '+' and underscores in some modes; we do not).
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats n as a datagram that [Parse] reads back as n
// (for a Status without newlines).
func (n Message) String() string {
	var b strings.Builder
	if n.Ready {
		b.WriteString("READY=1\n")
	}
	if n.Status != "" {
		b.WriteString("STATUS=" + n.Status + "\n")
	}
	if n.HasErrno {
		b.WriteString("ERRNO=" + strconv.Itoa(n.Errno) + "\n")
	}
	if n.HasExtendTimeout {
		b.WriteString("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(n.ExtendTimeout.Microseconds(), 10) + "\n")
	}
	if n.MainPID != 0 {
		b.WriteString("MAINPID=" + strconv.Itoa(n.MainPID) + "\n")
	}
	return b.String()
}
