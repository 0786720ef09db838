//go:build linux

package control_test

import (
	"errors"
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

// lockedBy makes a child process (the test daemon as a mere holder) hold
// the PID file's exclusive lock with content, as the process left over from
// a daemon that exited would, and returns its pid.
func lockedBy(f *fixture, content string) int {
	f.t.Helper()
	lf, err := pidlock.Acquire(f.pidFile)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := lf.File().WriteAt([]byte(content), 0); err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "-holder")
	cmd.ExtraFiles = []*os.File{lf.File()}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	pid := cmd.Process.Pid
	f.t.Cleanup(func() { proctest.Kill(pid) })
	lf.Close()
	return pid
}

// reader starts a process that merely has path open read-only, as `tail
// -f` or a monitoring agent would, and returns its pid.
func reader(t *testing.T, path string) int {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(daemonBin(t), "-holder")
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { proctest.Kill(pid) })
	return pid
}

// TestReaderIsNeverSignalled: a locked PID file naming a process that only
// has the file open (not the one holding its lock) gets no signal from
// Stop or Signal: both fail naming the real lock holder, with pidfds and
// with kill(2), and Check does not call the daemon running.
func TestReaderIsNeverSignalled(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run("kill-fallback="+strconv.FormatBool(fallback), func(t *testing.T) {
			f := newFixture(t)
			holder := lockedBy(f, "")
			innocent := reader(t, f.pidFile)
			// The file names the innocent reader (a reused pid).
			if err := os.WriteFile(f.pidFile, []byte(strconv.Itoa(innocent)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			o := f.opts()
			if fallback {
				o = control.WithoutPidfd(o)
			}
			for name, act := range map[string]func() (control.Result, error){
				"Stop":   func() (control.Result, error) { return control.Stop(ctxFor(t, long), o) },
				"Signal": func() (control.Result, error) { return control.Signal(ctxFor(t, long), o) },
				"Check":  func() (control.Result, error) { return control.Check(ctxFor(t, long), o) },
			} {
				res, err := act()
				want(t, name, res, err, control.StatusFailed)
				if !errors.Is(err, control.ErrNotHolder) || !strings.Contains(err.Error(), "locked by pid "+strconv.Itoa(holder)) {
					t.Errorf("%s error %v: want ErrNotHolder naming the lock holder %d", name, err, holder)
				}
				if name == "Check" && (res.After.State != lockfile.Invalid || res.After.PID != 0) {
					t.Errorf("Check says %v pid %d, want invalid", res.After.State, res.After.PID)
				}
			}
			if !proctest.Alive(innocent) || !proctest.Alive(holder) {
				t.Fatalf("signalled: reader alive %v, holder alive %v", proctest.Alive(innocent), proctest.Alive(holder))
			}
		})
	}
}

// TestCheckNamedPIDGone: a locked PID file whose named pid is dead is not
// reported as running: 102, naming the pid and the lock holder.
func TestCheckNamedPIDGone(t *testing.T) {
	f := newFixture(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	holder := lockedBy(f, strconv.Itoa(dead)+"\n")
	res, err := control.Check(ctxFor(t, long), f.opts())
	want(t, "Check", res, err, control.StatusFailed)
	if !errors.Is(err, control.ErrNotHolder) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(dead)+", which is gone") ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(holder)) {
		t.Errorf("Check error %v: want the dead pid %d and the holder %d named", err, dead, holder)
	}
	res, err = control.Signal(ctxFor(t, long), f.opts())
	want(t, "Signal", res, err, control.StatusFailed)
	if !proctest.Alive(holder) {
		t.Fatal("the lock holder was signalled")
	}
}

