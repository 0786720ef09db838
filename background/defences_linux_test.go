//go:build linux

package background

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// An --output path that is a FIFO is refused at once, with or without a
// reader (without one, a blocking open would never return): nothing is
// started and the PID file is left unlocked and not running.
func TestLaunchOutputFIFORefused(t *testing.T) {
	for _, reader := range []bool{false, true} {
		dir := t.TempDir()
		fifo, pidFile, started := filepath.Join(dir, "out"), filepath.Join(dir, "d.pid"), filepath.Join(dir, "started")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		if reader {
			fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
		}
		done := make(chan error, 1)
		go func() {
			_, err := launchT(t, Options{PIDFile: pidFile, Command: fake, Output: fifo, Args: []string{"-pidout", started}})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			// Unblock the open so that the goroutine ends, then fail.
			if fd, oerr := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); oerr == nil {
				defer unix.Close(fd)
			}
			<-done
			t.Fatalf("reader=%v: Launch blocked on the FIFO", reader)
		}
		if !errors.Is(err, lockfile.ErrNotRegular) || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("reader=%v: err %v, want ErrNotRegular naming %s as a FIFO", reader, err, fifo)
		}
		if _, err := os.Stat(started); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("reader=%v: the command was started (%v)", reader, err)
		}
		if info := inspect(t, pidFile); info.State != lockfile.NotRunning {
			t.Errorf("reader=%v: PID file %v %q, want not running", reader, info.State, info.Content)
		}
	}
}

// Devices and directories are refused as output too.
func TestLaunchOutputNotRegular(t *testing.T) {
	for _, out := range []string{os.DevNull, t.TempDir()} {
		pidFile := filepath.Join(t.TempDir(), "d.pid")
		_, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}, Output: out})
		if !errors.Is(err, lockfile.ErrNotRegular) {
			t.Errorf("output %s: err %v, want ErrNotRegular", out, err)
		}
	}
}

// The output descriptor the command gets is blocking again.
func TestLaunchOutputBlocking(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	pid, err := launchT(t, Options{PIDFile: filepath.Join(dir, "d.pid"), Command: "sleep", Args: []string{"1000"}, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/1")
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			f, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			flags = int(f)
		}
	}
	if flags&unix.O_NONBLOCK != 0 || flags&unix.O_APPEND == 0 {
		t.Errorf("stdout flags %#o: want O_APPEND without O_NONBLOCK", flags)
	}
}

// Exec readiness: a program that exits at once is reported with its exit
// status, every time, and leaves the PID file not running.
func TestLaunchExecExitsAtOnce(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		args []string
		code int
	}{{"false", nil, 1}, {"sh", []string{"-c", "exit 3"}, 3}} {
		for i := range 20 {
			pidFile := filepath.Join(t.TempDir(), "d.pid")
			pid, err := launchT(t, Options{PIDFile: pidFile, Command: c.cmd, Args: c.args})
			var e *Error
			if !errors.Is(err, ErrExited) || !errors.As(err, &e) || e.ProcessState == nil || e.ProcessState.ExitCode() != c.code {
				t.Fatalf("%s %q run %d: pid %d, err %v; want ErrExited with exit status %d", c.cmd, c.args, i, pid, err, c.code)
			}
			notRunning(t, pidFile, err)
		}
	}
}

// A program that exits with status 0 at once (it forked into the
// background itself) gets a hint.
func TestLaunchExecExitsZeroHint(t *testing.T) {
	_, err := launchT(t, Options{Command: "true"})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "not daemonized again") {
		t.Fatalf("err %v, want ErrExited with a hint", err)
	}
}

