//go:build linux

package control_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestControllerMarkNamesOneAction: the DAEMONKIT_CONTROLLER mark that a
// daemonkit controller gave its start command (and so the daemon and its
// children, which keep it in their environment) names that action only.
// A later action of the same long-lived process on the same guard file is
// not held for them: a controller among them waits for it. A mark in the
// old form (pid:dev:ino, no action) names none.
func TestControllerMarkNamesOneAction(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	guard := lockfile.GuardPath(pidFile)
	const held, free = "held=true err=<nil>", "held=false err=<nil>"

	g1, err := pidlock.Acquire(guard)
	if err != nil {
		t.Fatal(err)
	}
	mark1 := control.ControllerMark(g1)
	if got := startedBy(t, pidFile, "env", mark1); got != held {
		t.Errorf("during the action (%s): %s, want %s", mark1, got, held)
	}
	g1.Close()

	g2, err := pidlock.Acquire(guard) // a later action, same process, same guard
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if got := startedBy(t, pidFile, "env", mark1); got != free {
		t.Errorf("a later action, unmarked, with the first action's mark (%s): %s, want %s", mark1, got, free)
	}
	mark2 := control.ControllerMark(g2)
	if mark2 == mark1 {
		t.Fatalf("two actions got the same mark %s", mark1)
	}
	if got := startedBy(t, pidFile, "env", mark1); got != free {
		t.Errorf("a later, marked, action with the first action's mark (%s): %s, want %s", mark1, got, free)
	}
	if got := startedBy(t, pidFile, "env", mark2); got != held {
		t.Errorf("the later action's own mark (%s): %s, want %s", mark2, got, held)
	}
	old := fmt.Sprintf("%s=%d:%d:%d", control.ControllerEnv, os.Getpid(), g2.Dev(), g2.Ino())
	if got := startedBy(t, pidFile, "env", old); got != free {
		t.Errorf("a mark without the action (%s): %s, want %s", old, got, free)
	}
	if !strings.HasPrefix(mark2, control.ControllerEnv+"=") {
		t.Errorf("mark %q", mark2)
	}
}
