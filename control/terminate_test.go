//go:build linux

package control_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestStartTimeoutAbortsWrappedLauncher: a start command that does not
// finish in time is ended with SIGTERM to its whole process tree, so a
// launcher behind a wrapper script aborts its start (kills the daemon it
// started, leaves the PID file not running) instead of going on after the
// start was reported failed.
func TestStartTimeoutAbortsWrappedLauncher(t *testing.T) {
	f := newFixture(t)
	launcherPID := filepath.Join(f.dir, "launcher.pid")
	c := control.Command("/bin/sh", "-c", `echo $$ > "$0"; "$@"; echo "launcher exited $?" >&2`,
		launcherPID, f.bin, "-pidfile", f.pidFile, "-never-ready")
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	c.WaitDelay = 5 * time.Second // the launcher needs no more to abort
	res, err := control.Start(ctxFor(t, 2*time.Second), f.opts(), c)
	if b, rerr := os.ReadFile(launcherPID); rerr == nil {
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
			proctest.Cleanup(t, pid)
		}
	}
	want(t, "Start", res, err, control.StatusFailed)
	if !errors.Is(err, control.ErrTimeout) {
		t.Errorf("error %v: want ErrTimeout", err)
	}
	// The launcher (the wrapper's child) got SIGTERM too and aborted:
	// nothing holds the PID file any more.
	info, ierr := lockfile.Inspect(f.pidFile)
	if ierr != nil || info.State.Alive() {
		t.Errorf("after the failed start the pid file is %v (%q, %v): the wrapped launcher went on", info.State, info.Content, ierr)
	}
}
