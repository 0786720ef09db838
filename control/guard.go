//go:build unix

package control

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// GuardEnv is set by a [CommandStarter] run from [Start] or [Restart] in the
// command's environment: "<controller pid>:<guard file>". It tells a start
// command that is itself a controller (a framework service's own start
// verb, run as `daemonctl start -- myservice start`) that its parent already
// holds the guard file, so that it does not wait for that lock forever.
const GuardEnv = "DAEMONKIT_GUARD_HELD"

type guardKey struct{}

// withGuard records in ctx that guard is held by this process.
func withGuard(ctx context.Context, guard string) context.Context {
	return context.WithValue(ctx, guardKey{}, guard)
}

// guardEnv returns the GuardEnv entry for ctx, if this process holds a guard.
func guardEnv(ctx context.Context) (string, bool) {
	guard, ok := ctx.Value(guardKey{}).(string)
	if !ok {
		return "", false
	}
	if abs, err := filepath.Abs(guard); err == nil {
		guard = abs
	}
	return GuardEnv + "=" + strconv.Itoa(os.Getpid()) + ":" + guard, true
}

// GuardHeldByParent reports whether [GuardEnv] says that this process's
// parent holds the guard file guard (compared as absolute paths). The
// variable is removed from the environment either way, so that it reaches
// no further process. A value naming another process than the parent is
// ignored: the parent must be the controller that set it.
func GuardHeldByParent(guard string) bool {
	v, ok := os.LookupEnv(GuardEnv)
	if !ok {
		return false
	}
	os.Unsetenv(GuardEnv)
	pid, path, ok := strings.Cut(v, ":")
	if !ok || pid != strconv.Itoa(os.Getppid()) {
		return false
	}
	if abs, err := filepath.Abs(guard); err == nil {
		guard = abs
	}
	return path == guard
}
