// Package readych is the wire format of the framework's ready channel
// between the launcher and the daemon stage (see package reexec): the
// messages, the HELLO payload and the descriptor layout. It is internal:
// nothing outside daemonkit speaks it.
package readych

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Kind is the type of a ready-channel message.
type Kind string

// The messages of the ready channel.
const (
	Hello Kind = "HELLO" // launcher → daemon: the [HelloData] as JSON
	Ready Kind = "READY" // daemon → launcher: initialised; write my PID
	Ack   Kind = "ACK"   // launcher → daemon: PID written
	Error Kind = "ERROR" // daemon → launcher: startup failed; payload is the message
)

// EnvVar marks the daemon stage: [MarkerPrefix] and a random token.
const EnvVar = "DAEMONKIT_STAGE"

// MarkerPrefix starts EnvVar's value.
const MarkerPrefix = "daemon:"

// The descriptors of the daemon stage. The PID file is at the same number
// as for every daemon daemonkit starts (see internal/launch).
const (
	PIDFileFD   = 3 // the locked PID file
	ChannelFD   = 4 // the ready channel
	CrashFD     = 5 // the crash pipe
	FirstFileFD = 6 // the first named file
)

// MaxMessage is the largest ready-channel message accepted.
const MaxMessage = 64 << 10

// ErrBadMessage reports a malformed ready-channel message.
var ErrBadMessage = errors.New("malformed ready-channel message")

// Message is one datagram on the ready channel.
type Message struct {
	Kind    Kind
	Payload []byte
}

// Encode returns the wire form: the kind, and a space and the payload if any.
func (m Message) Encode() []byte {
	if len(m.Payload) == 0 {
		return []byte(m.Kind)
	}
	return append(append([]byte(m.Kind), ' '), m.Payload...)
}

// ParseMessage parses one datagram. READY and ACK carry no payload; HELLO and
// ERROR need one. The error wraps [ErrBadMessage].
func ParseMessage(b []byte) (Message, error) {
	if len(b) > MaxMessage {
		return Message{}, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	kind, payload, hasPayload := bytes.Cut(b, []byte{' '})
	m := Message{Kind: Kind(kind), Payload: payload}
	switch m.Kind {
	case Ready, Ack:
		if hasPayload {
			return Message{}, fmt.Errorf("%w: %s takes no payload", ErrBadMessage, m.Kind)
		}
	case Hello, Error:
		if len(payload) == 0 {
			return Message{}, fmt.Errorf("%w: %s without payload", ErrBadMessage, m.Kind)
		}
	default:
		return Message{}, fmt.Errorf("%w: unknown kind %q", ErrBadMessage, Truncate(kind, 16))
	}
	return m, nil
}

// Truncate returns at most the first n bytes of b.
func Truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// HelloData is what the launcher tells the daemon stage first.
type HelloData struct {
	Token   string   `json:"token"`              // must equal the token in EnvVar
	PIDFile string   `json:"pid_file"`           // path of the PID file at fd 3
	Dev     uint64   `json:"dev"`                // its device
	Ino     uint64   `json:"ino"`                // and inode
	Files   []string `json:"files"`              // names of fds 6, 7, …
	LogFile string   `json:"log_file,omitempty"` // absolute path of the log file, for reopening
	// Upgrade says the daemon is the next generation of a running one,
	// whose PID the PID file holds: a failure must leave it as it is.
	Upgrade bool `json:"upgrade,omitempty"`
}

// ParseHello decodes and checks a HELLO payload.
func ParseHello(payload []byte) (HelloData, error) {
	var h HelloData
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return HelloData{}, fmt.Errorf("%w: hello: %v", ErrBadMessage, err)
	}
	if h.Token == "" || h.PIDFile == "" {
		return HelloData{}, fmt.Errorf("%w: hello lacks token or pid file", ErrBadMessage)
	}
	seen := make(map[string]bool, len(h.Files))
	for _, n := range h.Files {
		if n == "" || seen[n] {
			return HelloData{}, fmt.Errorf("%w: hello file name %q empty or repeated", ErrBadMessage, n)
		}
		seen[n] = true
	}
	return h, nil
}
