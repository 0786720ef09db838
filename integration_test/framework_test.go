//go:build linux

package integration_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestHelloLifecycle: start returns once ready with the PID written and
// locked; the daemon is a detached session leader with cwd /, stdin
// /dev/null, umask 022 and no descriptors but its own; SIGTERM runs the stop
// hook and leaves the PID file empty and unlocked.
func TestHelloLifecycle(t *testing.T) {
	hello := binary(t, "./examples/hello")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "hello.pid"), filepath.Join(dir, "hello.log")

	run(t, nil, hello, "start", "--pid-file", pidFile, "--log-file", logFile, "--interval", "10ms").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	if b, _ := os.ReadFile(pidFile); string(b) != strconv.Itoa(pid)+"\n" {
		t.Fatalf("pid file holds %q", b)
	}
	if _, err := pidlock.Acquire(pidFile); !errorsIsLocked(err) {
		t.Fatalf("pid file not locked while running: %v", err)
	}

	stat := procStat(t, pid) // state ppid pgrp session tty_nr ...
	if stat[3] != strconv.Itoa(pid) || stat[2] != strconv.Itoa(pid) {
		t.Errorf("daemon %d: session %s, process group %s; want a session leader", pid, stat[3], stat[2])
	}
	if stat[4] != "0" {
		t.Errorf("daemon %d has a controlling terminal (tty_nr %s)", pid, stat[4])
	}
	if cwd, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); cwd != "/" {
		t.Errorf("daemon cwd %q, want /", cwd)
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(comm) != "hello\n" {
		t.Errorf("daemon's name (comm) %q, want hello (ps and pgrep must find it)", comm)
	}
	if u := procStatus(t, pid)["Umask"]; u != "0022" {
		t.Errorf("daemon umask %s, want 0022", u)
	}
	// The daemon closes the ready channel once it has read the launcher's
	// ACK, which may be just after start returned.
	var fds map[int]string
	proctest.Eventually(5*time.Second, func() bool { fds = openFDs(t, pid); return len(fds) == 4 })
	if fds[0] != "/dev/null" || fds[1] != logFile || fds[2] != logFile {
		t.Errorf("daemon stdio: %v; want /dev/null and the log file", fds)
	}
	for fd, target := range fds {
		if fd > 2 && target != pidFile {
			t.Errorf("daemon has descriptor %d -> %s; want only 0, 1, 2 and the pid file", fd, target)
		}
	}
	if len(fds) != 4 {
		t.Errorf("daemon descriptors %v; want 0, 1, 2 and the pid file", fds)
	}
	if env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); strings.Contains(string(env), "DAEMONKIT_STAGE=daemon:") == false {
		t.Errorf("daemon was not started with the stage marker: %q", env)
	}
	waitFileContains(t, logFile, "msg=hello")

	r := run(t, nil, hello, "status", "--pid-file", pidFile)
	r.expect(t, 0, "status")
	if !strings.Contains(r.stderr, "running (pid "+strconv.Itoa(pid)+", since ") {
		t.Errorf("status says %q", r.stderr)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })
	if b, err := os.ReadFile(pidFile); err != nil || len(b) != 0 {
		t.Errorf("pid file after stop: %q, %v; want empty", b, err)
	}
	requireReleased(t, pidFile)
	waitFileContains(t, logFile, "msg=goodbye")
	run(t, nil, hello, "status", "--pid-file", pidFile).expect(t, 101, "status after stop")
}

func errorsIsLocked(err error) bool {
	_, ok := err.(*lockfile.LockedError)
	return ok
}

