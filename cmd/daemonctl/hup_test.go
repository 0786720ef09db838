//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestHangupAbortsBackgroundStart: SIGHUP to a daemonctl that waits for a
// --background daemon's readiness (its terminal was closed) aborts the
// start like SIGINT does: the command is killed and the PID file is left
// not running, instead of a "starting" daemon nobody can stop.
func TestHangupAbortsBackgroundStart(t *testing.T) {
	dir := t.TempDir()
	bin, err := proctest.Build(dir, "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "d.pid")
	cmd := exec.Command(bin, "start", "--pid-file", pidFile, "--background", "--notify", "--", "sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var holders []int
	proctest.WaitFor(t, 10*time.Second, "pid file starting", func() bool {
		info, err := lockfile.Inspect(pidFile)
		if err != nil || info.State != lockfile.Starting {
			return false
		}
		holders = proctest.OpenedBy(info.Dev, info.Ino)
		return true
	})
	for _, pid := range holders {
		proctest.Cleanup(t, pid)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	err = proctest.Wait(t, cmd, 30*time.Second)
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() || ws.ExitStatus() != 102 {
		t.Errorf("daemonctl after SIGHUP: %v (%v), want exit status 102", cmd.ProcessState, err)
	}
	proctest.WaitFor(t, 10*time.Second, "pid file released", func() bool {
		info, err := lockfile.Inspect(pidFile)
		return err == nil && !info.State.Alive()
	})
	for _, pid := range holders {
		if pid != cmd.Process.Pid && unix.Kill(pid, 0) == nil && proctest.Alive(pid) {
			t.Errorf("pid %d that held the pid file is still alive", pid)
		}
	}
	_ = os.Remove(pidFile)
}
