//go:build linux

package framework

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"

	"github.com/daemonkit/daemonkit/control"
)

// nestedBins builds examples/hello and daemonctl into a temporary
// directory.
func nestedBins(t *testing.T) (hello, daemonctl string) {
	t.Helper()
	dir := t.TempDir()
	var err error
	if hello, err = proctest.Build(dir, "./examples/hello"); err != nil {
		t.Fatal(err)
	}
	if daemonctl, err = proctest.Build(dir, "./cmd/daemonctl"); err != nil {
		t.Fatal(err)
	}
	return hello, daemonctl
}

// runNested runs a command line with a bound and returns its exit status
// and output.
func runNested(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // also from t.Cleanup
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q did not finish in time: %s", args, out.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// stopAfter stops the hello daemon of pidFile when the test ends, killing
// it if the stop fails.
func stopAfter(t *testing.T, hello, pidFile string) {
	t.Cleanup(func() {
		info, err := lockfile.Inspect(pidFile)
		if err != nil || info.PID <= 1 {
			return
		}
		if code, _ := runNested(t, hello, "stop", "--pid-file", pidFile); code != 0 {
			proctest.Kill(info.PID)
		}
	})
}

// TestStartUnderController: a service's start verb, run as the start
// command of a controller of its PID file (daemonctl; flock(1) -o, which
// like libucw's ucw-daemon-control locks the guard, passes nothing on and
// waits; either through a wrapper script), starts the daemon at once and
// says 0.
func TestStartUnderController(t *testing.T) {
	hello, daemonctl := nestedBins(t)
	for name, prefix := range map[string]func(pid string) []string{
		"daemonctl": func(pid string) []string { return []string{daemonctl, "start", "-p", pid, "--timeout", "30s", "--"} },
		"flock":     func(pid string) []string { return []string{"flock", "-o", "-x", lockfile.GuardPath(pid)} },
		"flock+script": func(pid string) []string {
			return []string{"flock", "-o", "-x", lockfile.GuardPath(pid), "sh", "-c", `"$@"`, "sh"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "hello.pid")
			stopAfter(t, hello, pidFile)
			args := append(prefix(pidFile), hello, "start", "--pid-file", pidFile, "--timeout", "20s")
			code, out := runNested(t, args...)
			info, err := lockfile.Inspect(pidFile)
			if code != 0 || err != nil || info.State != lockfile.Running {
				t.Fatalf("%q: exit %d: %s; pid file %v (%v)", args, code, out, info.State, err)
			}
		})
	}
}

// TestStartUnderControllerOfAnotherPIDFile: `daemonctl start -p A --
// hello start --pid-file B` refuses with 102 before starting anything, and
// says why; no daemon runs on either file.
func TestStartUnderControllerOfAnotherPIDFile(t *testing.T) {
	hello, daemonctl := nestedBins(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pid"), filepath.Join(dir, "b.pid")
	stopAfter(t, hello, a)
	stopAfter(t, hello, b)
	code, out := runNested(t, daemonctl, "start", "-p", a, "--timeout", "30s", "--", hello, "start", "--pid-file", b, "--timeout", "20s")
	if code != int(control.StatusFailed) || !strings.Contains(out, "started by a controller for "+a) || !strings.Contains(out, "my pid file is "+b) {
		t.Errorf("exit %d, want %d with the reason: %s", code, int(control.StatusFailed), out)
	}
	for _, p := range []string{a, b} {
		if info, err := lockfile.Inspect(p); err != nil || info.State.Alive() || info.State == lockfile.Stale {
			t.Errorf("pid file %s is %v (%q, %v): something was started", p, info.State, info.Content, err)
		}
	}
	if _, err := os.Stat(b); err == nil {
		t.Errorf("%s was created: the service started before refusing", b)
	}
}