// TestHelloStartTwiceAndStopVerbs: a second start exits 100 naming the pid;
// stop stops it and a second stop exits 100.
func TestHelloStartTwiceAndStopVerbs(t *testing.T) {
	hello := binary(t, "./examples/hello")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	run(t, nil, hello, "start", "--pid-file", pidFile).expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	r := run(t, nil, hello, "start", "--pid-file", pidFile)
	r.expect(t, 100, "second start")
	if !strings.Contains(r.stderr, "already running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("second start said %q", r.stderr)
	}
	if daemonPID(t, pidFile) != pid {
		t.Fatal("second start changed the pid file")
	}
	run(t, nil, hello, "reload", "--pid-file", pidFile).expect(t, 0, "reload")
	run(t, nil, hello, "restart", "--pid-file", pidFile).expect(t, 0, "restart")
	pid2 := daemonPID(t, pidFile)
	if pid2 == pid || proctest.Alive(pid) {
		t.Fatalf("restart: old pid %d alive=%v, new pid %d", pid, proctest.Alive(pid), pid2)
	}
	run(t, nil, hello, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	if proctest.Alive(pid2) {
		t.Fatal("stop returned with the daemon alive")
	}
	requireReleased(t, pidFile)
	run(t, nil, hello, "stop", "--pid-file", pidFile).expect(t, 100, "second stop")
}

// TestFailuresAreReported: a failure in each stage is printed by the
// launcher with the daemon's own message, exit 1, and leaves no lock, no
// PID and no process; a later start succeeds.
func TestFailuresAreReported(t *testing.T) {
	failing := binary(t, "./examples/failing")
	cases := []struct {
		mode  string
		wants []string
		extra []string
	}{
		{"predetach", []string{`pre-detach hook "check-config": config invalid: port missing`}, nil},
		{"postdetach", []string{`post-detach hook "open-store": cannot open store: permission denied`, "exit status 1"}, nil},
		{"ready", []string{`ready hook "announce": announce: registry unreachable`}, nil},
		{"panic", []string{`post-detach hook "open-store": panic: store index corrupt`}, nil},
		{"crash", []string{"exited before it was ready", "panic: crash outside any hook", "exit status 2"}, nil},
		{"exit", []string{"exited before it was ready", "exit status 3", "fatal: giving up"}, nil},
		{"kill", []string{"exited before it was ready", "signal: killed"}, nil},
		{"hang", []string{"did not become ready: no READY within the ready timeout 1s"}, []string{"--ready-timeout", "1s"}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidFile, logFile := filepath.Join(dir, "f.pid"), filepath.Join(dir, "f.log")
			args := append([]string{"start", "--pid-file", pidFile, "--log-file", logFile, "--fail-in", c.mode}, c.extra...)
			r := run(t, nil, failing, args...)
			r.expect(t, 1, "start --fail-in "+c.mode)
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			requireReleased(t, pidFile)
			requireNoProcess(t, pidFile)
			run(t, nil, failing, "start", "--pid-file", pidFile).expect(t, 0, "start after the failure")
			daemonPID(t, pidFile)
			run(t, nil, failing, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
		})
	}
}

// TestStopHookFailure: a failing OnStop hook makes the daemon exit 1 with
// the hook named in its log; the PID file is still emptied.
func TestStopHookFailure(t *testing.T) {
	failing := binary(t, "./examples/failing")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "f.pid"), filepath.Join(dir, "f.log")
	run(t, nil, failing, "start", "--pid-file", pidFile, "--log-file", logFile, "--fail-in", "stop").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatalf("reaping the daemon %d (we are its subreaper): %v", pid, err)
	}
	if ws.ExitStatus() != 1 {
		t.Errorf("daemon exit status %d, want 1", ws.ExitStatus())
	}
	waitFileContains(t, logFile, `stop hook \"flush\": flush: disk full`)
	requireReleased(t, pidFile)
}

// TestMarkerSetByHand: a stage marker in the environment that no launcher
// set is refused with a clear message, without touching the PID file.
func TestMarkerSetByHand(t *testing.T) {
	hello := binary(t, "./examples/hello")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	for _, v := range []string{"daemon:0123456789abcdef0123456789abcdef", "1", ""} {
		r := run(t, []string{"DAEMONKIT_STAGE=" + v}, hello, "start", "--pid-file", pidFile)
		r.expect(t, 1, "start with DAEMONKIT_STAGE="+v)
		if !strings.Contains(r.stderr, "DAEMONKIT_STAGE is set") || !strings.Contains(r.stderr, "unset it") {
			t.Errorf("DAEMONKIT_STAGE=%q: stderr %q", v, r.stderr)
		}
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file was created: %v", err)
	}
	requireNoProcess(t, pidFile)
}