// A program that never waits for anything counts as started once it has
// used some CPU time.
func TestLaunchExecBusy(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	pid, err := launchT(t, Options{PIDFile: pidFile, Command: "sh", Args: []string{"-c", "while :; do :; done"}, ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if info := inspect(t, pidFile); info.State != lockfile.Running || info.PID != pid {
		t.Errorf("PID file %v %d, want running %d", info.State, info.PID, pid)
	}
}

// Exec readiness honours the context while the program neither exits nor
// settles (here: stopped in disk wait is not possible to fake, so a
// context that is already done).
func TestLaunchExecContextDone(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Launch(ctx, Options{PIDFile: pidFile, Command: "sh", Args: []string{"-c", "while :; do :; done"}})
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want ErrNotReady wrapping context.Canceled", err)
	}
	notRunning(t, pidFile, err)
}

// checkAlive: a command that has exited (unreaped) or a MAINPID that is
// gone is never reported as started.
func TestCheckAlive(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	pf, err := pidlock.Acquire(filepath.Join(t.TempDir(), "true.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	p, err := launch.Start(launch.Spec{Path: truePath, Args: []string{"true"}, Dir: "/", Umask: 0o22, PIDFile: pf})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	l := &job{p: p, pidfd: p.Pidfd()}
	proctest.WaitFor(t, 10*time.Second, "true to exit", func() bool { return l.exitedWithin(10 * time.Millisecond) })
	if err := l.checkAlive(pid); !errors.Is(err, ErrExited) {
		t.Errorf("exited command: %v, want ErrExited", err)
	}
	if err := l.checkAlive(pid + 1<<21); !errors.Is(err, ErrExited) { // beyond any pid_max: no such process
		t.Errorf("missing MAINPID: %v, want ErrExited", err)
	}
	p.Fail("true", nil) // reaps it
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, sleeper.Process.Pid)
	if err := l.checkAlive(sleeper.Process.Pid); err != nil {
		t.Errorf("live MAINPID: %v", err)
	}
}

// A flood of datagrams from one foreign sender is logged once.
func TestLaunchNotifyForeignFloodLoggedOnce(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	var log proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock, done := launchNeverReady(t, ctx, Options{PIDFile: pidFile, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for range 1000 {
		if _, err := c.Write([]byte("STATUS=flood")); err != nil {
			t.Fatal(err)
		}
	}
	// A unix datagram stays charged to its sender's socket until the
	// receiver has read it: SIOCOUTQ 0 means the launcher read them all.
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 30*time.Second, "the launcher to read the flood", func() bool {
		n := -1
		raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
		return n == 0
	})
	c.Close()
	cancel()
	err = <-done
	notRunning(t, pidFile, err)
	if n := strings.Count(log.String(), "outside the daemon's tree"); n != 1 {
		t.Errorf("%d warnings for one foreign sender, want 1:\n%s", n, log.String())
	}
}

// A bounded number of foreign senders is remembered.
func TestNotifyWarnedBounded(t *testing.T) {
	ns := &notifySocket{warned: map[int]bool{}}
	firsts, lasts := 0, 0
	for sender := 100; sender < 100+3*maxWarnedSenders; sender++ {
		for range 3 {
			f, l := ns.firstFrom(sender)
			if f {
				firsts++
			}
			if l {
				lasts++
			}
		}
	}
	if firsts != maxWarnedSenders+1 || lasts != 1 || len(ns.warned) != maxWarnedSenders {
		t.Errorf("firsts %d lasts %d remembered %d; want %d, 1, %d", firsts, lasts, len(ns.warned), maxWarnedSenders+1, maxWarnedSenders)
	}
}

// A controller killed with SIGKILL during a --notify wait leaves nothing
// behind: no socket file (the notify socket is abstract), and its watcher
// kills the command, which keeps the PID file's descriptor, and empties the
// PID file, which is then not running.
func TestLaunchControllerKilled(t *testing.T) {
	bin := t.TempDir()
	daemonctl, err := proctest.Build(bin, "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{"--notify"}, {"--ready-fd", "4"}} {
		dir, tmp := t.TempDir(), t.TempDir()
		pidFile, fakePID := filepath.Join(dir, "d.pid"), filepath.Join(dir, "fake.txt")
		args := append(append([]string{"start", "-p", pidFile, "--background"}, mode...), "--", fake, "-pidout", fakePID, "-never-ready")
		ctl := exec.Command(daemonctl, args...)
		ctl.Env = append(os.Environ(), "TMPDIR="+tmp)
		if err := ctl.Start(); err != nil {
			t.Fatal(err)
		}
		proctest.Cleanup(t, ctl.Process.Pid)
		var pid int
		proctest.WaitFor(t, 20*time.Second, "the command to start", func() bool {
			b, _ := os.ReadFile(fakePID)
			pid, _ = lockfile.ParsePID(b, 0)
			return pid != 0
		})
		proctest.Cleanup(t, pid)
		waitWatching(t, pidFile)
		ctl.Process.Signal(syscall.SIGKILL)
		ctl.Wait()
		if m, _ := filepath.Glob(filepath.Join(tmp, "daemonctl-notify-*")); len(m) > 0 {
			t.Errorf("%v: left behind: %v", mode, m)
		}
		if !proctest.Eventually(20*time.Second, func() bool { return !proctest.Alive(pid) }) {
			t.Errorf("%v: command %d still alive after its controller was killed", mode, pid)
		}
		var info lockfile.Info
		if !proctest.Eventually(20*time.Second, func() bool {
			info = inspect(t, pidFile)
			return info.State == lockfile.NotRunning
		}) {
			t.Errorf("%v: PID file %v %q, want not running", mode, info.State, info.Content)
		}
	}
}

// TestLaunchControllerKilledHolderLeft: the controller dies before ready,
// and a descendant that left the command's process group keeps the PID
// file's lock. The watcher must not empty the file under that holder (an
// empty locked file reads "stopping", which nothing ends); it leaves
// "(starting)", and a stop ends the holder.
func TestLaunchControllerKilledHolderLeft(t *testing.T) {
	bin := t.TempDir()
	daemonctl, err := proctest.Build(bin, "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile, gcFile := filepath.Join(dir, "d.pid"), filepath.Join(dir, "gc.txt")
	ctl := exec.Command(daemonctl, "start", "-p", pidFile, "--background", "--notify", "--timeout", "60s", "--",
		"sh", "-c", `setsid sleep 1000 & echo $! > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 1000`, gcFile)
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, ctl.Process.Pid)
	var gc int
	proctest.WaitFor(t, 20*time.Second, "the setsid'd grandchild", func() bool {
		b, _ := os.ReadFile(gcFile)
		gc, _ = lockfile.ParsePID(b, 0)
		return gc != 0
	})
	proctest.Cleanup(t, gc)
	waitWatching(t, pidFile)
	ctl.Process.Signal(syscall.SIGKILL)
	ctl.Wait()
	// Once the watcher is done, the grandchild is the only lock holder.
	info := inspect(t, pidFile)
	proctest.WaitFor(t, 20*time.Second, "the grandchild to be the only lock holder", func() bool {
		hs, err := procfs.LockHolders(info.Dev, info.Ino)
		return err == nil && len(hs) == 1 && hs[0].PID == gc
	})
	if info = inspect(t, pidFile); info.State != lockfile.Starting {
		t.Fatalf("PID file %v %q after the controller died; want starting (locked by pid %d)", info.State, info.Content, gc)
	}
	out, err := exec.Command(daemonctl, "stop", "-p", pidFile, "--timeout", "20s").CombinedOutput()
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if !proctest.Eventually(20*time.Second, func() bool { return !proctest.Alive(gc) }) {
		t.Errorf("the lock holder %d is alive after stop", gc)
	}
	if info = inspect(t, pidFile); info.State != lockfile.NotRunning {
		t.Errorf("after stop: %v %q, want not running", info.State, info.Content)
	}
}

// waitWatching waits until the watcher of the start of pidFile runs (it
// holds the PID file's lock through the start's descriptor). A controller
// killed before that, in the moment between starting the command and
// starting the watcher, leaves the command running with "(starting)"
// locked; stop ends it (docs/security.md, What remains).
func waitWatching(t *testing.T, pidFile string) {
	t.Helper()
	proctest.WaitFor(t, 20*time.Second, "the watcher to run", func() bool {
		info := inspect(t, pidFile)
		hs, err := procfs.LockHolders(info.Dev, info.Ino)
		if err != nil {
			return false
		}
		for _, h := range hs {
			if args, _ := procfs.CommandLine(h.PID); len(args) > 0 && args[0] == "daemonkit-background-watch" {
				return true
			}
		}
		return false
	})
}
