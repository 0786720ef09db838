//go:build unix

package control

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/lockfile"
)

// GuardEnv is set by a [CommandStarter] run from [Start] or [Restart] in the
// command's environment: "<fd>:<dev>:<ino>". The command inherits the
// locked guard file as descriptor <fd>, and dev and ino identify the file.
// It tells a start command that is itself a controller (a framework
// service's own start verb, run as `daemonctl start -- myservice start`,
// directly or through a wrapper script) that the controller that started
// it holds the guard file, so that it does not wait for that lock forever.
// See [GuardHeldByParent].
const GuardEnv = "DAEMONKIT_GUARD_HELD"

// guardFD is the descriptor under which a [CommandStarter]'s command
// inherits the guard file.
const guardFD = 3

type guardKey struct{}

// withGuard records in ctx the guard file g that this process holds.
func withGuard(ctx context.Context, g *lockfile.File) context.Context {
	if g == nil {
		return ctx
	}
	return context.WithValue(ctx, guardKey{}, g)
}

// heldGuard returns the guard file this process holds for ctx's action,
// with the GuardEnv entry that names it as descriptor guardFD.
func heldGuard(ctx context.Context) (*os.File, string, bool) {
	g, ok := ctx.Value(guardKey{}).(*lockfile.File)
	if !ok {
		return nil, "", false
	}
	return g.File(), fmt.Sprintf("%s=%d:%d:%d", GuardEnv, guardFD, g.Dev(), g.Ino()), true
}

// GuardHeldByParent reports whether [GuardEnv] says that the controller
// that started this process holds the guard file guard: the descriptor it
// names must be open on the same file (device and inode) that guard names
// now, and that file must be locked. The inherited descriptor is closed
// (the controller keeps its own, and with it the lock) and the variable
// removed from the environment either way, so that neither reaches any
// further process. A variable that does not match is ignored.
//
// Unlike a check of the parent PID, this works through wrapper scripts and
// symbolic links in the path. A controller that was itself told that its
// guard is held passes no guard on to its own start command.
func GuardHeldByParent(guard string) bool {
	v, ok := os.LookupEnv(GuardEnv)
	if !ok {
		return false
	}
	os.Unsetenv(GuardEnv)
	f := strings.SplitN(v, ":", 3)
	if len(f) != 3 {
		return false
	}
	fd, err1 := strconv.Atoi(f[0])
	dev, err2 := strconv.ParseUint(f[1], 10, 64)
	ino, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || fd <= 2 {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return false // not the descriptor we were told about: leave it alone
	}
	unix.Close(fd)
	info, err := lockfile.Inspect(guard)
	return err == nil && info.Dev == dev && info.Ino == ino && info.State.Alive()
}
