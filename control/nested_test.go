//go:build linux

package control_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestNestedController: a start command that is itself a controller (like
// `daemonctl start -- myservice start`) does not wait for the guard file
// its parent holds, and its 103 over a stale PID file counts as started.
func TestNestedController(t *testing.T) {
	f := newFixture(t)
	nested := func() *control.CommandStarter {
		c := control.Command(f.bin, "-ctl", "start", "-pidfile", f.pidFile)
		c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
		return c
	}
	res, err := control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start", res, err, control.OK)
	pid := res.After.PID
	proctest.Cleanup(t, pid)
	if res.After.State != lockfile.Running || !proctest.Alive(pid) {
		t.Fatalf("after nested start: %v pid %d alive %v", res.After.State, pid, proctest.Alive(pid))
	}

	res, err = control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start when running", res, err, control.AlreadyDone)

	f.crash(pid)
	res, err = control.Start(ctxFor(t, long), f.opts(), nested())
	want(t, "Start over a stale pid file", res, err, control.Stale)
	proctest.Cleanup(t, res.After.PID)
	if res.After.State != lockfile.Running || res.After.PID == pid || !proctest.Alive(res.After.PID) {
		t.Errorf("after nested start over stale: %v pid %d", res.After.State, res.After.PID)
	}

	res, err = control.Restart(ctxFor(t, long), f.opts(), nested())
	want(t, "Restart", res, err, control.OK)
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
		want(t, "Start through a wrapper", res, err, control.OK)
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
		want(t, "Start through a symlinked directory", res, err, control.OK)
	})
}