// TestHandoffHooksAndChildren: a listener bound in PreDetach serves in the
// daemon; hooks run in their stages and processes; SIGHUP runs OnReload;
// stop hooks run in reverse order; a program the daemon starts inherits
// neither the marker nor the lock nor the ready channel.
func TestHandoffHooksAndChildren(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	addrFile, childFile := filepath.Join(dir, "addr"), filepath.Join(dir, "child")
	r := run(t, nil, svc, "start", "--pid-file", pidFile, "--record", rec, "--addr-file", addrFile, "--child-pid-file", childFile)
	r.expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	childPID, _ := strconv.Atoi(readFile(t, childFile))
	proctest.Cleanup(t, childPID)

	addr := readFile(t, addrFile)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "pong\n" {
		t.Errorf("handed-over listener answered %q", line)
	}

	env, _ := os.ReadFile("/proc/" + strconv.Itoa(childPID) + "/environ")
	if strings.Contains(string(env), "DAEMONKIT_STAGE") {
		t.Errorf("child of the daemon inherited the stage marker")
	}
	for fd, target := range openFDs(t, childPID) {
		if fd > 2 {
			t.Errorf("child of the daemon inherited descriptor %d -> %s", fd, target)
		}
	}

	syscall.Kill(pid, syscall.SIGHUP)
	waitFileContains(t, rec, "reload "+strconv.Itoa(pid))
	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })
	launcher := "pre-detach "
	want := []string{launcher, "post-detach " + strconv.Itoa(pid), "ready " + strconv.Itoa(pid),
		"reload " + strconv.Itoa(pid), "stop-2 " + strconv.Itoa(pid), "stop-1 " + strconv.Itoa(pid)}
	got := strings.Split(strings.TrimSpace(readFile(t, rec)), "\n")
	if len(got) != len(want) {
		t.Fatalf("hooks ran: %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("hook %d: %q, want %q", i, got[i], want[i])
		}
	}
	if got[0] == "pre-detach "+strconv.Itoa(pid) {
		t.Errorf("pre-detach ran in the daemon, not in the launcher")
	}
	requireReleased(t, pidFile)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestLauncherKilledBeforeAck: a launcher killed with SIGKILL while the
// daemon initialises still leaves a running daemon, which writes its own
// PID.
func TestLauncherKilledBeforeAck(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	logFile := filepath.Join(dir, "svc.log")
	launcher := exec.Command(svc, "start", "--pid-file", pidFile, "--log-file", logFile, "--record", rec, "--delay-ready", "2s")
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { launcher.Process.Kill(); launcher.Wait() })
	// Wait until the daemon stage runs its PostDetach hook, then kill the launcher.
	proctest.WaitFor(t, 10*time.Second, "the daemon stage to start", func() bool {
		b, _ := os.ReadFile(rec)
		return strings.Contains(string(b), "post-detach")
	})
	for _, pid := range procsWithArg(pidFile) {
		if pid != launcher.Process.Pid {
			proctest.Cleanup(t, pid)
		}
	}
	launcher.Process.Kill()
	launcher.Wait()
	var pid int
	proctest.WaitFor(t, 10*time.Second, "the daemon to write its own pid", func() bool {
		info, _ := lockfile.Inspect(pidFile)
		pid = info.PID
		return info.State == lockfile.Running
	})
	if pid == launcher.Process.Pid || !proctest.Alive(pid) {
		t.Fatalf("pid file names %d (launcher %d), alive=%v", pid, launcher.Process.Pid, proctest.Alive(pid))
	}
	// The PID came from the daemon itself, not from a launcher that got
	// READY before it died.
	waitFileContains(t, logFile, "launcher did not acknowledge READY")
	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })
	requireReleased(t, pidFile)
}

// TestUserNobody: as root, --user nobody gives the daemon nobody's real,
// effective, saved and filesystem uid and gid, and exactly nobody's groups;
// having dropped privileges it still empties its PID file on stop.
func TestUserNobody(t *testing.T) {
	proctest.RequireRoot(t)
	hello := binary(t, "./examples/hello")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "hello.pid"), filepath.Join(dir, "hello.log")
	run(t, nil, hello, "start", "--pid-file", pidFile, "--log-file", logFile, "--user", "nobody").expect(t, 0, "start --user nobody")
	pid := daemonPID(t, pidFile)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	st := procStatus(t, pid)
	if want := strings.Repeat(u.Uid+" ", 3) + u.Uid; st["Uid"] != want {
		t.Errorf("Uid: %q, want %q", st["Uid"], want)
	}
	if want := strings.Repeat(u.Gid+" ", 3) + u.Gid; st["Gid"] != want {
		t.Errorf("Gid: %q, want %q", st["Gid"], want)
	}
	gids, _ := u.GroupIds()
	if got := strings.Fields(st["Groups"]); strings.Join(sorted(got), ",") != strings.Join(sorted(gids), ",") {
		t.Errorf("Groups: %v, want %v", got, gids)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("log file mode: %v %v, want 0640", fi.Mode(), err)
	} else if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != u.Uid {
		t.Errorf("log file owner %d, want nobody", st.Uid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })
	if b, _ := os.ReadFile(pidFile); len(b) != 0 {
		t.Errorf("pid file after stop as nobody: %q, want empty", b)
	}
	requireReleased(t, pidFile)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestFailedStartLeavesNoChildren: what a PostDetach hook started is ended
