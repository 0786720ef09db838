//go:build linux

package control_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// readPIDs waits until file holds n PIDs, one a line, registers their
// cleanup and returns them.
func readPIDs(t *testing.T, file string, n int) []int {
	t.Helper()
	var pids []int
	proctest.WaitFor(t, long, strconv.Itoa(n)+" pids in "+file, func() bool {
		b, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return len(pids) >= n
	})
	for _, pid := range pids {
		proctest.Cleanup(t, pid)
	}
	return pids
}

// guardFree fails t if any process holds the guard file's lock, and checks
// that another action takes it at once.
func guardFree(t *testing.T, f *fixture) {
	t.Helper()
	guard := lockfile.GuardPath(f.pidFile)
	if holders, err := procfs.LockHolders(guardID(t, guard)); err != nil || len(holders) != 0 {
		t.Errorf("guard %s is held by %v (%v)", guard, holders, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := control.Check(ctx, f.opts()); err != nil {
		t.Errorf("Check after the start: %v", err)
	}
}

// TestStartCommandGetsNoGuard: a start command that keeps every descriptor
// and leaves a process behind neither has the guard file open nor holds
// its lock after the start action ends.
func TestStartCommandGetsNoGuard(t *testing.T) {
	f := newFixture(t)
	pids := filepath.Join(f.dir, "pids")
	c := control.Command("/bin/sh", "-c", `sleep 100000 & echo $! > "$0"`, pids)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	control.Start(ctxFor(t, long), f.opts(), c) // fails: nothing writes the PID file
	sleeper := readPIDs(t, pids, 1)[0]
	if !proctest.Alive(sleeper) {
		t.Fatalf("the start command's child %d is gone", sleeper)
	}
	dev, ino := guardID(t, lockfile.GuardPath(f.pidFile))
	if fd := proctest.OpenFD(sleeper, dev, ino); fd != "" {
		t.Errorf("the start command's child %d has the guard file open (%s)", sleeper, fd)
	}
	guardFree(t, f)
}

// TestKilledControllerLeavesNoGuard: a controller killed with SIGKILL in
// the middle of a start leaves the guard file free, although its start
// command and that command's child (which keep all their descriptors)
// live on.
func TestKilledControllerLeavesNoGuard(t *testing.T) {
	f := newFixture(t)
	pids := filepath.Join(f.dir, "pids")
	ctl := exec.Command(f.bin, "-ctl", "start-cmd", "-pidfile", f.pidFile, "/bin/sh", "-c", `sleep 100000 & echo $$ $! > "$0"; exec sleep 100000`, pids)
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, ctl.Process.Pid)
	readPIDs(t, pids, 2)
	ctl.Process.Kill()
	ctl.Wait()
	guardFree(t, f)
}

// TestStartCommandCanSetsid: a start command is no process-group leader,
// so it can call setsid(2), as libucw's daemon_run does.
func TestStartCommandCanSetsid(t *testing.T) {
	f := newFixture(t)
	res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd("-setsid"))
	if res.After.PID > 0 {
		proctest.Cleanup(t, res.After.PID)
	}
	want(t, "Start of a command that calls setsid", res, err, control.StatusOK)
}

// TestStartTimeoutEndsTree: when the start times out, the start command's
// whole process tree ends: a wrapper, its children and grandchildren, one
// that ignores SIGTERM, one that starts a new child on SIGTERM, and one
// that made itself a session leader.
func TestStartTimeoutEndsTree(t *testing.T) {
	f := newFixture(t)
	pids := filepath.Join(f.dir, "pids")
	script := `
		sh -c 'trap "" TERM; sleep 100000 & echo $! >> "$0"; wait' "$0" &
		sh -c 'trap "sleep 100000 & echo \$! >> \"\$0\"" TERM; while :; do sleep 0.05; done' "$0" &
		setsid sh -c 'sleep 100000 & echo $! >> "$0"; wait' "$0" &
		sleep 100000 & echo $! >> "$0"
		echo $$ >> "$0"
		wait`
	c := control.Command("/bin/sh", "-c", script, pids)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	c.WaitDelay = time.Second
	start := time.Now()
	res, err := control.Start(ctxFor(t, 5*time.Second), f.opts(), c)
	want(t, "Start that times out", res, err, control.StatusFailed)
	all := readPIDs(t, pids, 5)
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Start took %v with a 5s timeout", d)
	}
	// Start killed what was left before it returned: only the kernel's
	// teardown of the killed processes may take a moment.
	proctest.WaitFor(t, 5*time.Second, "the start command's tree to end", func() bool {
		for _, pid := range all {
			if proctest.Alive(pid) {
				return false
			}
		}
		return true
	})
}

// TestStartTimeoutReturnsByDeadline: a start command whose tree ignores
// SIGTERM (and keeps a member forking) is ended, searched for and killed
// by Start's deadline, not after it: SIGTERM early, SIGKILL half-way, and
// the search for members bounded by the deadline.
func TestStartTimeoutReturnsByDeadline(t *testing.T) {
	f := newFixture(t)
	pids := filepath.Join(f.dir, "pids")
	script := `
		sh -c 'trap "" TERM; while :; do sleep 100000 & echo $! >> "$0"; sleep 0.2; done' "$0" &
		echo $! >> "$0"
		trap "" TERM
		sleep 100000 & echo $! >> "$0"
		echo $$ >> "$0"
		wait`
	c := control.Command("/bin/sh", "-c", script, pids)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	c.WaitDelay = 4 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	res, err := control.Start(ctx, f.opts(), c)
	returned := time.Now()
	want(t, "Start that times out", res, err, control.StatusFailed)
	if returned.After(dl) {
		t.Errorf("Start returned %v after its deadline", returned.Sub(dl))
	}
	all := readPIDs(t, pids, 4)
	proctest.WaitFor(t, 5*time.Second, "the start command's tree to end", func() bool {
		for _, pid := range all {
			if proctest.Alive(pid) {
				return false
			}
		}
		return true
	})
}
