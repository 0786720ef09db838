package reexec

import (
	"errors"
	"os"

	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// EnvVar marks the daemon stage: "daemon:" and a random token.
const EnvVar = "DAEMONKIT_STAGE" // the same as internal/readych.EnvVar

// ErrNoLauncher: the marker is set, but this process was not started by a
// daemonkit launcher (no valid ready channel, or a token mismatch).
var ErrNoLauncher = errors.New("not started by a daemonkit launcher")

// ErrUnsupported is returned by [Adopt] (and by the framework's launcher)
// where the daemon stage cannot be run: it needs Linux (SOCK_SEQPACKET
// socketpairs, pidfds and /proc/self/exe).
var ErrUnsupported = errors.New("re-exec daemonization is only supported on Linux; run in the foreground")

// Marked reports whether the environment carries the daemon-stage marker.
// Only [Adopt] decides whether it is genuine.
func Marked() bool {
	_, ok := os.LookupEnv(EnvVar)
	return ok
}

// Stage is the daemon stage's side of the launch: what it inherited.
type Stage struct {
	PIDFile *pidlock.File
	Files   map[string]*os.File
	LogFile string // the log file's absolute path, if the launcher gave one
	// Upgrade says this daemon is the next generation of a running one:
	// until it is ready, the PID file names that one, and a failure must
	// leave it so.
	Upgrade bool
	ch      channel
	crash   *os.File
}

// channel is the daemon's end of the ready channel, used with blocking
// syscalls.
type channel int
