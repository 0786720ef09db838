//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/internal/verbs"
	"github.com/daemonkit/daemonkit/lockfile"
)

func TestMain(m *testing.M) {
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// daemonctl runs the CLI in process and returns its exit status, stdout and
// stderr.
func daemonctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// killPIDFile kills whatever running daemon pidFile names, at cleanup.
func killPIDFile(t *testing.T, pidFile string) {
	t.Cleanup(func() {
		if info, err := lockfile.Inspect(pidFile); err == nil && info.State == lockfile.Running {
			proctest.Kill(info.PID)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	for _, args := range [][]string{
		{},
		{"frobnicate", "--pid-file", pidFile},
		{"status"}, // no --pid-file
		{"status", "--pid-file", pidFile, "extra"}, // stray argument
		{"stop", "--pid-file", pidFile, "--bogus"}, // unknown flag
		{"stop", "--pid-file", pidFile, "--signal", "NOPE"},
		{"stop", "--pid-file", pidFile, "--signal", "0"},
		{"stop", "--pid-file", pidFile, "--timeout", "soon"},
		{"stop", "--pid-file", pidFile, "--timeout", "-1s"},
		{"stop", "--pid-file", pidFile, "--kill-after", "-1s"},
		{"signal", "--pid-file", pidFile},
		{"signal", "--pid-file", pidFile, "HUP", "TERM"},
		{"start", "--pid-file", pidFile}, // no command
		{"start", "--pid-file", pidFile, "--notify", "--", "sleep", "1"},
		{"start", "--pid-file", pidFile, "--user", "nobody", "--", "sleep", "1"},
		{"start", "--pid-file", pidFile, "--background", "--notify", "--ready-fd", "5", "--", "sleep", "1"},
		{"start", "--pid-file", pidFile, "--background", "--ready-fd", "3", "--", "sleep", "1"},
		{"start", "--pid-file", pidFile, "--background", "--umask", "999", "--", "sleep", "1"},
		{"start", "--pid-file", pidFile, "--background", "--env", "NOEQUALS", "--", "sleep", "1"},
		{"--start", "--stop", "--pid-file", pidFile},
		{"status", "--pid-file", pidFile, "--quiet", "--verbose"},
	} {
		code, _, stderr := daemonctl(t, args...)
		if code != 1 || !strings.Contains(stderr, "daemonctl --help") {
			t.Errorf("daemonctl %q: exit %d, stderr %q; want 1 and a usage hint", args, code, stderr)
		}
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error created the PID file")
	}
}

func TestHelpAndCompletion(t *testing.T) {
	code, out, _ := daemonctl(t, "--help")
	if code != 0 || !strings.Contains(out, "Exit status") || !strings.Contains(out, "--pid-file") {
		t.Errorf("--help: exit %d, output %q", code, out)
	}
	code, out, _ = daemonctl(t, "start", "--help")
	if code != 0 || !strings.Contains(out, "--ready-fd") || !strings.Contains(out, "Examples:") {
		t.Errorf("start --help: exit %d, output %q", code, out)
	}
	code, out, _ = daemonctl(t, "__complete", "signal", "-p", "x.pid", "")
	if code != 0 || !strings.Contains(out, "USR1") {
		t.Errorf("completing signal: exit %d, output %q", code, out)
	}
	code, out, _ = daemonctl(t, "__complete", "stop", "--signal", "")
	if code != 0 || !strings.Contains(out, "TERM") {
		t.Errorf("completing stop --signal: exit %d, output %q", code, out)
	}
	code, out, _ = daemonctl(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "daemonctl") {
		t.Errorf("completion bash: exit %d, %d bytes", code, len(out))
	}
}

func TestBackgroundLifecycle(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	killPIDFile(t, pidFile)

	code, _, stderr := daemonctl(t, "status", "--pid-file", pidFile)
	if code != 101 {
		t.Fatalf("status before start: %d %q, want 101", code, stderr)
	}
	code, _, stderr = daemonctl(t, "start", "--pid-file", pidFile, "--background", "--", "sleep", "1000")
	if code != 0 {
		t.Fatalf("start: %d %q", code, stderr)
	}
	info, _ := lockfile.Inspect(pidFile)
	if info.State != lockfile.Running {
		t.Fatalf("after start: %v", info.State)
	}
	proctest.Cleanup(t, info.PID) // kills if alive, and reaps our child
	if want := fmt.Sprintf("daemonctl: %s: started (pid %d)\n", pidFile, info.PID); stderr != want {
		t.Errorf("start said %q, want %q", stderr, want)
	}
	code, _, stderr = daemonctl(t, "start", "-p", pidFile, "--background", "--", "sleep", "1000")
	if info, _ := lockfile.Inspect(pidFile); info.PID != 0 {
		proctest.Cleanup(t, info.PID)
	}
	if code != 100 || !strings.Contains(stderr, "already running (pid "+strconv.Itoa(info.PID)+")") {
		t.Errorf("second start: %d %q, want 100 naming pid %d", code, stderr, info.PID)
	}

	code, out, _ := daemonctl(t, "status", "--pid-file", pidFile, "--json")
	var st map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: %d %q", code, out)
	}
	if st["state"] != "running" || st["pid"] != float64(info.PID) || st["pid_file"] != pidFile ||
		st["guard_file"] != strings.TrimSuffix(pidFile, ".pid")+".lock" || st["since"] == nil || st["uptime_seconds"] == nil {
		t.Errorf("status --json: %v", st)
	}

	code, _, stderr = daemonctl(t, "--stop", "--pid-file", pidFile, "--quiet")
	if code != 0 || stderr != "" {
		t.Errorf("--stop --quiet: %d %q, want 0 and silence", code, stderr)
	}
	if proctest.Alive(info.PID) {
		t.Errorf("pid %d alive after stop", info.PID)
	}
	code, _, stderr = daemonctl(t, "stop", "--pid-file", pidFile)
	if code != 100 || !strings.Contains(stderr, "not running") {
		t.Errorf("second stop: %d %q, want 100", code, stderr)
	}
}

func TestBackgroundNotReady(t *testing.T) {
	dir := t.TempDir()
	pidFile, out := filepath.Join(dir, "d.pid"), filepath.Join(dir, "out.log")
	killPIDFile(t, pidFile)
	// sleep never sends READY=1: the action times out.
	code, _, stderr := daemonctl(t, "start", "-p", pidFile, "--timeout", "500ms", "--background", "--notify",
		"--output", out, "--", "sleep", "1000")
	if code != 102 || !strings.Contains(stderr, "not ready") {
		t.Errorf("start: %d %q, want 102 and 'not ready'", code, stderr)
	}
	if info, _ := lockfile.Inspect(pidFile); info.State != lockfile.NotRunning {
		t.Errorf("after a failed start: %v", info.State)
	}
	// A command that fails quotes its output.
	code, _, stderr = daemonctl(t, "start", "-p", pidFile, "--background", "--notify", "--output", out,
		"--", "sh", "-c", "echo cannot open config; exit 7")
	if code != 102 || !strings.Contains(stderr, "exit status 7") || !strings.Contains(stderr, "cannot open config") {
		t.Errorf("start: %d %q, want 102 with status and output", code, stderr)
	}
}

func TestStatusStaleAndJSON(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid := pidfile.PIDMax() // stale: unlocked; whether it lives does not matter
	os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644)
	code, _, stderr := daemonctl(t, "check", "-p", pidFile)
	if code != 103 || !strings.Contains(stderr, "stale") {
		t.Errorf("check: %d %q, want 103", code, stderr)
	}
	code, out, _ := daemonctl(t, "status", "-p", pidFile, "--json", "--guard-file", pidFile+".g")
	want := fmt.Sprintf(`{"state":"stale","pid":%d,"pid_file":%q,"guard_file":%q}`+"\n", pid, pidFile, pidFile+".g")
	if code != 103 || out != want {
		t.Errorf("status --json: %d %q, want 103 %q", code, out, want)
	}
}

// A guard lock held by another action: status --json times out and says
// "unknown" rather than "not-running".
func TestStatusJSONGuardTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	g, err := pidlock.Acquire(lockfile.GuardPath(pidFile))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	code, out, stderr := daemonctl(t, "status", "-p", pidFile, "--json", "--timeout", "200ms")
	var st map[string]any
	if code != 102 || json.Unmarshal([]byte(out), &st) != nil || st["state"] != "unknown" || st["pid_file"] != pidFile ||
		!strings.Contains(st["error"].(string), "guard") || !strings.Contains(stderr, "timed out") {
		t.Errorf("status --json with the guard held: %d %q %q", code, out, stderr)
	}
}

func TestSignalSpellings(t *testing.T) {
	for _, s := range []string{"SIGTERM", "TERM", "term", "15", "SigTerm"} {
		c := &cli{pidFile: "/x.pid"}
		o, _, cancel, err := c.prepare(context.Background(), s, time.Second)
		if cancel != nil {
			cancel()
		}
		if err != nil || o.Signal != 15 {
			t.Errorf("options(%q): signal %d, %v; want 15", s, o.Signal, err)
		}
	}
	for _, s := range []string{"0", "-1", "TERMINATE", "SIG", "65", "15x"} {
		c := &cli{pidFile: "/x.pid"}
		if _, _, _, err := c.prepare(context.Background(), s, time.Second); err == nil {
			t.Errorf("options(%q) accepted", s)
		}
	}
}

func TestStartPlainCommand(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	killPIDFile(t, pidFile)
	// Plain start waits for the launcher to exit and then requires the
	// daemon to run: a failing launcher and one that starts nothing are
	// both failures. (A launcher that works is tested in integration_test.)
	code, _, stderr := daemonctl(t, "start", "-p", pidFile, "--", "sh", "-c", "exit 3")
	if code != 102 || !strings.Contains(stderr, "status 3") {
		t.Errorf("failing launcher: %d %q, want 102 with its status", code, stderr)
	}
	code, _, stderr = daemonctl(t, "start", "-p", pidFile, "--", "true")
	if code != 102 || !strings.Contains(stderr, "not running") {
		t.Errorf("launcher that starts nothing: %d %q, want 102", code, stderr)
	}
}

// A PID file path that can only be a directory is a usage error.
func TestPIDFileDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{dir + "/", filepath.Join(dir, "missing") + "/", ".", "..", dir + "/.", dir + "/.."} {
		for _, verb := range []string{"status", "stop", "reload"} {
			code, _, stderr := daemonctl(t, verb, "--pid-file", p)
			if code != verbs.ExitUsage || !strings.Contains(stderr, "names a directory") {
				t.Errorf("%s --pid-file %s: exit %d, %q; want 1 and 'names a directory'", verb, p, code, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("guard file %s/.lock created (%v)", dir, err)
	}
	code, _, stderr := daemonctl(t, "status", "--pid-file", filepath.Join(dir, "d.pid"), "--guard-file", dir+"/")
	if code != verbs.ExitUsage || !strings.Contains(stderr, "--guard-file") {
		t.Errorf("--guard-file DIR: exit %d, %q; want a usage error", code, stderr)
	}
}

// TestVersion: daemonctl --version prints one line on stdout, alone or
// with other options, and exits 0.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--version", "-q"}} {
		code, stdout, stderr := daemonctl(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "daemonctl ") || strings.Count(stdout, "\n") != 1 || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// TestUsageErrorOneLine: a usage error prints the error and one line
// pointing to --help.
func TestUsageErrorOneLine(t *testing.T) {
	code, stdout, stderr := daemonctl(t, "stop", "--bogus")
	if want := "daemonctl: unknown flag: --bogus\nRun 'daemonctl --help' for usage.\n"; code != 1 || stderr != want || stdout != "" {
		t.Errorf("exit %d, stderr %q, stdout %q; want 1, %q", code, stderr, stdout, want)
	}
}
