package control

import (
	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/ctlguard"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// WithoutPidfd returns o set to use kill(2) instead of pidfds, as on
// systems without them.
func WithoutPidfd(o Options) Options {
	o.noPidfd = true
	return o
}

// Unexported sentinels the external tests tell apart.
var (
	ErrLockHeld     = errLockHeld
	ErrUnlockedLive = errUnlockedLive
	ErrChanged      = errChanged
	ErrNotHolder    = errNotHolder
	ErrInvalid      = errInvalid
	ErrNotStarted   = errNotStarted
	ErrNoStarter    = errNoStarter

	ErrOtherController = ctlguard.ErrOtherController
)

// Unexported names the external tests use.
const (
	ControllerEnv       = ctlguard.Env
	DefaultMessageLimit = defaultMessageLimit
)

// GuardHolderAncestorHooked is guardHolderAncestor with between called
// with the child before each step above the parent.
func GuardHolderAncestorHooked(path string, between func(child int)) (int, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, false
	}
	return ctlguard.WalkAncestors(uint64(st.Dev), uint64(st.Ino), between)
}

// ControllerMark returns the DAEMONKIT_CONTROLLER entry that Start puts
// in its start command's environment for the guard g (marking g's
// descriptor for this action).
func ControllerMark(g *pidlock.File) string {
	kv, _ := ctlguard.Entry(g)
	return kv
}

// Printable is printable, for tests.
var Printable = printable
