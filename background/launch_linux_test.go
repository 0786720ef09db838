//go:build linux

package background

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// fake is the path of the fakedaemon binary built in TestMain.
var fake string

func TestMain(m *testing.M) {
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := os.MkdirTemp("", "background-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(root, "bin")
	os.Mkdir(bin, 0o755)
	fake, err = proctest.Build(bin, "./integration_test/testdata/fakes/fakedaemon")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(root)
		os.Exit(1)
	}
	// goleak.VerifyTestMain would os.Exit before the RemoveAll.
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(root)
	os.Exit(code)
}

// launchT runs Launch and registers the started process for killing.
func launchT(t *testing.T, o Options) (int, error) {
	t.Helper()
	if o.PIDFile == "" {
		o.PIDFile = filepath.Join(t.TempDir(), "d.pid")
	}
	pid, err := Launch(context.Background(), o)
	if pid != 0 {
		proctest.Cleanup(t, pid)
	}
	return pid, err
}

func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

func inspect(t *testing.T, path string) lockfile.Info {
	t.Helper()
	info, err := lockfile.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestLaunchSleep(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	info := inspect(t, pidFile)
	if info.State != lockfile.Running || info.PID != pid {
		t.Fatalf("PID file: state %v pid %d, want running pid %d", info.State, info.PID, pid)
	}
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("session of %d is %d, want its own", pid, sid)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != "/" {
		t.Errorf("cwd %q, want /", cwd)
	}
	if got := procStatus(t, pid, "Umask"); got != "0022" {
		t.Errorf("umask %s, want 0022", got)
	}
	// fds: 0-2 and the PID file as 3, nothing else. "Exec succeeded" is
	// before the dynamic loader has closed the libraries it opened, so
	// give it a moment to settle.
	var fds []string
	proctest.Eventually(5*time.Second, func() bool {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		fds = fds[:0]
		for _, e := range ents {
			fds = append(fds, e.Name())
		}
		return strings.Join(fds, ",") == "0,1,2,3"
	})
	if strings.Join(fds, ",") != "0,1,2,3" {
		t.Errorf("open fds %v, want 0,1,2,3", fds)
	}
	if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid)); target != pidFile {
		t.Errorf("fd 3 is %q, want the PID file %q", target, pidFile)
	}
	if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid)); target != os.DevNull {
		t.Errorf("stdin is %q, want /dev/null", target)
	}

	// The lock lives exactly as long as the process: kill it and the
	// PID file is stale.
	proctest.Kill(pid)
	if info := inspect(t, pidFile); info.State != lockfile.Stale {
		t.Errorf("after SIGKILL: state %v, want stale", info.State)
	}
}

func TestLaunchLocked(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	pid2, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Args: []string{"-marker", filepath.Join(t.TempDir(), "m")}})
	var le *lockfile.LockedError
	if !errors.As(err, &le) || !errors.Is(err, lockfile.ErrLocked) || le.PID != pid || pid2 != 0 {
		t.Fatalf("second launch: pid %d, err %v; want a LockedError naming pid %d", pid2, err, pid)
	}
	if info := inspect(t, pidFile); info.State != lockfile.Running || info.PID != pid {
		t.Errorf("PID file changed: %v %d", info.State, info.PID)
	}
}

// notRunning checks that the PID file is unlocked and empty and pid is gone.
func notRunning(t *testing.T, pidFile string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *Error", err, err)
	}
	if proctest.Alive(e.PID) {
		t.Errorf("pid %d still alive after a failed launch", e.PID)
	}
	if info := inspect(t, pidFile); info.State != lockfile.NotRunning {
		t.Errorf("PID file state %v (%q), want not-running", info.State, info.Content)
	}
}

func TestLaunchExitBeforeReady(t *testing.T) {
	dir := t.TempDir()
	pidFile, out := filepath.Join(dir, "d.pid"), filepath.Join(dir, "out.log")
	os.WriteFile(out, []byte("from an earlier run\n"), 0o640)
	lines := make([]string, 15)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d", i)
	}
	_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Output: out, Readiness: ReadyNotify,
		Args: []string{"-say", strings.Join(lines, "|"), "-exit", "3"}})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err %v, want ErrExited", err)
	}
	notRunning(t, pidFile, err)
	var e *Error
	errors.As(err, &e)
	if e.ProcessState == nil || e.ProcessState.ExitCode() != 3 {
		t.Errorf("process state %v, want exit status 3", e.ProcessState)
	}
	if strings.Join(e.Output, "|") != strings.Join(lines[5:], "|") {
		t.Errorf("output tail %q, want the last 10 lines of this run", e.Output)
	}
	if msg := err.Error(); !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "line 14") {
		t.Errorf("message %q lacks the exit status or the output", msg)
	}
}

