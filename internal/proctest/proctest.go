//go:build linux

// Package proctest holds helpers for tests that start real daemons: making
// the test binary a child subreaper, telling live processes from zombies,
// reaping and killing by PID, and building binaries where an unprivileged
// user can execute them.
//
// PID 1 on the test machines does not reap orphans, so a test that starts a
// daemon (which is re-parented away from its launcher) calls [Subreaper] in
// TestMain; daemons then become our children when their launcher exits, and
// [Reap] or [Kill] collect them by PID. A zombie counts as gone.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Subreaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER), so orphaned descendants are re-parented to it.
func Subreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	return nil
}

// State returns the one-letter state of pid from /proc/PID/stat ('R', 'S',
// 'Z', ...), or 0 if there is no such process.
func State(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// Alive reports whether pid is a process that has not exited (zombies and
// dead processes are not alive).
func Alive(pid int) bool {
	s := State(pid)
	return s != 0 && s != 'Z' && s != 'X'
}

// Reap collects pid if it is a zombie child of ours; it never blocks.
func Reap(pid int) {
	if pid > 1 {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// Kill sends SIGKILL to pid if it is alive, waits up to 10 s for it to exit
// and, if it is our child, to be reaped. Only PIDs the test itself learnt
// for processes it started may be passed; pid <= 1 and our own PID are
// ignored.
func Kill(pid int) {
	if pid <= 1 || pid == os.Getpid() {
		return
	}
	if Alive(pid) {
		unix.Kill(pid, unix.SIGKILL)
	}
	// A multi-threaded process shows as a zombie as soon as its main
	// thread exits, but can be reaped only once all its threads have: keep
	// reaping until it is collected or turns out not to be our child, so
	// that no zombie is left for a PID 1 that does not reap.
	Eventually(10*time.Second, func() bool {
		if Alive(pid) {
			return false
		}
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return wpid == pid || err != nil
	})
}

// Cleanup registers [Kill] of pid with t.Cleanup.
func Cleanup(t testing.TB, pid int) {
	t.Helper()
	t.Cleanup(func() { Kill(pid) })
}

// Eventually polls cond every few milliseconds until it is true or d has
// passed, and reports whether it became true.
func Eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}

// WaitFor fails t unless cond becomes true within d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Build compiles the Go package pkg (an import path or a ./relative path
// from the module root) into dir and returns the binary's path. dir and its
// parent are made world-searchable, so that the binary can be re-executed
// after switching to an unprivileged user (t.TempDir() is 0700).
func Build(dir, pkg string) (string, error) {
	return BuildTags(dir, pkg, "")
}

// BuildTags is [Build] with build tags (a comma-separated list, as for
// go build -tags; empty for none), e.g. "daemonkit_faults" for the
// framework's fault-injection points.
func BuildTags(dir, pkg, tags string) (string, error) {
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// ModuleRoot returns the directory holding go.mod, found upward from the
// working directory.
func ModuleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// RequireRoot skips t with a clear reason unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to switch to user nobody (CI runs as root)")
	}
}

// Wait waits for a started command to exit, at most d; past that it kills
// the command, reaps it and fails t. It returns cmd.Wait's error.
func Wait(t testing.TB, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s (pid %d) did not exit within %v; killed", cmd.Path, cmd.Process.Pid, d)
		return nil
	}
}