// TestUnlockedLiveProcess: an unlocked PID file naming a live process (as
// start-stop-daemon writes one) is stale for Check (103) without calling
// the process dead; Stop, Signal, Start and Restart refuse it (102); the
// process gets no signal and the file is left as it is.
func TestUnlockedLiveProcess(t *testing.T) {
	f := newFixture(t)
	live := canary(t)
	content := strconv.Itoa(live) + "\n"
	if err := os.WriteFile(f.pidFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := control.Check(ctxFor(t, long), f.opts())
	if res.Status != control.StatusStale || !errors.Is(err, control.ErrUnlockedLive) || strings.Contains(err.Error(), "gone") ||
		!strings.Contains(err.Error(), "names pid "+strconv.Itoa(live)+" (testdaemon") || !res.After.NamesLive {
		t.Fatalf("Check = %v, %v; want stale naming the live pid %d", res.Status, err, live)
	}
	for name, act := range map[string]func() (control.Result, error){
		"Stop":    func() (control.Result, error) { return control.Stop(ctxFor(t, long), f.opts()) },
		"Signal":  func() (control.Result, error) { return control.Signal(ctxFor(t, long), f.opts()) },
		"Start":   func() (control.Result, error) { return control.Start(ctxFor(t, long), f.opts(), f.cmd()) },
		"Restart": func() (control.Result, error) { return control.Restart(ctxFor(t, long), f.opts(), f.cmd()) },
	} {
		res, err := act()
		want(t, name, res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrUnlockedLive) {
			t.Errorf("%s error %v: want ErrUnlockedLive", name, err)
		}
	}
	if f.content() != content || !proctest.Alive(live) {
		t.Fatalf("content %q (was %q), process alive %v", f.content(), content, proctest.Alive(live))
	}
}

// TestNotAPIDFile: a copy of /etc/passwd or 1 KiB of text named as the PID
// file is never truncated, overwritten or removed by any action: Check,
// Stop, Signal, Start and Restart fail with "is not a PID file" and the
// file keeps its bytes and mtime.
func TestNotAPIDFile(t *testing.T) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"passwd": passwd, "1KiB": []byte(strings.Repeat("a line of text.\n", 64))} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if err := os.WriteFile(f.pidFile, content, 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			os.Chtimes(f.pidFile, old, old)
			for act, run := range map[string]func() (control.Result, error){
				"Check":   func() (control.Result, error) { return control.Check(ctxFor(t, long), f.opts()) },
				"Stop":    func() (control.Result, error) { return control.Stop(ctxFor(t, long), f.opts()) },
				"Signal":  func() (control.Result, error) { return control.Signal(ctxFor(t, long), f.opts()) },
				"Start":   func() (control.Result, error) { return control.Start(ctxFor(t, long), f.opts(), f.cmd()) },
				"Restart": func() (control.Result, error) { return control.Restart(ctxFor(t, long), f.opts(), f.cmd()) },
			} {
				res, err := run()
				want(t, act, res, err, control.StatusFailed)
				if !errors.Is(err, lockfile.ErrNotPIDFile) || !strings.Contains(err.Error(), f.pidFile+" is not a PID file (it holds ") {
					t.Errorf("%s error %v: want ErrNotPIDFile", act, err)
				}
			}
			b, err := os.ReadFile(f.pidFile)
			st, serr := os.Stat(f.pidFile)
			if err != nil || serr != nil || string(b) != string(content) || !st.ModTime().Equal(old) {
				t.Fatalf("file changed: %d bytes (was %d), mtime %v (was %v)", len(b), len(content), st.ModTime(), old)
			}
		})
	}
}

// TestWorldWritable: a world-writable PID file does not stop the actions:
// the process it names is signalled only once /proc shows that it holds
// the lock, so Check reports the daemon and Stop stops it, each with a
// warning; a world-writable file naming a process that does not hold the
// lock gets no signal.
func TestWorldWritable(t *testing.T) {
	t.Run("daemon", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		if err := os.Chmod(f.pidFile, 0o666); err != nil {
			t.Fatal(err)
		}
		warned := f.hooks.on("world-writable")
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusOK)
		select {
		case <-warned:
		default:
			t.Error("Check gave no warning about the world-writable pid file")
		}
		res, err = control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusOK)
		if proctest.Alive(pid) {
			t.Error("daemon still alive")
		}
		res, err = control.Start(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Start", res, err, control.StatusOK)
		proctest.Cleanup(t, res.After.PID)
	})
	t.Run("not-holder", func(t *testing.T) {
		f := newFixture(t)
		can := canary(t)
		holder := lockedBy(f, strconv.Itoa(can)+"\n")
		if err := os.Chmod(f.pidFile, 0o666); err != nil {
			t.Fatal(err)
		}
		res, err := control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrNotHolder) {
			t.Errorf("Stop error %v: want ErrNotHolder", err)
		}
		if !proctest.Alive(can) || !proctest.Alive(holder) {
			t.Fatal("a process was signalled")
		}
	})
}

// TestGuardHolderNamed: an action that times out waiting for the guard
// file names the process that holds it, and says whether it looks like a
// controller (a test daemon that inherited the guard does not).
func TestGuardHolderNamed(t *testing.T) {
	f := newFixture(t)
	guard := lockfile.GuardPath(f.pidFile)
	g, err := pidlock.AcquireGuard(ctxFor(t, long), guard)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "-holder")
	cmd.ExtraFiles = []*os.File{g.File()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	holder := cmd.Process.Pid
	t.Cleanup(func() { proctest.Kill(holder) })
	g.Close()
	if st, err := os.Stat(guard); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("guard file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	res, err := control.Stop(ctxFor(t, 300*time.Millisecond), f.opts())
	want(t, "Stop", res, err, control.StatusFailed)
	if !errors.Is(err, control.ErrTimeout) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(holder)+" (testdaemon") ||
		!strings.Contains(err.Error(), "not a controller") {
		t.Errorf("error %v: want the guard holder %d named as not a controller", err, holder)
	}
}