func TestLaunchNotify(t *testing.T) {
	dir := t.TempDir()
	pidFile, marker := filepath.Join(dir, "d.pid"), filepath.Join(dir, "ready")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify,
		Args: []string{"-delay", "300ms", "-status", "warming up", "-marker", marker, "-notify"}})
	if err != nil {
		t.Fatal(err)
	}
	// The marker is written just before READY=1: Launch returned after it.
	b, err := os.ReadFile(marker)
	if err != nil || string(b) != strconv.Itoa(pid)+"\n" {
		t.Fatalf("marker %q, %v; want the pid %d: Launch returned before READY=1", b, err, pid)
	}
	if info := inspect(t, pidFile); info.State != lockfile.Running || info.PID != pid {
		t.Errorf("PID file: %v %d, want running %d", info.State, info.PID, pid)
	}
}

// MAINPID= naming a child of the command makes that child the daemon.
func TestLaunchNotifyMainPID(t *testing.T) {
	dir := t.TempDir()
	pidFile, fakePID := filepath.Join(dir, "d.pid"), filepath.Join(dir, "fake.txt")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify,
		Args: []string{"-pidout", fakePID, "-notify", "-main-child"}})
	b, _ := os.ReadFile(fakePID)
	parent, _ := lockfile.ParsePID(b, 0)
	if parent != 0 {
		proctest.Cleanup(t, parent)
	}
	if err != nil {
		t.Fatal(err)
	}
	if pid == parent {
		t.Fatalf("Launch returned the command's pid %d, want its MAINPID child", pid)
	}
	if ppid := procStatus(t, pid, "PPid"); ppid != strconv.Itoa(parent) {
		t.Errorf("MAINPID %d has parent %s, want the command %d", pid, ppid, parent)
	}
	if info := inspect(t, pidFile); info.State != lockfile.Running || info.PID != pid {
		t.Errorf("PID file: %v %d, want running %d", info.State, info.PID, pid)
	}
}

func TestLaunchNotifyNeverReady(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify,
		ReadyTimeout: 500 * time.Millisecond, Args: []string{"-never-ready"}})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("err %v, want ErrNotReady", err)
	}
	notRunning(t, pidFile, err)
}

func TestLaunchNotifyExtendTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	// READY=1 comes 4 s after start, the ready timeout is 2 s, but the
	// fake asks for another minute at once.
	_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify,
		ReadyTimeout: 2 * time.Second, Args: []string{"-extend", "1m", "-delay", "4s", "-notify"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLaunchNotifyErrno(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify,
		Args: []string{"-status", "cannot bind", "-notify", "-errno", "98"}})
	if !errors.Is(err, ErrReportedFailure) {
		t.Fatalf("err %v, want ErrReportedFailure", err)
	}
	if !strings.Contains(err.Error(), "cannot bind") || !strings.Contains(err.Error(), "ERRNO=98") {
		t.Errorf("message %q lacks the status or errno", err)
	}
	notRunning(t, pidFile, err)
}

// launchNeverReady runs Launch of a fake that never reports ready with
// --notify and o's other options, and returns the NOTIFY_SOCKET the fake
// got and the channel that receives Launch's error.
func launchNeverReady(t *testing.T, ctx context.Context, o Options) (string, <-chan error) {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "env")
	o.Command, o.Readiness, o.Args = fake, ReadyNotify, []string{"-env-file", envFile, "-never-ready"}
	done := make(chan error, 1)
	go func() {
		_, err := Launch(ctx, o)
		done <- err
	}()
	var sock string
	proctest.WaitFor(t, 10*time.Second, "the fake to write NOTIFY_SOCKET", func() bool {
		b, _ := os.ReadFile(envFile)
		sock = string(b)
		return sock != ""
	})
	return sock, done
}

// A READY=1 from a process outside the daemon's tree (here: the test) is
// ignored, so the daemon that never reports is not ready in time.
func TestLaunchNotifyForeignSenderIgnored(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	sock, done := launchNeverReady(t, context.Background(), Options{PIDFile: pidFile, ReadyTimeout: 2 * time.Second})
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("READY=1"))
	c.Close()
	err = <-done
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("err %v, want ErrNotReady (a foreign READY=1 must not count)", err)
	}
	notRunning(t, pidFile, err)
	if !strings.HasPrefix(sock, "@daemonctl-notify-") {
		t.Errorf("NOTIFY_SOCKET %q, want an abstract socket @daemonctl-notify-*", sock)
	}
	if b, _ := os.ReadFile("/proc/net/unix"); strings.Contains(string(b), sock[1:]) {
		t.Errorf("notify socket %s still bound after Launch returned", sock)
	}
}

func TestLaunchReadyFD(t *testing.T) {
	dir := t.TempDir()
	pidFile, marker := filepath.Join(dir, "d.pid"), filepath.Join(dir, "ready")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyFD, ReadyFD: 5,
		Args: []string{"-delay", "300ms", "-marker", marker, "-ready-fd", "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("Launch returned before the newline on fd 5: %v", err)
	}
	if info := inspect(t, pidFile); info.State != lockfile.Running || info.PID != pid {
		t.Errorf("PID file: %v %d, want running %d", info.State, info.PID, pid)
	}
}

