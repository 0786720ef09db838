//go:build linux

package control_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestNestedController: a start command that is itself a controller (like
// `daemonctl start -- myservice start`) does not wait for the guard file
// its parent holds (it finds its parent holding the lock; nothing is passed
// to it), and its 103 over a stale PID file counts as started.
func TestNestedController(t *testing.T) {
	f := newFixture(t)
	nested := func() *control.CommandStarter {
		c := control.Command(f.bin, "-ctl", "start", "-pidfile", f.pidFile)
		c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
		return c
	}
	res, err := control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start", res, err, control.StatusOK)
	pid := res.After.PID
	proctest.Cleanup(t, pid)
	if res.After.State != lockfile.Running || !proctest.Alive(pid) {
		t.Fatalf("after nested start: %v pid %d alive %v", res.After.State, pid, proctest.Alive(pid))
	}

	res, err = control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start when running", res, err, control.StatusAlreadyDone)

	f.crash(pid)
	res, err = control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start over a stale pid file", res, err, control.StatusStale)
	proctest.Cleanup(t, res.After.PID)
	if res.After.State != lockfile.Running || res.After.PID == pid || !proctest.Alive(res.After.PID) {
		t.Errorf("after nested start over stale: %v pid %d", res.After.State, res.After.PID)
	}

	res, err = control.Restart(ctxFor(t, long), f.opts(), nested())
	want(t, "Restart", res, err, control.StatusOK)
	proctest.Cleanup(t, res.After.PID)
}

// TestNestedControllerIndirect: the start command's controller recognises
// the guard its own controller holds when it is not a direct child (a
// wrapper script runs it) and when it names the PID file through a
// symbolically linked directory.
func TestNestedControllerIndirect(t *testing.T) {
	t.Run("wrapper", func(t *testing.T) {
		f := newFixture(t)
		c := control.Command("/bin/sh", "-c", `"$@"; exit $?`, "sh", f.bin, "-ctl", "start", "-pidfile", f.pidFile)
		c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
		res, err := control.Start(ctxFor(t, long), f.opts(), c)
		if res.After.PID != 0 {
			proctest.Cleanup(t, res.After.PID)
		}
		want(t, "Start through a wrapper", res, err, control.StatusOK)
	})
	t.Run("symlinked-dir", func(t *testing.T) {
		f := newFixture(t)
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(f.dir, link); err != nil {
			t.Fatal(err)
		}
		c := control.Command(f.bin, "-ctl", "start", "-pidfile", filepath.Join(link, filepath.Base(f.pidFile)))
		c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
		res, err := control.Start(ctxFor(t, long), f.opts(), c)
		if res.After.PID != 0 {
			proctest.Cleanup(t, res.After.PID)
		}
		want(t, "Start through a symlinked directory", res, err, control.StatusOK)
	})
}

// TestNestedUnderForeignController: the controller is not daemonkit and
// cooperates in nothing, as libucw's ucw-daemon-control: flock(1) -o locks
// the guard file, passes no descriptor and sets no variable, runs the
// start command and waits for it. The start command (a controller itself,
// directly and through a wrapper script) starts the daemon at once.
func TestNestedUnderForeignController(t *testing.T) {
	for _, wrap := range [][]string{nil, {"sh", "-c", `"$@"; exit $?`, "sh"}} {
		f := newFixture(t)
		guard := lockfile.GuardPath(f.pidFile)
		args := append(append([]string{"-o", "-x", guard}, wrap...), f.bin, "-ctl", "start", "-pidfile", f.pidFile)
		out, err := exec.CommandContext(ctxFor(t, long), "flock", args...).CombinedOutput()
		info, ierr := lockfile.Inspect(f.pidFile)
		if info.PID > 0 {
			proctest.Cleanup(t, info.PID)
		}
		if err != nil || ierr != nil || info.State != lockfile.Running {
			t.Fatalf("flock %q: %v: %s; pid file %v %v", args, err, out, info.State, ierr)
		}
		holders, err := procfs.LockHolders(guardID(t, guard))
		if err != nil || len(holders) != 0 {
			t.Errorf("guard %s held after the start by %v (%v)", guard, holders, err)
		}
	}
}

// guardID returns the device and inode of path.
func guardID(t *testing.T, path string) (uint64, uint64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Dev), uint64(st.Ino)
}

// TestNestedDaemonctl: daemonctl as the start command of daemonctl, for
// the same PID file (`daemonctl start -p P -- daemonctl start -p P
// --background -- CMD`), starts CMD at once; nothing holds the guard
// afterwards.
func TestNestedDaemonctl(t *testing.T) {
	f := newFixture(t)
	daemonctl, err := proctest.Build(t.TempDir(), "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctxFor(t, long), daemonctl, "start", "-p", f.pidFile, "--timeout", "20s", "--",
		daemonctl, "start", "-p", f.pidFile, "--timeout", "10s", "--background", "--", "sleep", "100000").CombinedOutput()
	info, ierr := lockfile.Inspect(f.pidFile)
	if info.PID > 0 {
		proctest.Cleanup(t, info.PID)
	}
	if err != nil || ierr != nil || info.State != lockfile.Running {
		t.Fatalf("nested daemonctl: %v: %s; pid file %v (%v)", err, out, info.State, ierr)
	}
	guard := lockfile.GuardPath(f.pidFile)
	if holders, err := procfs.LockHolders(guardID(t, guard)); err != nil || len(holders) != 0 {
		t.Errorf("guard %s held after the start by %v (%v)", guard, holders, err)
	}
}
