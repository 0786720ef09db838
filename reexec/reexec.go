package reexec

import (
	"errors"
	"os"

	"github.com/daemonkit/daemonkit/lockfile"
)

// EnvVar marks the daemon stage: "daemon:" and a random token.
const EnvVar = "DAEMONKIT_STAGE"

const markerPrefix = "daemon:"

// ErrNoLauncher: the marker is set, but this process was not started by a
// daemonkit launcher (no valid ready channel, or a token mismatch).
var ErrNoLauncher = errors.New("not started by a daemonkit launcher")

// ErrUnsupported is returned by [Spawn] and [Adopt] where the daemon stage
// cannot be run: it needs Linux (SOCK_SEQPACKET socketpairs, pidfds and
// /proc/self/exe).
var ErrUnsupported = errors.New("re-exec daemonization is only supported on Linux; run in the foreground")

// Marked reports whether the environment carries the daemon-stage marker.
// Only [Adopt] decides whether it is genuine.
func Marked() bool {
	_, ok := os.LookupEnv(EnvVar)
	return ok
}

// NamedFile is a file or socket handed to the daemon stage by name.
type NamedFile struct {
	Name string
	File *os.File
}

// Spec says how to start the daemon stage.
type Spec struct {
	Path    string         // binary; default /proc/self/exe
	Args    []string       // argv including argv[0]; default os.Args
	Env     []string       // environment; default os.Environ(); the marker is replaced
	Dir     string         // working directory; default "/"
	User    string         // run as this user (name or number); empty keeps ours
	Group   string         // and group; see the framework's --user and --group
	Output  *os.File       // stdout and stderr; nil is /dev/null; readable for the failure report
	LogFile string         // Output's absolute path, told to the daemon for reopening it
	PIDFile *lockfile.File // locked by the launcher; required
	Files   []NamedFile    // handed over by name
	Umask   int            // the daemon's file mode creation mask
}

// Stage is the daemon stage's side of the launch: what it inherited.
type Stage struct {
	PIDFile *lockfile.File
	Files   map[string]*os.File
	LogFile string // the log file's absolute path, if the launcher gave one
	ch      channel
	crash   *os.File
}

// channel is the daemon's end of the ready channel, used with blocking
// syscalls.
type channel int