// when a later hook fails, with the daemon stage.
func TestFailedStartLeavesNoChildren(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, childFile := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "child")
	r := run(t, nil, svc, "start", "--pid-file", pidFile, "--child-pid-file", childFile, "--fail-ready")
	r.expect(t, 1, "start --fail-ready")
	if !strings.Contains(r.stderr, "ready check failed on purpose") {
		t.Errorf("stderr: %s", r.stderr)
	}
	childPID, _ := strconv.Atoi(readFile(t, childFile))
	proctest.Cleanup(t, childPID)
	proctest.WaitFor(t, 5*time.Second, "the daemon's child to be ended", func() bool { return !proctest.Alive(childPID) })
	requireReleased(t, pidFile)
	requireNoProcess(t, pidFile)
}

// TestSlowReloadDoesNotBlockStop: a stop is not held up by an OnReload
// hook that takes long and ignores its context.
func TestSlowReloadDoesNotBlockStop(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	run(t, nil, svc, "start", "--pid-file", pidFile, "--record", rec, "--reload-takes", "1m").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	// reload waits for the hook's verdict: it gives up after its timeout
	// and says so, while the daemon goes on reloading.
	r := run(t, nil, svc, "reload", "--pid-file", pidFile, "--timeout", "2s")
	r.expect(t, 102, "reload that outlasts its --timeout")
	if !strings.Contains(r.stderr, "timed out") {
		t.Errorf("reload stderr: %s", r.stderr)
	}
	waitFileContains(t, rec, "reload "+strconv.Itoa(pid))
	r = run(t, nil, svc, "stop", "--pid-file", pidFile, "--timeout", "20s")
	r.expect(t, 0, "stop during a slow reload")
	if proctest.Alive(pid) {
		t.Fatal("daemon alive after stop")
	}
	requireReleased(t, pidFile)
}

// TestRelativePathsAndForegroundLog: relative --pid-file and --log-file
// name the same files in the daemon (which runs in /), and --log-file
// applies in the foreground too.
func TestRelativePathsAndForegroundLog(t *testing.T) {
	hello := binary(t, "./examples/hello")
	dir := t.TempDir()
	cmd := exec.Command(hello, "start", "--pid-file", "rel.pid", "--log-file", "rel.log", "--interval", "10ms")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start with relative paths: %v\n%s", err, out)
	}
	pidFile, logFile := filepath.Join(dir, "rel.pid"), filepath.Join(dir, "rel.log")
	pid := daemonPID(t, pidFile)
	os.Rename(logFile, logFile+".1") // as logrotate does
	syscall.Kill(pid, syscall.SIGHUP)
	waitFileContains(t, logFile, "msg=hello") // reopened by its absolute path
	syscall.Kill(pid, syscall.SIGTERM)
	proctest.WaitFor(t, 10*time.Second, "daemon to exit", func() bool { return !proctest.Alive(pid) })

	fgLog := filepath.Join(dir, "fg.log")
	fg := exec.Command(hello, "run", "--pid-file", filepath.Join(dir, "fg.pid"), "--log-file", fgLog, "--interval", "10ms")
	var out strings.Builder
	fg.Stdout, fg.Stderr = &out, &out
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, fg.Process.Pid)
	waitFileContains(t, fgLog, "stage=foreground")
	fg.Process.Signal(syscall.SIGTERM)
	if err := proctest.Wait(t, fg, 30*time.Second); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if out.Len() != 0 {
		t.Errorf("run --log-file still wrote to the terminal: %q", out.String())
	}
}

