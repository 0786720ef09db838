//go:build linux

package control_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// stuckStarter leaves the PID file locked and "(starting)" by a program
// whose controller is gone (nobody will ever write its pid): the program
// (name, args) inherits the locked descriptor, and this process closes its
// own. It returns the program's pid.
func stuckStarter(f *fixture, name string, args ...string) int {
	f.t.Helper()
	lf, err := pidlock.Acquire(f.pidFile)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := lf.WriteStarting(); err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.ExtraFiles = []*os.File{lf.File()}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	pid := cmd.Process.Pid
	f.t.Cleanup(func() { proctest.Kill(pid) })
	lf.Close() // only the program keeps the lock
	return pid
}

// TestStopStuckStarter: a PID file left "(starting)" by a program whose
// controller died is stopped: Stop signals the process that holds the lock
// (SIGTERM, then SIGKILL after KillAfter for one that ignores SIGTERM),
// waits for the lock, and empties the file, so that the daemon is then
// not running.
func TestStopStuckStarter(t *testing.T) {
	t.Run("term", func(t *testing.T) {
		f := newFixture(t)
		holder := stuckStarter(f, f.bin, "-holder")
		res, err := control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusOK)
		proctest.WaitFor(t, 10*time.Second, "the lock holder to exit", func() bool { return !proctest.Alive(holder) })
		if res.Before.State != lockfile.Starting || f.content() != "" {
			t.Errorf("Before %v, content %q", res.Before.State, f.content())
		}
		res, err = control.Check(ctxFor(t, long), f.opts())
		want(t, "Check after Stop", res, err, control.StatusNotRunning)
	})
	t.Run("kill-after", func(t *testing.T) {
		f := newFixture(t)
		holder := stuckStarter(f, "sh", "-c", `trap "" TERM; exec sleep 1000`)
		proctest.WaitFor(t, 10*time.Second, "sleep to run", func() bool { return procComm(holder) == "sleep" })
		o := f.opts()
		o.KillAfter = 200 * time.Millisecond
		escalated := f.hooks.on("SIGKILL")
		res, err := control.Stop(ctxFor(t, long), o)
		want(t, "Stop", res, err, control.StatusOK)
		select {
		case <-escalated:
		default:
			t.Error("no SIGKILL escalation logged")
		}
		proctest.WaitFor(t, 10*time.Second, "the lock holder to exit", func() bool { return !proctest.Alive(holder) })
		if f.content() != "" {
			t.Errorf("content %q", f.content())
		}
	})
	t.Run("timeout-names-holder", func(t *testing.T) {
		f := newFixture(t)
		holder := stuckStarter(f, "sh", "-c", `trap "" TERM; exec sleep 1000`)
		proctest.WaitFor(t, 10*time.Second, "sleep to run", func() bool { return procComm(holder) == "sleep" })
		res, err := control.Stop(ctxFor(t, 500*time.Millisecond), f.opts())
		want(t, "Stop", res, err, control.StatusFailed)
		if !strings.Contains(err.Error(), "pid "+strconv.Itoa(holder)) {
			t.Errorf("error %q does not name the lock holder %d", err, holder)
		}
		if !proctest.Alive(holder) {
			t.Error("a holder that ignores SIGTERM died without kill-after")
		}
	})
}

// procComm returns the command name of pid.
func procComm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}
