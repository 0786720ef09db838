//go:build unix

package control

import (
	"context"
	"log/slog"

	"github.com/daemonkit/daemonkit/internal/ctlguard"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// acquireGuard locks the guard file path for an action, waiting until ctx
// is done. If the lock is busy because a controller that started this
// process holds it ([ctlguard.HolderAncestor]: this process is its start
// command, or runs under it: `daemonctl start -- myservice start`,
// `ucw-daemon-control --start -- myservice start`, through wrapper
// scripts), it returns nil and no error: the action then runs under that
// controller's lock, as with [Options.GuardHeld].
func acquireGuard(ctx context.Context, path string, log *slog.Logger) (*pidlock.File, error) {
	// Inspect's shared try tells an exclusive holder from a free guard or
	// a reader's shared lock (which is waited for); only an exclusive
	// holder can be the controller that started us.
	if info, err := lockfile.Inspect(path); err == nil && info.State.Alive() {
		if pid, ok := ctlguard.HolderAncestor(path); ok {
			log.Info("the guard file is held by a controller that started this process: acting under its lock",
				"guard_file", path, "controller", procfs.Describe(pid).String())
			return nil, nil
		}
	}
	return pidlock.AcquireGuard(ctx, path)
}
