package lockfile

import (
	"fmt"
	"os"
	"time"
)

// State is the state of a daemon as read from its PID file (see docs/protocol.md).
type State int

// The states of a PID file. The zero value is [NotRunning].
const (
	NotRunning State = iota // missing or empty (or its directory missing), unlocked
	Stale                   // "(starting)\n" or "<pid>\n", unlocked: the daemon died (see [Info.NamesLive])
	Starting                // "(starting)\n", locked
	Running                 // "<pid>\n", locked
	Stopping                // empty, locked
	Invalid                 // anything else, locked
	NotPIDFile              // anything else, unlocked: not a PID file, never to be touched
)

var stateNames = [...]string{
	NotRunning: "not-running",
	Stale:      "stale",
	Starting:   "starting",
	Running:    "running",
	Stopping:   "stopping",
	Invalid:    "invalid",
	NotPIDFile: "not-a-pid-file",
}

// String returns the state's name as used by `daemonctl status --json`:
// not-running, stale, starting, running, stopping, invalid or
// not-a-pid-file.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Alive reports whether the PID file is locked, that is, whether a daemon
// (or its launcher) holds it.
func (s State) Alive() bool { return s >= Starting && s <= Invalid }

// MarshalText implements [encoding.TextMarshaler]: encoding/json, and any
// text encoding, writes a State as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Info is what [Inspect] observed.
type Info struct {
	Path  string // the PID file
	State State
	PID   int // for Running, else 0
	// Since is the PID file's modification time: when the daemon became
	// ready (Running) or started initialising (Starting). Zero otherwise.
	Since time.Time
	// Dev and Ino identify the file that was inspected (zero if missing).
	Dev, Ino uint64
	// Mode holds the permission bits of the file that was inspected (zero
	// if missing), so that a controller can refuse a world-writable file.
	Mode os.FileMode
	// Content is the raw content read (at most 33 bytes: no PID file is longer).
	Content []byte
	// Reason explains an Invalid or NotPIDFile state.
	Reason error
	// NamesLive is set for a Stale file that names a process which exists:
	// the file is unlocked, so that process does not hold it and was not
	// started under the locking protocol (e.g. by start-stop-daemon or a
	// shell script). It must never be called dead, signalled, or have its
	// PID file emptied.
	NamesLive bool
}