func TestLaunchReadyFDClosed(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyFD, ReadyFD: 4,
		Args: []string{"-ready-fd", "4", "-close-fd"}})
	if !errors.Is(err, ErrReportedFailure) {
		t.Fatalf("err %v, want ErrReportedFailure", err)
	}
	notRunning(t, pidFile, err)
}

func TestLaunchContextCancelled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Launch(ctx, Options{PIDFile: pidFile, Command: fake, Readiness: ReadyNotify, Args: []string{"-never-ready"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	notRunning(t, pidFile, err)
}

func TestLaunchEnvDirUmaskOutput(t *testing.T) {
	dir := t.TempDir()
	pidFile, out := filepath.Join(dir, "d.pid"), filepath.Join(dir, "out.log")
	t.Setenv("NOTIFY_SOCKET", "/nonexistent/inherited")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Dir: dir, Umask: 0o077, UmaskSet: true,
		Output: out, Env: []string{"FOO=bar", "HOME=/x"}, Args: []string{"-say", "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != dir {
		t.Errorf("cwd %q, want %q", cwd, dir)
	}
	if got := procStatus(t, pid, "Umask"); got != "0077" {
		t.Errorf("umask %s, want 0077", got)
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	vars := strings.Split(string(env), "\x00")
	has := func(kv string) bool {
		for _, v := range vars {
			if v == kv {
				return true
			}
		}
		return false
	}
	if !has("FOO=bar") || !has("HOME=/x") {
		t.Errorf("environment lacks FOO=bar, HOME=/x: %q", vars)
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "NOTIFY_SOCKET=") {
			t.Errorf("inherited %s was passed on", v)
		}
	}
	proctest.WaitFor(t, 10*time.Second, "output in "+out, func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "hello\n"
	})
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("output file mode %v, %v; want 0640", st.Mode(), err)
	}
}

func TestLaunchOutputSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	os.Symlink(filepath.Join(dir, "target"), out)
	pidFile := filepath.Join(dir, "d.pid")
	_, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}, Output: out})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("err %v, want a refusal to follow the symlink", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("symlink target was created")
	}
	if info := inspect(t, pidFile); info.State != lockfile.NotRunning {
		t.Errorf("PID file state %v, want not-running", info.State)
	}
}

func TestLaunchUserNobody(t *testing.T) {
	proctest.RequireRoot(t)
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: fake, User: "nobody", Readiness: ReadyNotify,
		Args: []string{"-notify"}})
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"Uid": "65534 65534 65534 65534", "Gid": "65534 65534 65534 65534", "Groups": "65534",
	} {
		if got := procStatus(t, pid, field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !strings.Contains("\x00"+string(env), "\x00USER=nobody\x00") {
		t.Errorf("USER=nobody not in the environment")
	}
}

func TestLaunchGroupByNumber(t *testing.T) {
	proctest.RequireRoot(t)
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}, User: "65534", Group: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := procStatus(t, pid, "Gid"); got != "0 0 0 0" {
		t.Errorf("Gid %q, want 0 0 0 0", got)
	}
	if got := procStatus(t, pid, "Groups"); got != "0" {
		t.Errorf("Groups %q, want 0 alone (nobody is in no other group)", got)
	}
	if got := procStatus(t, pid, "Uid"); got != "65534 65534 65534 65534" {
		t.Errorf("Uid %q, want 65534 x4", got)
	}
}

func TestLaunchBadOptions(t *testing.T) {
	dir := t.TempDir()
	for name, o := range map[string]Options{
		"no pid file":  {Command: "sleep"},
		"no command":   {PIDFile: filepath.Join(dir, "a.pid")},
		"ready fd 3":   {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", Readiness: ReadyFD, ReadyFD: 3},
		"ready fd 1":   {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", Readiness: ReadyFD, ReadyFD: 1},
		"bad env":      {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", Env: []string{"NOEQUALS"}},
		"bad umask":    {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", Umask: 0o1777, UmaskSet: true},
		"no such cmd":  {PIDFile: filepath.Join(dir, "a.pid"), Command: "no-such-command-xyz"},
		"no such user": {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", User: "no-such-user-xyz"},
		"bad group":    {PIDFile: filepath.Join(dir, "a.pid"), Command: "sleep", Group: "no-such-group-xyz"},
	} {
		t.Run(name, func(t *testing.T) {
			pid, err := Launch(context.Background(), o)
			if err == nil || pid != 0 {
				t.Fatalf("pid %d, err %v; want an error", pid, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bad option still created the PID file")
	}
}

func TestStarterIsLockedError(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	err = Starter{Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}}}.Start(context.Background())
	if !errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("Starter.Start on a running daemon (pid %d): %v, want ErrLocked", pid, err)
	}
}
