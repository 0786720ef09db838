//go:build linux

package background

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

func TestParseRespawnLimit(t *testing.T) {
	good := map[string]struct {
		n int
		p time.Duration
	}{"5/1m": {5, time.Minute}, "1/30s": {1, 30 * time.Second}, "100/1h30m": {100, 90 * time.Minute}, "007/2s": {7, 2 * time.Second}}
	for s, want := range good {
		n, p, err := ParseRespawnLimit(s)
		if err != nil || n != want.n || p != want.p {
			t.Errorf("ParseRespawnLimit(%q) = %d, %v, %v; want %d, %v", s, n, p, err, want.n, want.p)
		}
	}
	for _, s := range []string{"", "5", "/1m", "5/", "0/1m", "-1/1m", "+5/1m", " 5/1m", "5/1m ", "5/60", "5/0s", "5/-1m", "5/1m/2", "x/1m", "99999999999999999999/1m"} {
		if n, p, err := ParseRespawnLimit(s); err == nil {
			t.Errorf("ParseRespawnLimit(%q) = %d, %v; want an error", s, n, p)
		}
	}
}

// TestRespawnDelays: the delay doubles up to the maximum, and the time a
// program must run for it to start over is ten times the delay, at least
// ten seconds.
func TestRespawnDelays(t *testing.T) {
	r := Respawn{Delay: 300 * time.Millisecond, MaxDelay: 2 * time.Second}.withDefaults()
	var got []time.Duration
	for d := r.Delay; len(got) < 6; d = r.nextDelay(d) {
		got = append(got, d)
	}
	want := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	if resetAfter(300*time.Millisecond) != 10*time.Second || resetAfter(4*time.Second) != 40*time.Second {
		t.Errorf("resetAfter: %v, %v", resetAfter(300*time.Millisecond), resetAfter(4*time.Second))
	}
	if err := (Respawn{Delay: time.Minute, MaxDelay: time.Second}).validate(); err == nil {
		t.Error("a max delay shorter than the delay was accepted")
	}
}

// TestLaunchRespawnFailure: a first start that fails under a supervisor
// is the same *Error as without one, and leaves the PID file not running.
func TestLaunchRespawnFailure(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "f.pid")
	out := filepath.Join(dir, "out")
	_, err := Launch(t.Context(), Options{PIDFile: pidFile, Command: "sh", Args: []string{"-c", "echo broken >&2; exit 3"},
		Output: out, Respawn: &Respawn{}})
	var f *Error
	if !errors.As(err, &f) || !errors.Is(err, ErrExited) || f.PID == 0 || f.Command != "sh" {
		t.Fatalf("Launch: %v (%T), want an *Error wrapping ErrExited", err, err)
	}
	for _, want := range []string{"exited before it was ready (exit status 3)", "last lines of its output:\n  broken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	info, ierr := lockfile.Inspect(pidFile)
	if ierr != nil || info.State != lockfile.NotRunning {
		t.Errorf("PID file after a failed start: %v %q %v", info.State, info.Content, ierr)
	}
}

// TestLaunchRespawn: Launch returns the supervisor, which names itself in
// the PID file and answers AskSupervisor; SIGTERM to it ends the program
// and empties the file.
func TestLaunchRespawn(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "r.pid")
	sup, err := Launch(t.Context(), Options{PIDFile: pidFile, Command: fake, Args: []string{"-notify"}, Readiness: ReadyNotify, Respawn: &Respawn{}})
	if err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, sup)
	info, err := lockfile.Inspect(pidFile)
	if err != nil || info.State != lockfile.Running || info.PID != sup {
		t.Fatalf("PID file: %v %q %v, want running pid %d", info.State, info.Content, err, sup)
	}
	st, err := AskSupervisor(t.Context(), pidFile, lockfile.GuardPath(pidFile), sup)
	if err != nil || st == nil || st.ProgramPID == 0 || st.ProgramState != "running" || st.Restarts != 0 {
		t.Fatalf("AskSupervisor: %+v, %v", st, err)
	}
	prog := st.ProgramPID
	proctest.Cleanup(t, prog)
	if notSup, err := AskSupervisor(t.Context(), pidFile, lockfile.GuardPath(pidFile), os.Getpid()); notSup != nil || err != nil {
		t.Errorf("AskSupervisor of a process that is no supervisor: %+v, %v", notSup, err)
	}
	if err := unix.Kill(sup, unix.SIGTERM); err != nil { // our child: its PID is not reused
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	proctest.WaitFor(t, 30*time.Second, "the supervisor to exit", func() bool {
		pid, _ := unix.Wait4(sup, &ws, unix.WNOHANG, nil)
		return pid == sup || ctx.Err() != nil
	})
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("supervisor ended with %v, want exit status 0", ws)
	}
	if proctest.Alive(prog) {
		t.Errorf("program %d still alive after its supervisor stopped", prog)
	}
	if info, _ := lockfile.Inspect(pidFile); info.State != lockfile.NotRunning {
		t.Errorf("PID file after the stop: %v %q", info.State, info.Content)
	}
}
