//go:build !linux

package reexec

import (
	"errors"
	"os"
)

// ErrUnsupported: the daemon stage needs Linux (SOCK_SEQPACKET socketpairs
// and /proc/self/exe).
var ErrUnsupported = errors.New("re-exec daemonization is only supported on Linux; run in the foreground")

// EnvVar marks the daemon stage.
const EnvVar = "DAEMONKIT_STAGE"

// ErrNoLauncher: the marker is set, but this process was not started by a
// daemonkit launcher.
var ErrNoLauncher = errors.New("not started by a daemonkit launcher")

// Marked reports whether the environment carries the daemon-stage marker.
func Marked() bool {
	_, ok := os.LookupEnv(EnvVar)
	return ok
}