// TestBadChdirIsNamed: a --chdir that does not exist is reported as such,
// not as an exec failure of the binary.
func TestBadChdirIsNamed(t *testing.T) {
	hello := binary(t, "./examples/hello")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	r := run(t, nil, hello, "start", "--pid-file", pidFile, "--chdir", "/nonexistent-daemonkit")
	r.expect(t, 1, "start --chdir /nonexistent")
	if !strings.Contains(r.stderr, "working directory (--chdir)") || !strings.Contains(r.stderr, "/nonexistent-daemonkit") {
		t.Errorf("stderr: %s", r.stderr)
	}
	requireReleased(t, pidFile)
}

// TestMainVerbEdges: an unknown verb is named; restart honours
// --kill-after on a daemon that ignores SIGTERM; a control-level failure
// (an unsafe PID file) exits 102, not 1 (which means the daemon failed).
func TestMainVerbEdges(t *testing.T) {
	failing := binary(t, "./examples/failing")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "f.pid")

	r := run(t, nil, failing, "bogus", "--pid-file", pidFile)
	r.expect(t, 1, "unknown verb")
	if !strings.Contains(r.stderr, `unknown verb "bogus"`) {
		t.Errorf("unknown verb: %s", r.stderr)
	}

	run(t, nil, failing, "start", "--pid-file", pidFile, "--fail-in", "ignoreterm").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	run(t, nil, failing, "restart", "--pid-file", pidFile, "--fail-in", "ignoreterm",
		"--kill-after", "300ms", "--stop-timeout", "1m").expect(t, 0, "restart --kill-after")
	pid2 := daemonPID(t, pidFile)
	if pid2 == pid || proctest.Alive(pid) {
		t.Fatalf("restart: old %d alive=%v, new %d", pid, proctest.Alive(pid), pid2)
	}
	run(t, nil, failing, "stop", "--pid-file", pidFile, "--kill-after", "300ms").expect(t, 0, "stop --kill-after")

	unsafe := filepath.Join(dir, "unsafe.pid")
	if err := os.WriteFile(unsafe, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(unsafe, 0o666)
	// A world-writable PID file is used with a warning (only a process
	// that holds its lock is ever signalled): the start is not a failure.
	r = run(t, nil, failing, "start", "--pid-file", unsafe)
	r.expect(t, 0, "start with a world-writable pid file")
	if !strings.Contains(r.stderr, "world-writable") {
		t.Errorf("unsafe pid file: %s", r.stderr)
	}
	run(t, nil, failing, "stop", "--pid-file", unsafe).expect(t, 0, "stop with a world-writable pid file")
	requireNoProcess(t, unsafe)
}

// TestRestartInForeground: restart of a detached daemon into the
// foreground stops it under the guard and runs outside it, so that the
// control verbs still work on the new daemon.
func TestRestartInForeground(t *testing.T) {
	hello := binary(t, "./examples/hello")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	run(t, nil, hello, "start", "--pid-file", pidFile).expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	fg := exec.Command(hello, "restart", "--foreground", "--pid-file", pidFile)
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, fg.Process.Pid)
	proctest.WaitFor(t, 10*time.Second, "the foreground daemon to be running", func() bool {
		info, _ := lockfile.Inspect(pidFile)
		return info.State == lockfile.Running && info.PID == fg.Process.Pid
	})
	if proctest.Alive(pid) {
		t.Fatal("the detached daemon survived the restart")
	}
	run(t, nil, hello, "status", "--pid-file", pidFile, "--timeout", "5s").expect(t, 0, "status of the foreground daemon")
	run(t, nil, hello, "stop", "--pid-file", pidFile, "--timeout", "10s").expect(t, 0, "stop of the foreground daemon")
	if err := proctest.Wait(t, fg, 30*time.Second); err != nil {
		t.Errorf("foreground daemon exited with %v", err)
	}
}

// TestDaemonEnforcesReadyTimeout: with its launcher gone, a daemon whose
// start hooks overrun the ready timeout gives up by itself instead of
// staying "starting" for ever.
func TestDaemonEnforcesReadyTimeout(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	launcher := exec.Command(svc, "start", "--pid-file", pidFile, "--record", rec, "--delay-ready", "1h", "--ready-timeout", "2s")
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { launcher.Process.Kill(); launcher.Wait() })
	waitFileContains(t, rec, "post-detach")
	var daemon int
	for _, pid := range procsWithArg(pidFile) {
		if pid != launcher.Process.Pid {
			daemon = pid
			proctest.Cleanup(t, pid)
		}
	}
	if daemon == 0 {
		t.Fatal("no daemon stage found")
	}
	launcher.Process.Kill()
	launcher.Wait()
	proctest.WaitFor(t, 15*time.Second, "the daemon to give up after its ready timeout", func() bool { return !proctest.Alive(daemon) })
	requireReleased(t, pidFile)
}

