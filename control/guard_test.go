//go:build linux

package control_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// startedBy runs the test daemon's `-ctl startedby` for pidFile as the
// command (after prefix, e.g. a wrapper or flock(1)) and returns what it
// printed: "held=true err=<nil>" and so on.
func startedBy(t *testing.T, pidFile string, prefix ...string) string {
	t.Helper()
	args := append(prefix, daemonBin(t), "-ctl", "startedby", "-pidfile", pidFile)
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestStartedByController: a start command recognises, with no help from
// its controller (no variable, no descriptor), that an ancestor holds the
// guard file of its PID file: flock(1) -o (a controller that, like
// libucw's, keeps the lock and passes nothing on), directly or through a
// wrapper script. Held by nobody, or held shared, it is not; held by a
// daemonkit program, only if that program names it in ControllerEnv. An
// ancestor holding the guard of another PID file makes it refuse.
func TestStartedByController(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	guard := lockfile.GuardPath(pidFile)
	const held, free = "held=true err=<nil>", "held=false err=<nil>"

	if got := startedBy(t, pidFile); got != free {
		t.Errorf("nobody holds the guard: %s, want %s", got, free)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", guard); got != held {
		t.Errorf("under flock -o: %s, want %s", got, held)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", guard, "sh", "-c", `"$@"; exit $?`, "sh"); got != held {
		t.Errorf("under flock -o and a wrapper script: %s, want %s", got, held)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-s", guard); got != free {
		t.Errorf("under a shared lock: %s, want %s", got, free)
	}
	// A daemonkit program (this test, through package lockfile) holds the
	// guard for an action of its own: a controller it runs waits, unless
	// it names it as its start command.
	g, err := pidlock.Acquire(guard)
	if err != nil {
		t.Fatal(err)
	}
	if got := startedBy(t, pidFile); got != free {
		t.Errorf("parent (this test) holds the guard for itself: %s, want %s", got, free)
	}
	mark := control.ControllerMark(g)
	if got := startedBy(t, pidFile, "env", mark); got != held {
		t.Errorf("parent (this test) holds the guard for its start command (%s): %s, want %s", mark, got, held)
	}
	wrong := strings.Replace(mark, fmt.Sprintf("=%d:", os.Getpid()), fmt.Sprintf("=%d:", os.Getppid()), 1)
	if got := startedBy(t, pidFile, "env", wrong); got != free {
		t.Errorf("mark naming another process (%s): %s, want %s", wrong, got, free)
	}
	g.Close()
	// A lock of something else that is no guard: no PID file of its name.
	if got := startedBy(t, pidFile, "flock", "-o", "-x", filepath.Join(dir, "cron.lock")); got != free {
		t.Errorf("under an unrelated lock: %s, want %s", got, free)
	}

	// The guard of another PID file, held by this process's parent, which
	// names that file as its --pid-file: refused, whether that file exists
	// or not. Merely existing, or named other than as a PID file option,
	// does not show the holder to be its controller: not refused (a lock
	// of DIR/app.lock where DIR/app is a directory or another program's
	// file is no controller's).
	other := filepath.Join(dir, "other.pid")
	otherGuard := lockfile.GuardPath(other)
	got := startedBy(t, pidFile, "flock", "-o", "-x", otherGuard, "sh", "-c", `shift 2; exec "$@"`, "sh", "--pid-file", other)
	if !strings.Contains(got, "held=false") || !strings.Contains(got, control.ErrOtherController.Error()) || !strings.Contains(got, "started by a controller for "+other) || !strings.Contains(got, "my pid file is "+pidFile) {
		t.Errorf("under the guard of %s (named as --pid-file on the command line): %s", other, got)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", otherGuard, "sh", "-c", `shift; exec "$@"`, "sh", other); got != free {
		t.Errorf("under the guard of %s (named, but not as a pid file): %s, want %s", other, got, free)
	}
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got = startedBy(t, pidFile, "flock", "-o", "-x", otherGuard, "sh", "-c", `shift 2; exec "$@"`, "sh", "-p", other)
	if !strings.Contains(got, "started by a controller for "+other) {
		t.Errorf("under the guard of %s (existing, named as -p): %s", other, got)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", otherGuard); got != free {
		t.Errorf("under the guard of %s (existing, not named): %s, want %s", other, got, free)
	}
	// A daemonkit controller naming its start command in ControllerEnv: the
	// existing PID file of the guard it holds is enough.
	og, err := pidlock.Acquire(otherGuard)
	if err != nil {
		t.Fatal(err)
	}
	omark := control.ControllerMark(og)
	if got := startedBy(t, pidFile, "env", omark); !strings.Contains(got, "started by a controller for "+other) {
		t.Errorf("under a daemonkit controller of %s (%s): %s", other, omark, got)
	}
	og.Close()
	// Only the start command itself refuses: a process its start command
	// runs (a dependency service) does not.
	if got := startedBy(t, pidFile, "flock", "-o", "-x", otherGuard, "sh", "-c", `shift 2; "$@"; exit $?`, "sh", "--pid-file", other); got != free {
		t.Errorf("under a wrapper run by a controller of %s: %s, want %s", other, got, free)
	}
	// Not a PID file: a directory, another program's file.
	app := filepath.Join(dir, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", app+".lock", "sh", "-c", `shift 2; exec "$@"`, "sh", "--pid-file", app); got != free {
		t.Errorf("under the lock of directory %s: %s, want %s", app, got, free)
	}
	conf := filepath.Join(dir, "conf")
	if err := os.WriteFile(conf, []byte("key = value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := startedBy(t, pidFile, "flock", "-o", "-x", conf+".lock", "sh", "-c", `shift 2; exec "$@"`, "sh", "--pid-file", conf); got != free {
		t.Errorf("under the lock of file %s, no pid file: %s, want %s", conf, got, free)
	}
	// Our own guard held nearer than another's: held.
	if got := startedBy(t, pidFile, "flock", "-o", "-x", otherGuard, "flock", "-o", "-x", guard); got != held {
		t.Errorf("under our guard inside another's: %s, want %s", got, held)
	}
}

// TestGuardHeldSharedIsWaitedFor: a guard file that a reader holds with a
// shared lock (not a controller) is waited for, not taken for an error.
func TestGuardHeldSharedIsWaitedFor(t *testing.T) {
	f := newFixture(t)
	reader := exec.Command("flock", "-s", lockfile.GuardPath(f.pidFile), "sleep", "2")
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, reader.Process.Pid)
	proctest.WaitFor(t, long, "the reader's lock", func() bool {
		st, err := os.Stat(lockfile.GuardPath(f.pidFile))
		if err != nil {
			return false
		}
		locks, _ := os.ReadFile("/proc/locks")
		return strings.Contains(string(locks), fmt.Sprintf(":%d ", st.Sys().(*syscall.Stat_t).Ino))
	})
	res, err := control.Check(ctxFor(t, long), f.opts())
	want(t, "Check behind a shared lock", res, err, control.StatusNotRunning)
	reader.Wait()
}