// TestStopHooksGetTheirOwnTime: a body that ignores the stop overruns
// StopTimeout; the OnStop hooks still run, in reverse order, and the PID
// file is emptied.
func TestStopHooksGetTheirOwnTime(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	run(t, nil, svc, "start", "--pid-file", pidFile, "--record", rec, "--ignore-stop", "--stop-timeout", "1s").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	r := run(t, nil, svc, "stop", "--pid-file", pidFile, "--stop-timeout", "1s")
	r.expect(t, 102, "stop of a body that overran its stop timeout")
	if !strings.Contains(r.stderr, "not cleanly") || !strings.Contains(r.stderr, "body did not return within the stop timeout 1s") {
		t.Errorf("stop stderr: %s", r.stderr)
	}
	got := readFile(t, rec)
	i2, i1 := strings.Index(got, "stop-2 "+strconv.Itoa(pid)), strings.Index(got, "stop-1 "+strconv.Itoa(pid))
	if i2 < 0 || i1 < 0 || i2 > i1 {
		t.Errorf("stop hooks after an overrunning body: %q; want stop-2 then stop-1", got)
	}
	if b, _ := os.ReadFile(pidFile); len(b) != 0 {
		t.Errorf("pid file after stop: %q", b)
	}
}

// TestForegroundStartupErrorsReachTheTerminal: with --log-file, `run`
// still reports "already running" on the terminal (the log takes over only
// once the daemon is past its lock and PreDetach hooks).
func TestForegroundStartupErrorsReachTheTerminal(t *testing.T) {
	hello := binary(t, "./examples/hello")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hello.pid")
	run(t, nil, hello, "start", "--pid-file", pidFile).expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	r := run(t, nil, hello, "run", "--pid-file", pidFile, "--log-file", filepath.Join(dir, "fg.log"))
	r.expect(t, 100, "run while running")
	if !strings.Contains(r.stderr, "already running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("run while running said %q on the terminal", r.stderr)
	}
	run(t, nil, hello, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}

// TestStartCommandKeepsStderr: a start command that leaves a process
// behind with its standard error open (a daemon that did not redirect it)
// writes to daemonctl's own standard error, as with ucw-daemon-control, not
// into a pipe that nobody reads once daemonctl has exited (which would kill
// it with SIGPIPE on its next message).
func TestStartCommandKeepsStderr(t *testing.T) {
	ctl := binary(t, "./cmd/daemonctl")
	hello := binary(t, "./examples/hello")
	dir := t.TempDir()
	pidFile, childFile, errFile := filepath.Join(dir, "h.pid"), filepath.Join(dir, "child"), filepath.Join(dir, "stderr")
	script := hello + ` start --pid-file "$1" && { sh -c 'while [ ! -e "$0.go" ]; do sleep 0.01; done; echo late >&2; exec sleep 1000' "$2" & echo $! > "$2"; }`
	errf, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(ctl, "start", "--pid-file", pidFile, "--", "sh", "-c", script, "sh", pidFile, childFile)
	cmd.Stdout, cmd.Stderr = errf, errf // files: nothing here waits for the child to close them
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := proctest.Wait(t, cmd, time.Minute); err != nil {
		t.Fatalf("daemonctl start: %v\n%s", err, readFile(t, errFile))
	}
	daemonPID(t, pidFile)
	child, _ := strconv.Atoi(readFile(t, childFile))
	proctest.Cleanup(t, child)
	os.WriteFile(childFile+".go", nil, 0o644) // daemonctl has exited: now write
	waitFileContains(t, errFile, "late")
	proctest.WaitFor(t, 5*time.Second, "the writer to exec sleep", func() bool {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/comm")
		return string(comm) == "sleep\n"
	})
	if !proctest.Alive(child) {
		t.Fatal("the process that wrote to its inherited stderr after daemonctl exited died")
	}
	run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}
